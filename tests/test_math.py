"""Gaussian log-densities and the minibatch log q(z) estimators against exact values."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from disvae.utils.math import (log_density_gaussian, log_importance_weight_matrix,
                               log_qz_estimates, matrix_log_density_gaussian)


def test_log_density_gaussian_matches_scipy():
    rng = np.random.default_rng(0)
    x, mean, logvar = rng.normal(size=(3, 50))
    expected = stats.norm.logpdf(x, loc=mean, scale=np.exp(0.5 * logvar))
    got = log_density_gaussian(*(torch.tensor(a) for a in (x, mean, logvar)))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


def test_matrix_log_density_scores_every_sample_under_every_posterior():
    z, mean, logvar = torch.randn(3, 5, 4, dtype=torch.float64)
    matrix = matrix_log_density_gaussian(z, mean, logvar)
    assert matrix.shape == (5, 5, 4)
    for i in range(5):
        for j in range(5):
            expected = stats.norm.logpdf(z[i], mean[j], np.exp(0.5 * logvar[j].numpy()))
            np.testing.assert_allclose(matrix[i, j].numpy(), expected, rtol=1e-10)


def test_stratified_weights_have_the_chen_layout_and_rows_summing_to_one():
    n_data, batch = 1000, 6
    weights = log_importance_weight_matrix(batch, n_data).double().exp()
    m = batch - 1
    strat = (n_data - m) / (n_data * m)
    np.testing.assert_allclose(weights.sum(dim=1).numpy(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(torch.diagonal(weights).numpy(), 1 / n_data, rtol=1e-6)
    for i in range(batch):
        off = [weights[i, j].item() for j in range(batch) if j != i]
        assert sum(math.isclose(w, strat, rel_tol=1e-6) for w in off) == 1
        assert sum(math.isclose(w, 1 / m, rel_tol=1e-6) for w in off) == batch - 2


def brute_force_log_qz(z, mean, logvar, log_w):
    """log sum_j W_ij prod_d N(z_id; mean_jd, var_jd) and the product of 1-D marginals, by loops."""
    batch, dims = z.shape
    log_qz, log_prod = np.zeros(batch), np.zeros(batch)
    std = np.exp(0.5 * logvar)
    for i in range(batch):
        joint = [log_w[i, j] + stats.norm.logpdf(z[i], mean[j], std[j]).sum() for j in range(batch)]
        log_qz[i] = np.logaddexp.reduce(joint)
        for d in range(dims):
            marg = [log_w[i, j] + stats.norm.logpdf(z[i, d], mean[j, d], std[j, d])
                    for j in range(batch)]
            log_prod[i] += np.logaddexp.reduce(marg)
    return log_qz, log_prod


@pytest.mark.parametrize("is_mss", [True, False])
def test_estimators_add_each_weight_once_to_the_joint_and_once_per_marginal(is_mss):
    torch.manual_seed(0)
    batch, dims, n_data = 7, 3, 500
    z, mean = torch.randn(2, batch, dims, dtype=torch.float64)
    logvar = torch.randn(batch, dims, dtype=torch.float64) * 0.3
    if is_mss:
        log_w = log_importance_weight_matrix(batch, n_data).double().numpy()
    else:
        log_w = np.full((batch, batch), -math.log(batch))
    log_qz, log_prod = log_qz_estimates(z, mean, logvar, n_data, is_mss=is_mss)
    expected_qz, expected_prod = brute_force_log_qz(z.numpy(), mean.numpy(), logvar.numpy(), log_w)
    np.testing.assert_allclose(log_qz.numpy(), expected_qz, rtol=1e-9)
    np.testing.assert_allclose(log_prod.numpy(), expected_prod, rtol=1e-9)


@pytest.mark.parametrize("is_mss", [True, False])
def test_estimate_of_expected_log_qz_converges_to_exact_value(is_mss):
    """E[log q(z)] on a dataset small enough that q(z) = mean_n q(z|x_n) is exact."""
    gen = torch.Generator().manual_seed(0)
    n_data, dims, repeats = 128, 2, 300
    mean = torch.randn(n_data, dims, generator=gen, dtype=torch.float64) * 2
    logvar = torch.randn(n_data, dims, generator=gen, dtype=torch.float64) * 0.5 - 1
    z = mean + torch.exp(0.5 * logvar) * torch.randn(n_data, dims, generator=gen,
                                                     dtype=torch.float64)
    all_pairs = matrix_log_density_gaussian(z, mean, logvar).sum(dim=2)
    exact = torch.logsumexp(all_pairs, dim=1) - math.log(n_data)

    errors = []
    for batch in (4, 16, 64):
        diffs = []
        for _ in range(repeats):
            idx = torch.randperm(n_data, generator=gen)[:batch]
            estimate, _ = log_qz_estimates(z[idx], mean[idx], logvar[idx], n_data, is_mss)
            diffs.append((estimate - exact[idx]).mean())
        errors.append(abs(torch.stack(diffs).mean().item()))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.15
