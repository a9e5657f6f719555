"""Training and evaluation throughput against the original toolkit's method and the compute bound.

    .venv/bin/python bench/bench_training.py            # default comparison (~6 min, 2 idle cores)
    .venv/bin/python bench/bench_training.py --rounds 9 --batch-sizes 64 --configs original \\
        original+allocator original+channels-last ours ours+no-channels-last
    bench/gpu_check.sh                                  # the same on a GPU, plus the AMP check

Data: a procedural dSprites subset (`--n-images` distinct random images of the 737,280-image
grid, 65,536 by default, rendered once and shared by every worker), held in memory as uint8.

Configurations, one worker process each (the allocator is a per-process setting), written as
a base and modifiers, e.g. `original+allocator` or `ours+amp`:
- original: the original toolkit's method, re-implemented for timing: a torch DataLoader over
  a per-item Dataset (`__getitem__` turns one uint8 image into a float tensor, as its
  ToTensor transform did), batch size as given, shuffle, num_workers 0 (pin_memory on CUDA);
  one optimiser step per batch followed by the host synchronisations it did for logging
  (`loss.item()` every step for its progress bar, every logged term on every 50th step);
  glibc's default allocator; contiguous (NCHW) memory format; ReLUs that allocate their
  outputs (the model's in-place ReLUs are swapped for torch.relu); torch's per-tensor Adam
  for the model and FactorVAE's discriminator. For FactorVAE its trainer first ran the model
  on the whole batch, then the loss refused that forward pass and took its own step: the
  wasted forward pass is part of the method (+no-factor-prepass drops it).
- ours: the project's training path as main.py runs it: `disvae.training.Trainer` over
  `utils.datasets.iterate_batches` (batches indexed from the uint8 tensor, on the device),
  `utils.performance.tune_allocator`, channels-last model, in-place ReLUs, fused Adam
  (`disvae.utils.optim.adam`).
Modifiers `+x` / `+no-x` switch a setting: allocator, channels-last, inplace-relu,
fused-adam (both bases), amp, compile (ours), factor-prepass (original).
Both use the same model, optimiser (Adam, lr 5e-4, in either implementation) and loss
objects (`disvae.models.losses`); FactorVAE's step takes the batch as its 2B images (half VAE,
half discriminator).

Protocol: per (loss, batch size) cell every worker first runs warm-up steps; then, for each of
`--rounds` rounds, every worker in turn trains one timed window of about `--window-images`
images (order alternating between rounds), so that a change of machine load hits every
configuration alike. A cell's rate is the median over its windows; the line also gives the
slowest and fastest window. Each cell starts fresh worker processes, as each run of the
original trained one loss in its own process: glibc's dynamic mmap threshold rises with the
largest block a process has freed, so an untuned worker that trained FactorVAE (larger
buffers) before would page-fault less in later cells than a real run does.

Compute bound: the median float32 matrix-product rate (2048^3, this process's threads,
measured once per round) times the FLOP of one training step counted by
torch.utils.flop_counter.FlopCounterMode (convolutions and matrix products of forward and
backward), per image. Evaluation: encoding every image of the subset (`--eval-batch`
images per batch), original (DataLoader, encoder per batch) against ours
(`disvae.evaluate.encode_posterior` over `iterate_batches`). Metric: `mig_sampled` on
dSprites-like posteriors (bench/bench_metrics.py) of the subset's grid rows. Rendering: the
subset, and with --render-full the whole grid. --amp-check: the loss terms of one batch with
and without bfloat16 autocast (same weights, same noise: seeded before each) after a few
float32 training steps, relative difference of the total loss at most 1e-2.
"""
import argparse
import contextlib
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from disvae.evaluate import encode_posterior  # noqa: E402
from disvae.models.losses import get_loss_f  # noqa: E402
from disvae.models.vae import init_specific_model  # noqa: E402
from disvae.training import Trainer  # noqa: E402
from disvae.utils.optim import adam  # noqa: E402
from utils import dsprites_procedural  # noqa: E402
from utils.datasets import dsprites_dataset, iterate_batches  # noqa: E402
from utils.performance import speed_up_model, tune_allocator  # noqa: E402

