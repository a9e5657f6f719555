"""Monte Carlo entropy of the aggregate posterior, one latent dimension at a time.

Chen et al. 2018 ("Isolating Sources of Disentanglement in VAEs", section 4.1, MIG) need
H(z_j) = -E_{q(z_j)}[log q(z_j)] for the aggregate posterior
q(z_j) = (1/M) sum_m N(z_j; mean_mj, exp(logvar_mj)) of a set of M images. With one sample
z_s ~ q(z|x_s) for S images s of the set,

    H(z_j) ~ -(1/S) sum_s log q(z_sj)
           = (1/S) sum_s [log M - logsumexp_m log N(z_sj; mean_mj, var_mj)].

The cost is S * M * D Gaussian log-densities with an exponential each; all memory is bounded
by O(M * D + S * D) whatever S and M (never an S x M matrix).

Two backends compute the same quantity:
- "c": the fused C kernel of `mixture_kernel` (CPU, 10-15x faster than vectorised torch). Each
  sample's own component gives a lower bound on the sum, which fixes a per-sample shift in
  advance, so a single pass with no running maximum suffices.
- "torch": blocks of log-densities from `disvae.utils.math.log_density_gaussian` and an
  online (running) logsumexp over blocks of components; used on GPU, as the CPU fallback
  where no C compiler exists, and for the rare samples whose shift would not be safe.
"""
import math

import numpy as np
import torch

from disvae.metrics import mixture_kernel
from disvae.utils.math import log_density_gaussian

LOG2E = 1.0 / math.log(2.0)
# Shift above the own component's log2-density: its term stays >= 2^-41 and clamped terms
# (2^-125 each) cannot matter. Samples whose bound U - t_own exceeds SAFE_SPAN_LOG2 could
# overflow with that shift and go to the torch backend instead (see mixture_kernel.c).
OWN_MARGIN_LOG2 = 40
SAFE_SPAN_LOG2 = 160
TORCH_BLOCK_ELEMENTS = {"cpu": 2 ** 22, "cuda": 2 ** 25}  # log-densities per block


