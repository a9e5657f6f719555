"""Model files: the VAE weights (`model.pt`, `model-<epoch>.pt`) and full training checkpoints.

Weights files hold the VAE's `state_dict` only, in the original toolkit's format. The
checkpoint (`checkpoint.pt`) holds everything a stopped run needs to continue exactly as if it
had never stopped: model, optimiser and loss state (the FactorVAE discriminator), the step,
epoch and batch reached, the running sums of the unfinished epoch and the states of the
random generators. Every file is written to a temporary name and renamed, so a crash never
leaves a half-written file in place of a good one.
"""
import os
import random

import numpy as np
import torch

from disvae.models.vae import init_specific_model
from disvae.utils.run_folder import (CHECKPOINT_FILE, LOSS_STATE_FILE, MODEL_FILE,
                                     CheckpointError, write_atomically)

# keys every checkpoint has; later ones add window_sums, window_steps and steps_log_bytes
CHECKPOINT_KEYS = ("model", "optimizer", "loss", "step", "epoch", "batch", "epoch_sums",
                   "epoch_steps", "losses_log_bytes", "world_size", "rng")


def atomic_save(obj, path):
    """torch.save to a temporary file beside path, then rename it over path."""
    try:
        write_atomically(path, lambda partial: torch.save(obj, partial))
    except OSError as error:
        raise CheckpointError(f"could not write {path} ({error.strerror or error}): free disk "
                              f"space or choose another results folder; earlier files are "
                              f"intact") from None
    return path


def save_model(model, directory, filename=MODEL_FILE):
    """Save the VAE's weights (moved to the CPU) under directory/filename."""
    return atomic_save(_to_cpu(model.state_dict()), os.path.join(directory, filename))


def save_loss_state(state, directory):
    """Save the trained state of the objective (FactorVAE's discriminator and its optimiser),
    moved to the CPU, beside model.pt so that evaluation scores with it; nothing is written for
    objectives without state. Returns the path or None."""
    if not state:
        return None
    return atomic_save(_to_cpu(state), os.path.join(directory, LOSS_STATE_FILE))


def load_loss_state(directory, device="cpu"):
    """The objective's trained state of a finished run: loss_state.pt, else the loss part of
    its checkpoint.pt (runs saved before loss_state.pt existed); None when neither exists."""
    for filename, part in ((LOSS_STATE_FILE, None), (CHECKPOINT_FILE, "loss")):
        path = os.path.join(directory, filename)
        if os.path.exists(path):
            state = read_torch_file(path, device)
            return state if part is None else state.get(part)
    return None


def _to_cpu(node):
    if isinstance(node, torch.Tensor):
        return node.detach().cpu()
    if isinstance(node, dict):
        return {key: _to_cpu(value) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(_to_cpu(value) for value in node)
    return node


def read_torch_file(path, device="cpu", fix="delete it and use an earlier checkpoint or retrain"):
    """torch.load with weights_only and a one-line error for missing or damaged files."""
    if not os.path.exists(path):
        raise CheckpointError(f"no file {path}: train the run first or check its name")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # torch raises many types for damaged archives
        raise CheckpointError(f"{path} is corrupt or truncated ({type(error).__name__}): "
                              f"{fix}") from None


def load_model(directory, img_size, latent_dim, model_type="Burgess", device="cpu",
               filename=MODEL_FILE):
    """Rebuild the VAE and load its weights strictly; returned in evaluation mode."""
    model = init_specific_model(model_type, tuple(img_size), latent_dim)
    state = read_torch_file(os.path.join(directory, filename), device)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(f"{filename} in {directory} does not fit a {model_type} model with "
                              f"{latent_dim} latents and images {img_size} "
                              f"({str(error).splitlines()[0]}): check specs.json") from None
    return model.to(device).eval()


def save_checkpoint(state, directory):
    """Write a training checkpoint (a dict with CHECKPOINT_KEYS) atomically."""
    return atomic_save(state, os.path.join(directory, CHECKPOINT_FILE))


def load_checkpoint(directory):
    """Read the run's training checkpoint onto the CPU; one-line errors name the fix."""
    path = os.path.join(directory, CHECKPOINT_FILE)
    restart = ("start the run again without --resume (the folder is archived first, so nothing "
               "is lost)")
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint {path} to resume from: {restart}")
    state = read_torch_file(path, "cpu", fix=restart)
    missing = [key for key in CHECKPOINT_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(f"{path} is not a training checkpoint (missing {missing}): {restart}")
    return state


def capture_rng_states():
    """The states of every random generator training draws from (PyTorch CPU and CUDA, NumPy,
    Python), in types that torch.load(weights_only=True) reads back."""
    kind, key, position, has_gauss, cached_gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": (kind, torch.from_numpy(key.astype(np.int64)), position, has_gauss,
                      cached_gauss),
            "python": random.getstate()}


def restore_rng_states(states):
    """Put back generator states from capture_rng_states (CUDA ones only on a GPU machine with
    the same number of GPUs)."""
    torch.set_rng_state(states["torch"].cpu())
    if torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([state.cpu() for state in states["cuda"]])
    kind, key, position, has_gauss, cached_gauss = states["numpy"]
    np.random.set_state((kind, key.numpy().astype(np.uint32), position, has_gauss,
                         cached_gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