IMG_SIZE = (1, 64, 64)
LATENT_DIM = 10
# the objectives of the original toolkit, whose method is timed beside ours
LOSSES = ("VAE", "betaH", "betaB", "factor", "btcvae")
LR = 5e-4
RECORD_EVERY = 50  # the original stored its logged terms on steps t % 50 == 1
AMP_TOLERANCE = 1e-2
AMP_CHECK_IMAGES = 4096  # images of the AMP check's training steps (the subset's first ones)
MATMUL_SIZE = 2048
BASES = {"original": dict(pipeline="original", allocator=False, channels_last=False,
                         inplace_relu=False, fused_adam=False, factor_prepass=True),
         "ours": dict(pipeline="ours", allocator=True, channels_last=True, inplace_relu=True,
                      fused_adam=True, factor_prepass=False)}
MODIFIERS = ("allocator", "channels-last", "inplace-relu", "fused-adam", "amp", "compile",
             "factor-prepass")


def parse_config(name):
    """Settings of a configuration name: a base, then modifiers `+x` (on) or `+no-x` (off),
    e.g. `ours+amp`, `original+allocator` or `ours+no-channels-last`."""
    base, *changes = name.split("+")
    if base not in BASES:
        raise SystemExit(f"error: unknown configuration {name!r}: start it with one of "
                         f"{sorted(BASES)}")
    settings = dict(BASES[base], amp=False, compile=False)
    for change in changes:
        key = change.removeprefix("no-")
        if key not in MODIFIERS:
            raise SystemExit(f"error: unknown modifier {change!r} in {name!r}: use +x or +no-x "
                             f"with x one of {', '.join(MODIFIERS)}")
        settings[key.replace("-", "_")] = not change.startswith("no-")
    return settings


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


# ------------------------------------------------------------------- the original's method

class PerItemImages(Dataset):
    """The original's dataset access: one image at a time, uint8 {0, 1} scaled to 0/255 and
    converted to a float CHW tensor in [0, 1] like torchvision's ToTensor."""

    def __init__(self, images):
        self.images = images.numpy()[:, 0]

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        pixels = np.expand_dims(self.images[index], axis=-1) * 255
        return torch.from_numpy(pixels).permute(2, 0, 1).contiguous().float().div(255)


class OriginalTraining:
    """Training steps as the original toolkit took them (see the module docstring)."""

    def __init__(self, dataset, model, optimizer, loss_f, batch_size, device, seed, prepass):
        self.model, self.optimizer, self.loss_f = model, optimizer, loss_f
        self.device, self.batch_size, self.step, self.prepass = device, batch_size, 0, prepass
        self.loss_index = loss_f.names.index("loss")
        self.loader = DataLoader(PerItemImages(dataset.images.cpu()), batch_size=batch_size,
                                 shuffle=True, num_workers=0, pin_memory=device.type == "cuda",
                                 generator=torch.Generator().manual_seed(seed))
        self.batches = iter(self.loader)

    def _next_batch(self):
        try:
            return next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            return next(self.batches)

    def window(self, n_steps):
        """Images per second over n_steps steps."""
        self.model.train()
        synchronize(self.device)
        start = time.perf_counter()
        for _ in range(n_steps):
            data = self._next_batch().to(self.device)
            self.step += 1
            if self.prepass:  # the forward its trainer ran before FactorVAE's own step
                self.model(data)
            values = self.loss_f.train_step(self.model, data, self.optimizer, self.step)
            self.bar_loss = values[self.loss_index].item()
            if self.step % RECORD_EVERY == 1:
                self.record = values.tolist()
        synchronize(self.device)
        return n_steps * self.batch_size / (time.perf_counter() - start)

    def encode(self, eval_batch):
        """The original's encoding pass for the metrics: images per second."""
        self.model.eval()
        loader = DataLoader(self.loader.dataset, batch_size=eval_batch, shuffle=False)
        params = torch.zeros(len(loader.dataset), LATENT_DIM, 2, device=self.device)
        synchronize(self.device)
        start = time.perf_counter()
        with torch.no_grad():
            for i, data in enumerate(loader):
                mean, logvar = self.model.encoder(data.to(self.device))
                rows = slice(i * eval_batch, i * eval_batch + len(data))
                params[rows, :, 0], params[rows, :, 1] = mean, logvar
        synchronize(self.device)
        return len(loader.dataset) / (time.perf_counter() - start)