def resolve_backend(backend, device):
    """(backend, torch.device) that "auto" means here: the C kernel on CPU when it builds."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if backend == "auto":
        use_c = device.type == "cpu" and mixture_kernel.load_kernel() is not None
        backend = "c" if use_c else "torch"
    if backend not in ("c", "torch"):
        raise ValueError(f"unknown backend {backend!r}: use 'auto', 'c' or 'torch'")
    if backend == "c" and device.type != "cpu":
        raise ValueError("the 'c' backend runs on the CPU: pass device='cpu' or backend='torch'")
    return backend, device


def log_aggregate_posterior_torch(mean, logvar, samples, device=None, block_elements=None):
    """log q(z_sj) = logsumexp_m log N(samples_sj; mean_mj, var_mj) - log M, in torch.

    mean, logvar: (M, D); samples: (S, D). Returns float64 numpy (S, D). Computed in
    float32 on `device` in blocks of at most `block_elements` log-densities (default 2^22
    on CPU = 16 MB per temporary, 2^25 = 128 MB on GPU; a block makes about four
    temporaries), with a running logsumexp across blocks.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    mean_t = torch.as_tensor(np.asarray(mean, dtype=np.float32), device=device)
    logvar_t = torch.as_tensor(np.asarray(logvar, dtype=np.float32), device=device)
    samples_t = torch.as_tensor(np.asarray(samples, dtype=np.float32), device=device)
    n_components, n_dims = mean_t.shape
    block = block_elements or TORCH_BLOCK_ELEMENTS.get(device.type, 2 ** 24)
    sample_block = max(1, min(len(samples_t), int(math.sqrt(block / n_dims))))
    component_block = max(1, block // (sample_block * n_dims))
    out = torch.empty(len(samples_t), n_dims, dtype=torch.float64, device=device)
    with torch.no_grad():
        for s0 in range(0, len(samples_t), sample_block):
            z = samples_t[s0:s0 + sample_block].unsqueeze(1)  # (s, 1, D)
            running = torch.full((len(z), n_dims), -math.inf, device=device)
            for m0 in range(0, n_components, component_block):
                log_densities = log_density_gaussian(
                    z, mean_t[m0:m0 + component_block].unsqueeze(0),
                    logvar_t[m0:m0 + component_block].unsqueeze(0))
                running = torch.logaddexp(running, torch.logsumexp(log_densities, dim=1))
            out[s0:s0 + len(z)] = running.double() - math.log(n_components)
    return out.cpu().numpy()


def log_aggregate_posterior_c(mean, logvar, samples, sample_index):
    """Same as `log_aggregate_posterior_torch`, with the fused C kernel (CPU only).

    sample_index (S,): the component each sample was drawn from (it must belong to the
    mixture); its log-density is a lower bound of the logsumexp that fixes the shift.
    Precision: float32 terms with |relative error| < 3e-6 each from the exponential, beside
    the float32 rounding of each log2-density t (|t| 2^-24 in t, about 5e-6 of the term for
    |t| near 128), accumulated in blocks of
    1,024 in float32 and then in float64.
    """
    mean = np.asarray(mean, dtype=np.float32)
    logvar = np.asarray(logvar, dtype=np.float32)
    samples = np.asarray(samples, dtype=np.float32)
    sample_index = np.asarray(sample_index)
    n_components, n_dims = mean.shape
    own_log2 = LOG2E * log_density_gaussian(
        torch.from_numpy(samples).double(), torch.from_numpy(mean[sample_index]).double(),
        torch.from_numpy(logvar[sample_index]).double()).numpy()
    out = np.empty(samples.shape, dtype=np.float64)
    for j in range(n_dims):
        logvar_j = logvar[:, j].astype(np.float64)
        log2_norm = (LOG2E * -0.5 * (math.log(2 * math.pi) + logvar_j)).astype(np.float32)
        neg_half_log2e_prec = (-0.5 * LOG2E * np.exp(-logvar_j)).astype(np.float32)
        upper = float(log2_norm.max())  # no term exceeds the highest peak density
        shift = np.minimum(math.floor(upper), np.floor(own_log2[:, j]) + OWN_MARGIN_LOG2)
        safe = upper - own_log2[:, j] < SAFE_SPAN_LOG2
        sums = mixture_kernel.shifted_exp2_sums(samples[safe, j], shift[safe], mean[:, j],
                                                neg_half_log2e_prec, log2_norm)
        with np.errstate(divide="ignore"):
            out[safe, j] = (np.log2(sums) + shift[safe]) / LOG2E - math.log(n_components)
        redo = ~safe | ~np.isfinite(out[:, j])  # the latter only if sample_index was wrong
        if redo.any():
            out[redo, j] = log_aggregate_posterior_torch(
                mean[:, j:j + 1], logvar[:, j:j + 1], samples[redo, j:j + 1])[:, 0]
    return out


def log_aggregate_posterior(mean, logvar, samples, sample_index=None, backend="auto",
                            device=None):
    """log q(z_sj) for each sample and latent dimension, q the aggregate posterior of the set.

    mean, logvar: (M, D) posterior parameters of the M images of the set; samples: (S, D).
    sample_index (S,) names the component each sample was drawn from; the "c" backend
    needs it (without it, "auto" uses torch). backend: "auto" (C kernel on CPU when it
    builds, torch otherwise), "c" or "torch". Returns float64 numpy (S, D), in nats.
    """
    if sample_index is None and backend == "auto":
        backend = "torch"
    backend, device = resolve_backend(backend, device)
    if backend == "c":
        if sample_index is None:
            raise ValueError("the 'c' backend needs sample_index (the component of each sample)")
        return log_aggregate_posterior_c(mean, logvar, samples, sample_index)
    return log_aggregate_posterior_torch(mean, logvar, samples, device=device)


def aggregate_posterior_entropy(mean, logvar, z, sample_index, backend="auto", device=None):
    """H(z_j) in nats for each latent dimension j of the set's aggregate posterior.

    mean, logvar, z: (M, D), z holding one sample of q(z|x_m) per image m (Chen et al. 2018
    estimate entropies from samples, not from posterior means); sample_index: the S rows of
    the set whose samples form the Monte Carlo average. Returns float64 (D,).
    """
    z = np.asarray(z)
    sample_index = np.asarray(sample_index)
    log_q = log_aggregate_posterior(mean, logvar, z[sample_index], sample_index,
                                    backend=backend, device=device)
    return -log_q.mean(axis=0)
