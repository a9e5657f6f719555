"""Gaussian log-densities and the minibatch estimators of log q(z).

The beta-TCVAE loss and the sampled MIG both need the aggregate posterior
q(z) = (1/N) sum_n q(z|x_n); this module holds the densities and the two
minibatch estimators of Chen et al. 2018 ("Isolating Sources of
Disentanglement in VAEs", section 3 and appendix C) in one place.
"""
import math

import torch

LOG_2PI = math.log(2 * math.pi)


def log_density_gaussian(x, mean, logvar):
    """Elementwise log N(x; mean, exp(logvar)), broadcasting like the operands."""
    inv_var = torch.exp(-logvar)
    return -0.5 * (LOG_2PI + logvar + (x - mean) ** 2 * inv_var)


def matrix_log_density_gaussian(z, mean, logvar):
    """Pairwise log-densities M[i, j, d] = log N(z[i, d]; mean[j, d], exp(logvar[j, d])).

    z, mean and logvar are (B, D); the result is (B, B, D): sample i scored under the
    posterior of every batch element j, one latent dimension at a time.
    """
    return log_density_gaussian(z.unsqueeze(1), mean.unsqueeze(0), logvar.unsqueeze(0))


def log_importance_weight_matrix(batch_size, dataset_size, device=None):
    """log W (B x B) of minibatch stratified sampling (Chen et al. 2018, appendix C.2).

    Row i scores sample i, drawn from element i of the batch: W[i, i] = 1/N for the element
    itself, one other element per row (the next one, cyclically) carries the stratified weight
    (N - M) / (N M) with M = B - 1, and the remaining B - 2 elements carry 1/M. Every row
    sums to 1, so sum_j W[i, j] q(z_i|x_j) is an unbiased estimate of q(z_i).
    """
    n, b = float(dataset_size), batch_size
    if b < 2:
        raise ValueError("minibatch stratified sampling needs a batch of at least 2")
    m = b - 1
    weights = torch.full((b, b), 1.0 / m, device=device)
    rows = torch.arange(b, device=device)
    weights[rows, rows] = 1.0 / n
    weights[rows, (rows + 1) % b] = (n - m) / (n * m)
    return weights.log()


def log_qz_estimates(z, mean, logvar, dataset_size, is_mss=True):
    """Minibatch estimates of log q(z_i) and log prod_d q(z_id) for every sample of a batch.

    Minibatch weighted sampling (MWS) treats the batch as a uniform sample of the dataset:
    log q(z_i) ~ logsumexp_j log q(z_i|x_j) - log B. Minibatch stratified sampling (MSS) adds
    the log-weights log W_ij of `log_importance_weight_matrix` instead. In both cases the
    weight of a pair (i, j) enters once in the joint density (after summing over dimensions)
    and once in each one-dimensional marginal.

    Chen et al. print the MWS constant as -log(N B); that shifts every log q(z) by -log N (it
    is exact only for a density over (z, n)) and would push the mutual-information estimate
    above its bound log N, so the constant here is -log B, which makes MWS consistent with MSS
    and with the exact aggregate posterior.

    Returns (log_qz, log_prod_qzi), each of shape (B,).
    """
    batch_size = z.shape[0]
    pairwise = matrix_log_density_gaussian(z, mean, logvar)  # (B, B, D)
    if is_mss:
        log_w = log_importance_weight_matrix(batch_size, dataset_size, z.device).to(z.dtype)
    else:
        log_w = torch.full((batch_size, batch_size), -math.log(batch_size),
                           device=z.device, dtype=z.dtype)
    log_qz = torch.logsumexp(pairwise.sum(dim=2) + log_w, dim=1)
    log_prod_qzi = torch.logsumexp(pairwise + log_w.unsqueeze(2), dim=1).sum(dim=1)
    return log_qz, log_prod_qzi