# ------------------------------------------------------------------- the project's method

def stamped(batches, stamps, device):
    """Pass batches through, recording the time of each request (and of the final one): the
    gaps are whole trainer steps, checkpoints and logging at the epoch's end left out."""
    batches = iter(batches)
    synchronize(device)
    while True:
        stamps.append(time.perf_counter())
        try:
            batch = next(batches)
        except StopIteration:
            synchronize(device)
            stamps[-1] = time.perf_counter()
            return
        yield batch


class ProjectTraining:
    """Training steps as main.py takes them: the Trainer over iterate_batches."""

    def __init__(self, dataset, model, optimizer, loss_f, batch_size, device, seed, save_dir):
        self.dataset, self.batch_size, self.device = dataset, batch_size, device
        self.generator = torch.Generator().manual_seed(seed)
        os.makedirs(save_dir, exist_ok=True)
        logger = logging.getLogger("bench_training.trainer")
        logger.setLevel(logging.WARNING)
        self.trainer = Trainer(model, optimizer, loss_f, save_dir, device=device,
                               checkpoint_every=0, is_progress_bar=False, logger=logger)
        self.model = model

    def window(self, n_steps):
        """Images per second over n_steps steps (one trainer epoch of n_steps batches)."""
        order = torch.randperm(len(self.dataset), generator=self.generator)
        order = order[:n_steps * self.batch_size]
        stamps = []
        self.trainer(lambda epoch, start: stamped(
            iterate_batches(self.dataset, self.batch_size, order), stamps, self.device),
            n_steps, self.trainer.epoch + 1)
        return n_steps * self.batch_size / (stamps[-1] - stamps[0])

    def encode(self, eval_batch):
        self.model.eval()
        start = time.perf_counter()
        mean, _ = encode_posterior(self.model, iterate_batches(self.dataset, eval_batch),
                                   self.device, is_progress_bar=False)
        return len(mean) / (time.perf_counter() - start)


# ------------------------------------------------------------------------------- workers

class Worker:
    """One configuration in its own process, answering JSON requests on stdin."""

    def __init__(self, settings, data_path, device, seed=0):
        self.allocator = tune_allocator() if settings["allocator"] else False
        if not settings["inplace_relu"]:  # the original's layers allocate every ReLU output
            torch.relu_ = torch.relu
        self.settings, self.device, self.seed = settings, torch.device(device), seed
        with np.load(data_path) as archive:
            self.dataset = dsprites_dataset({key: archive[key] for key in archive.files},
                                            "procedural")
        if settings["pipeline"] == "ours" and self.device.type == "cuda":
            self.dataset.to(self.device)
        torch.manual_seed(seed)
        self.model = speed_up_model(
            init_specific_model("Burgess", IMG_SIZE, LATENT_DIM).to(self.device),
            channels_last=settings["channels_last"], amp=settings["amp"],
            compile=settings["compile"])
        self.optimizer = self._adam(self.model.parameters(), lr=LR)
        self.cells = {}
        self.save_dir = tempfile.mkdtemp(prefix="bench_training_")

    def _adam(self, parameters, **options):
        """The project's fused Adam, or the per-tensor one the original used."""
        return adam(parameters, **options) if self.settings["fused_adam"] else \
            torch.optim.Adam(parameters, **options)

    def _cell(self, loss_name, batch_size, warmup_steps):
        key = (loss_name, batch_size)
        if key not in self.cells:
            loss_f = get_loss_f(loss_name, LATENT_DIM, n_data=len(self.dataset),
                                device=self.device)
            if loss_name == "factor":  # the discriminator's optimiser, as configured
                options = loss_f.optimizer_d.defaults
                loss_f.optimizer_d = self._adam(loss_f.discriminator.parameters(),
                                                lr=options["lr"], betas=options["betas"])
            common = (self.dataset, self.model, self.optimizer, loss_f, batch_size,
                      self.device, self.seed)
            if self.settings["pipeline"] == "original":
                cell = OriginalTraining(*common, prepass=self.settings["factor_prepass"]
                                        and loss_name == "factor")
            else:
                cell = ProjectTraining(*common, os.path.join(self.save_dir, loss_name,
                                                             str(batch_size)))
            cell.window(warmup_steps)
            self.cells[key] = cell
        return self.cells[key]

    def handle(self, request):
        kind = request["kind"]
        if kind == "hello":
            return {"allocator_tuned": self.allocator, "threads": torch.get_num_threads()}
        if kind == "train":
            cell = self._cell(request["loss"], request["batch"], request["warmup_steps"])
            faults = minor_faults()
            rate = cell.window(request["steps"])
            return {"rate": rate, "faults_per_step": (minor_faults() - faults) / request["steps"]}
        if kind == "encode":
            cell = self._cell("VAE", request["train_batch"], request["warmup_steps"])
            return {"rate": cell.encode(request["eval_batch"])}
        raise ValueError(f"unknown request {kind!r}")


