"""Data-parallel training across the processes that torchrun starts.

`torchrun --nproc_per_node=N main.py ...` runs N copies of the program with RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR and MASTER_PORT set. Each process holds a replica of the model and
trains it on its own share of every batch. DistributedDataParallel averages the VAE's
gradients after each backward pass; `synchronise` does the same for any other trained module
(the FactorVAE discriminator), so all replicas take the same steps and stay identical. One
step therefore uses batch_size * world_size images (the effective batch size).

Without torchrun (no WORLD_SIZE, or 1) every function here acts as for a single process.
"""
import contextlib
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def start(device):
    """Join the process group when launched by torchrun; returns this process's device.

    gloo on the CPU; NCCL on GPUs, process LOCAL_RANK using GPU LOCAL_RANK.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def stop(wait=False):
    """Leave the process group (if one was joined); with wait, once every process got here.

    Never wait after an error: the other processes may be stuck elsewhere, and the failing
    one must exit so that torchrun stops them.
    """
    if dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


# what gloo and NCCL say when a collective meets a process that is gone
PEER_FAILURE_SIGNS = ("Connection reset by peer", "Connection closed by peer", "Broken pipe",
                      "Connection refused", "NCCL communicator was aborted")


def is_peer_failure(error):
    """Whether a RuntimeError from a collective means that another process died."""
    return (isinstance(error, getattr(dist, "DistError", ())) or
            any(sign in str(error) for sign in PEER_FAILURE_SIGNS))


@contextlib.contextmanager
def rank_zero_first():
    """Run the body on rank 0 before the other processes (e.g. a download or a dataset
    rendering that caches files: the others then read the cache instead of racing)."""
    if world_size() > 1 and rank() > 0:
        dist.barrier()
    yield
    if world_size() > 1 and rank() == 0:
        dist.barrier()


def world_size():
    return dist.get_world_size() if dist.is_initialized() else 1


def rank():
    return dist.get_rank() if dist.is_initialized() else 0


class DataParallelVAE(DistributedDataParallel):
    """DistributedDataParallel that still offers the VAE's `sample_latent` (used by FactorVAE)."""

    def sample_latent(self, x):
        return self.module.sample_latent(x)


def wrap_model(model, device):
    """The VAE wrapped for data-parallel steps, or the VAE itself in a single process."""
    if world_size() == 1:
        return model
    return DataParallelVAE(model, device_ids=[device.index] if device.type == "cuda" else None)


def synchronise(module):
    """Give every replica rank 0's weights of module and average its gradients after each
    backward pass, as DistributedDataParallel does, for a module with its own optimiser."""
    if world_size() == 1:
        return
    for tensor in module.state_dict().values():
        dist.broadcast(tensor, src=0)
    n_processes = world_size()

    def average(param):
        dist.all_reduce(param.grad)
        param.grad.div_(n_processes)

    for param in module.parameters():
        if param.requires_grad:
            param.register_post_accumulate_grad_hook(average)


def sum_over_processes(tensor):
    """Sum tensor in place over the processes (all receive the sum); returns it."""
    if world_size() > 1:
        dist.all_reduce(tensor)
    return tensor


def gather(tensor):
    """Every process's tensor, stacked in rank order (the same stack on every process)."""
    if world_size() == 1:
        return tensor.unsqueeze(0)
    rows = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(rows, tensor)
    return torch.stack(rows)


def gather_objects(obj):
    """Every process's picklable obj, in rank order."""
    if world_size() == 1:
        return [obj]
    objects = [None] * world_size()
    dist.all_gather_object(objects, obj)
    return objects