def worker_main(settings_json, data_path, device):
    worker = Worker(json.loads(settings_json), data_path, device)
    for line in sys.stdin:
        request = json.loads(line)
        if request["kind"] == "quit":
            break
        print(json.dumps(worker.handle(request)), flush=True)


class WorkerProcess:
    """The parent's handle on one worker process."""

    def __init__(self, name, data_path, device):
        self.name = name
        command = [sys.executable, __file__, "--worker", json.dumps(parse_config(name)),
                   "--data", str(data_path), "--device", device]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)

    def ask(self, **request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"error: worker {self.name!r} stopped (its error is above)")
        return json.loads(line)

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.write(json.dumps({"kind": "quit"}) + "\n")
            self.process.stdin.close()
            self.process.wait()


# --------------------------------------------------------------------- measurements

def matmul_gflops(device, repeats=5, size=MATMUL_SIZE):
    """Median float32 matrix-product rate of this process's threads, GFLOP/s."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    torch.mm(a, b)
    rates = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize(device)
        rates.append(2 * size ** 3 / (time.perf_counter() - start) / 1e9)
    return statistics.median(rates)


def flop_per_image(loss_name, batch_size, n_data):
    """FLOP of one training step (forward and backward, as FlopCounterMode counts them) per
    image of the batch, on the CPU with the contiguous layout."""
    torch.manual_seed(0)
    model = init_specific_model("Burgess", IMG_SIZE, LATENT_DIM)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_f = get_loss_f(loss_name, LATENT_DIM, n_data=n_data)
    data = (torch.rand(batch_size, *IMG_SIZE) < 0.05).float()
    with FlopCounterMode(display=False) as counter:
        loss_f.train_step(model, data, optimizer, 1)
    return counter.get_total_flops() / batch_size


def subset_classes(n_images, seed=0):
    """n_images distinct random rows of the dSprites grid, in grid order, with their rows."""
    n_grid = int(np.prod(dsprites_procedural.FACTOR_SIZES))
    rows = np.sort(np.random.default_rng(seed).choice(n_grid, min(n_images, n_grid),
                                                      replace=False))
    return np.stack(np.unravel_index(rows, dsprites_procedural.FACTOR_SIZES), axis=1), rows


def metric_seconds(rows, n_samples, device):
    """Seconds of mig_sampled on bench_metrics' dSprites-like posteriors of the given rows."""
    sys.path.insert(0, str(REPO / "bench"))
    from bench_metrics import FACTOR_NAMES, dsprites_like_posteriors
    from disvae.metrics import mig_sampled
    mean, logvar, factors = dsprites_like_posteriors()
    start = time.perf_counter()
    mig_sampled(mean[rows], logvar[rows], factors[rows], n_samples=n_samples, seed=0,
                factor_names=FACTOR_NAMES, device=device)
    return time.perf_counter() - start


def amp_check(loss_name, images, float32_steps, batch_size):
    """(float32 loss, autocast loss) of one batch of `images` (float, on the device) after
    float32_steps training steps."""
    device = images.device
    torch.manual_seed(0)
    model = init_specific_model("Burgess", IMG_SIZE, LATENT_DIM).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_f = get_loss_f(loss_name, LATENT_DIM, n_data=len(images), device=device)
    for step in range(float32_steps):
        batch = images[torch.randperm(len(images), device=device)[:batch_size]]
        loss_f.train_step(model, batch, optimizer, step + 1)
    batch = images[:batch_size]
    index = loss_f.names.index("loss")
    totals = []
    for dtype in (None, torch.bfloat16):
        model.autocast_dtype = dtype
        torch.manual_seed(1)
        with torch.no_grad():
            totals.append(loss_f.terms(model, batch, RECORD_EVERY)[1][index].item())
    return totals


# ---------------------------------------------------------------------------- the run

def machine_line(device):
    model = platform.processor() or platform.machine()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    return (f"machine: {model}, {os.cpu_count()} CPUs{gpu}; torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads; python {platform.python_version()}; "
            f"{' '.join(platform.libc_ver())}")


def spread(values):
    return f"[{min(values):,.0f}-{max(values):,.0f}]"


def run(args):
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but no GPU is visible: use --device cpu")
    print(machine_line(device), flush=True)
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]), flush=True)
    results = {"configs": args.configs, "cells": {}}
    classes, rows = subset_classes(args.n_images)
    start = time.perf_counter()
    arrays = dsprites_procedural.render_dsprites(classes)
    render_s = time.perf_counter() - start
    print(f"data: procedural dSprites, {len(rows):,} of 737,280 images, uint8 in memory "
          f"(rendered in {render_s:.1f} s)", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench_training_"))
    data_path = workdir / "subset.npz"
    np.savez(data_path, **arrays)
    images = torch.from_numpy(arrays.pop("imgs")[:AMP_CHECK_IMAGES]).unsqueeze(1).float()
    del arrays

    hello_printed = False
    bounds = [matmul_gflops(device)]
    flops = {(loss, batch): flop_per_image(loss, batch, len(rows))
             for loss in args.losses for batch in args.batch_sizes}
    print("flop per training image: " + ", ".join(
        f"{loss} {flops[(loss, args.batch_sizes[0])] / 1e6:.1f} M" for loss in args.losses),
        flush=True)
    rates = {(loss, batch, name): [] for loss in args.losses
             for batch in args.batch_sizes for name in args.configs}
    faults = {key: [] for key in rates}
    for batch in args.batch_sizes:
        steps = max(1, round(args.window_images / batch))
        warmup = max(1, round(args.warmup_images / batch))
        for loss in args.losses:
            with started_workers(args.configs, data_path, args.device) as workers:
                if not hello_printed:
                    print_hello(workers)
                    hello_printed = True
                for round_index in range(args.rounds):
                    for w in (workers if round_index % 2 == 0 else workers[::-1]):
                        reply = w.ask(kind="train", loss=loss, batch=batch, steps=steps,
                                      warmup_steps=warmup)
                        rates[(loss, batch, w.name)].append(reply["rate"])
                        faults[(loss, batch, w.name)].append(reply["faults_per_step"])
            bounds.append(matmul_gflops(device))
            report_cell(loss, batch, args.configs, rates, faults, flops,
                        statistics.median(bounds))
    bound = statistics.median(bounds)
    print(f"compute bound: float32 {MATMUL_SIZE}^3 matrix products at {bound:.0f} GFLOP/s "
          f"(median of {len(bounds)} measurements, {spread(bounds)}); "
          f"images/s at the bound = that / FLOP per image", flush=True)
    results["bound_gflops"] = bounds
    if args.eval_rounds:
        encode = {name: [] for name in args.configs}
        with started_workers(args.configs, data_path, args.device) as workers:
            for round_index in range(args.eval_rounds):
                for w in (workers if round_index % 2 == 0 else workers[::-1]):
                    encode[w.name].append(w.ask(kind="encode", eval_batch=args.eval_batch,
                                                train_batch=args.batch_sizes[0],
                                                warmup_steps=1)["rate"])
        medians = {name: statistics.median(values) for name, values in encode.items()}
        first = args.configs[0]
        print(f"encode {len(rows):,} images (batch {args.eval_batch}): " + ", ".join(
            f"{name} {medians[name]:,.0f} images/s {spread(encode[name])}"
            for name in args.configs) + "".join(
            f"; {name}/{first} {medians[name] / medians[first]:.2f}x"
            for name in args.configs[1:]), flush=True)
        results["encode"] = encode
    if args.metric_images:
        metric_rows = rows[:args.metric_images]
        seconds = metric_seconds(metric_rows, args.metric_samples, args.device)
        print(f"metric: mig_sampled on {len(metric_rows):,} images (D = {LATENT_DIM}, "
              f"S = {args.metric_samples:,} samples, {args.device}): {seconds:.1f} s",
              flush=True)
        results["metric_s"] = seconds
    if args.render_full:
        start = time.perf_counter()
        dsprites_procedural.render_dsprites()
        results["render_full_s"] = time.perf_counter() - start
        print(f"render: the full grid of 737,280 images in {results['render_full_s']:.1f} s",
              flush=True)
    if args.amp_check:
        for loss in args.losses:
            plain, autocast = amp_check(loss, images.to(device), args.amp_check_steps,
                                        args.batch_sizes[0])
            difference = abs(autocast - plain) / abs(plain)
            verdict = "ok" if difference <= AMP_TOLERANCE else "FAILED"
            print(f"amp check {loss}: loss {plain:.4f} (float32) vs {autocast:.4f} (bfloat16 "
                  f"autocast), relative difference {difference:.1e} (limit {AMP_TOLERANCE:g}): "
                  f"{verdict}", flush=True)
            results.setdefault("amp_check", {})[loss] = [plain, autocast]
            if verdict != "ok":
                results["amp_failed"] = True
    if args.json:
        results["cells"] = {" ".join(map(str, key)): value for key, value in rates.items()}
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 1 if results.get("amp_failed") else 0


@contextlib.contextmanager
def started_workers(configs, data_path, device):
    """One fresh worker process per configuration, closed on leaving."""
    workers = []
    try:
        for name in configs:
            workers.append(WorkerProcess(name, data_path, device))
        yield workers
    finally:
        for w in workers:
            w.close()


def print_hello(workers):
    hello = {w.name: w.ask(kind="hello") for w in workers}
    print("workers: " + ", ".join(f"{name} (allocator tuned: {h['allocator_tuned']}, "
                                  f"{h['threads']} threads)" for name, h in hello.items()),
          flush=True)


def report_cell(loss, batch, configs, rates, faults, flops, bound_gflops):
    """One line per (loss, batch size): each configuration's median rate, window range,
    share of the compute bound and page faults per step, then ratios to the first one."""
    at_bound = bound_gflops * 1e9 / flops[(loss, batch)]
    medians = {name: statistics.median(rates[(loss, batch, name)]) for name in configs}
    parts = [f"{name} {medians[name]:,.0f} images/s {spread(rates[(loss, batch, name)])} "
             f"({medians[name] / at_bound:.0%} of bound, "
             f"{statistics.median(faults[(loss, batch, name)]):,.0f} faults/step)"
             for name in configs]
    first = configs[0]
    ratios = [f"{name}/{first} {medians[name] / medians[first]:.2f}x" for name in configs[1:]]
    print(f"train {loss} batch {batch}: " + ", ".join(parts) +
          "".join("; " + r for r in ratios), flush=True)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["original", "ours"],
                        help="configurations; the first is the baseline of the ratios")
    parser.add_argument("--losses", nargs="+", choices=list(LOSSES), default=list(LOSSES))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 256])
    parser.add_argument("--rounds", type=int, default=5, help="timed windows per cell and "
                        "configuration")
    parser.add_argument("--window-images", type=int, default=1024,
                        help="images per timed window")
    parser.add_argument("--warmup-images", type=int, default=512,
                        help="images of the warm-up steps before a cell's first window")
    parser.add_argument("--n-images", type=int, default=65536, help="dSprites subset size")
    parser.add_argument("--eval-rounds", type=int, default=2, help="encoding passes per "
                        "configuration (0: none)")
    parser.add_argument("--eval-batch", type=int, default=1000)
    parser.add_argument("--metric-images", type=int, default=65536,
                        help="images of the mig_sampled timing (0: none)")
    parser.add_argument("--metric-samples", type=int, default=10000)
    parser.add_argument("--render-full", action="store_true",
                        help="also time rendering the whole 737,280-image grid (3 GB)")
    parser.add_argument("--amp-check", action="store_true",
                        help="compare each loss with and without bfloat16 autocast")
    parser.add_argument("--amp-check-steps", type=int, default=50,
                        help="float32 training steps before the AMP check")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="also write the raw measurements to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in args.configs:
        parse_config(name)
    return args


def main(argv=None):
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    if args.worker:
        worker_main(args.worker, args.data, args.device)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
