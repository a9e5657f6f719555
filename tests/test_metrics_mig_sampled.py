"""Sampled-entropy MIG (Chen et al. 2018): the entropy kernel against brute force, the MI
against closed forms, and the invariances a full-dataset estimator must have."""
import math
import os
import shutil

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import logsumexp

from disvae.metrics import aggregate_posterior_entropy, log_aggregate_posterior, mig_sampled
from disvae.metrics import mixture_kernel

needs_c_kernel = pytest.mark.skipif(mixture_kernel.load_kernel() is None,
                                    reason=f"C kernel unavailable: {mixture_kernel.kernel_error()}")


def brute_force_log_q(mean, logvar, samples):
    """log (1/M) sum_m N(z_s; mean_m, exp(logvar_m)) in float64, the full S x M x D tensor."""
    mean, logvar, samples = (np.asarray(a, dtype=np.float64) for a in (mean, logvar, samples))
    log_densities = -0.5 * (math.log(2 * math.pi) + logvar[None]
                            + (samples[:, None] - mean[None]) ** 2 * np.exp(-logvar[None]))
    return logsumexp(log_densities, axis=1) - math.log(len(mean))


def hard_posteriors(n_images=500, seed=0):
    """Posteriors with wide ranges of scale: means up to +-20 (far from 0, where a quadratic
    expansion would cancel), log-variances from -14 to 2, one dimension nearly collapsed."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(0.0, 1.0, (n_images, 5)) * np.array([0.5, 3.0, 20.0, 1.0, 0.05])
    mean[:, 2] += 15.0
    logvar = rng.uniform(-14.0, 2.0, (n_images, 5))
    logvar[:, 4] = rng.normal(0.0, 0.02, n_images)
    z = mean + np.exp(0.5 * logvar) * rng.standard_normal(mean.shape)
    return mean.astype(np.float32), logvar.astype(np.float32), z.astype(np.float32)


@needs_c_kernel
def test_c_kernel_log_aggregate_posterior_equals_brute_force():
    mean, logvar, z = hard_posteriors()
    rows = np.random.default_rng(1).choice(len(mean), 200, replace=False)
    expected = brute_force_log_q(mean, logvar, z[rows])
    got = log_aggregate_posterior(mean, logvar, z[rows], rows, backend="c")
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)
    entropy = -got.mean(axis=0)
    np.testing.assert_allclose(entropy, -expected.mean(axis=0), rtol=1e-4, atol=0)


@pytest.mark.parametrize("flags", mixture_kernel.COMPILE_FLAG_SETS)
def test_c_kernel_built_with_each_flag_set_equals_brute_force(monkeypatch, flags):
    """Both builds the loader tries: -march=native (here AVX2: the one-instruction clamp) and
    plain -O3 (the portable compare-and-select), on the hard posteriors."""
    monkeypatch.setattr(mixture_kernel, "COMPILE_FLAG_SETS", (flags,))
    monkeypatch.setattr(mixture_kernel, "_state", {"loaded": False, "function": None,
                                                   "error": None})
    if shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("no C compiler: the metrics use torch instead of the C kernel")
    assert mixture_kernel.load_kernel() is not None, mixture_kernel.kernel_error()
    mean, logvar, z = hard_posteriors()
    rows = np.arange(1, 500, 4)
    got = log_aggregate_posterior(mean, logvar, z[rows], rows, backend="c")
    np.testing.assert_allclose(got, brute_force_log_q(mean, logvar, z[rows]), rtol=0, atol=2e-5)


def test_torch_backend_log_aggregate_posterior_equals_brute_force():
    mean, logvar, z = hard_posteriors()
    rows = np.arange(0, 500, 3)
    expected = brute_force_log_q(mean, logvar, z[rows])
    got = log_aggregate_posterior(mean, logvar, z[rows], rows, backend="torch")
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)


@needs_c_kernel
def test_c_kernel_sends_samples_far_below_the_peak_density_to_the_exact_path(monkeypatch):
    # A needle-thin component (logvar -60) puts the peak density 30 nats above a unit
    # component's; a sample 15 sd away from its own unit component adds 112 more. Its shift
    # could overflow, so that one sample must take the torch path, and still be exact.
    from disvae.metrics import aggregate_posterior
    mean, logvar, z = hard_posteriors(n_images=64)
    logvar[0, 0], logvar[1, 0] = -60.0, 0.0
    z[1, 0] = mean[1, 0] + 15.0
    fallback_rows = []
    exact = aggregate_posterior.log_aggregate_posterior_torch

    def spy(mean, logvar, samples, **kwargs):
        fallback_rows.append(len(samples))
        return exact(mean, logvar, samples, **kwargs)

    monkeypatch.setattr(aggregate_posterior, "log_aggregate_posterior_torch", spy)
    rows = np.arange(1, 64)
    expected = brute_force_log_q(mean, logvar, z[rows])
    got = log_aggregate_posterior(mean, logvar, z[rows], rows, backend="c")
    assert fallback_rows == [1]
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)


@needs_c_kernel
def test_entropy_backends_agree_on_a_large_mixture():
    mean, logvar, z = hard_posteriors(n_images=3000, seed=2)
    rows = np.random.default_rng(0).choice(3000, 300, replace=False)
    h_c = aggregate_posterior_entropy(mean, logvar, z, rows, backend="c")
    h_torch = aggregate_posterior_entropy(mean, logvar, z, rows, backend="torch")
    np.testing.assert_allclose(h_c, h_torch, rtol=1e-5, atol=1e-6)


def test_entropy_of_identical_unit_gaussians_is_that_of_a_standard_normal():
    n = 4000
    rng = np.random.default_rng(3)
    z = rng.standard_normal((n, 1)).astype(np.float32)
    h = aggregate_posterior_entropy(np.zeros((n, 1)), np.zeros((n, 1)), z, np.arange(n))
    monte_carlo_sd = math.sqrt(0.5 / n)  # sd of -log N(z; 0, 1) = z^2 / 2 + const is 1/sqrt(2)
    assert abs(h[0] - 0.5 * math.log(2 * math.pi * math.e)) < 4 * monte_carlo_sd


def mixture_entropy(centres, sigma):
    """Differential entropy (nats) of an equal-weight mixture of N(c, sigma^2), by quadrature."""
    def density(x):
        return np.mean([stats.norm.pdf(x, c, sigma) for c in centres])

    def integrand(x):
        p = density(x)
        return -p * math.log(p) if p > 0 else 0.0

    return integrate.quad(integrand, min(centres) - 12 * sigma, max(centres) + 12 * sigma,
                          limit=400, points=list(centres))[0]


SIZES = (4, 3)
SIGMAS = (0.5, 0.7)
REPEATS = 400


def encoded_grid(sizes=SIZES, sigmas=SIGMAS, repeats=REPEATS, seed=0):
    """A model whose MI is known: latent k's posterior is N(v_k, sigma_k^2) for factor k (unit
    spacing), plus one latent of pure noise (random mean, unit variance)."""
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1)
    factors = np.repeat(grid.reshape(-1, len(sizes)), repeats, axis=0)
    rng = np.random.default_rng(seed)
    mean = np.concatenate([factors.astype(np.float64), rng.normal(0, 0.3, (len(factors), 1))], 1)
    logvar = np.log(np.concatenate([np.square(sigmas), [1.0]])) * np.ones(mean.shape)
    return mean, logvar, factors


def closed_form_mi(sizes=SIZES, sigmas=SIGMAS):
    """I(z_k; v_k) = H(mixture over the |V_k| values) - H(N(0, sigma_k^2))."""
    return np.array([mixture_entropy(np.arange(s, dtype=float), sigma)
                     - 0.5 * math.log(2 * math.pi * math.e * sigma ** 2)
                     for s, sigma in zip(sizes, sigmas)])


# Monte Carlo sd of the MI estimates below is about 0.01 nats (measured over seeds).
MI_TOLERANCE = 0.04


def test_mutual_information_matches_closed_form_within_monte_carlo_error():
    mean, logvar, factors = encoded_grid()
    result = mig_sampled(mean, logvar, factors, n_samples=len(mean), seed=0)
    expected = closed_form_mi()
    mi = result["mi_matrix"]
    np.testing.assert_allclose(np.diag(mi[:, :2]), expected, atol=MI_TOLERANCE)
    assert mi[0, 1] < MI_TOLERANCE and mi[1, 0] < MI_TOLERANCE  # independent factors
    assert np.all(mi[:, 2] < MI_TOLERANCE)  # the noise latent
    np.testing.assert_allclose(result["factor_entropies"], np.log(SIZES))
    np.testing.assert_allclose(result["mig_per_factor"], expected / np.log(SIZES),
                               atol=2 * MI_TOLERANCE / math.log(3))
    np.testing.assert_allclose(result["mig"], np.mean(result["mig_per_factor"]))


def test_mi_is_entropy_difference_clamped_at_zero():
    mean, logvar, factors = encoded_grid(repeats=50)
    result = mig_sampled(mean, logvar, factors, n_samples=300, seed=0)
    difference = result["marginal_entropies"][None, :] - result["conditional_entropies"]
    np.testing.assert_allclose(result["mi_matrix"], np.clip(difference, 0, None))


def test_shuffling_the_images_changes_nothing_beyond_monte_carlo_error():
    mean, logvar, factors = encoded_grid()
    order = np.random.default_rng(5).permutation(len(mean))
    result = mig_sampled(mean, logvar, factors, n_samples=len(mean), seed=0)
    shuffled = mig_sampled(mean[order], logvar[order], factors[order], n_samples=len(mean),
                           seed=0)
    np.testing.assert_allclose(shuffled["mi_matrix"], result["mi_matrix"],
                               atol=1.5 * MI_TOLERANCE)
    np.testing.assert_allclose(shuffled["factor_entropies"], result["factor_entropies"])


def test_incomplete_grid_uses_empirical_factor_probabilities_and_entropies():
    # Well-separated posteriors: I(z_k; v_k) = H(v_k), the empirical entropy of the pool.
    mean, logvar, factors = encoded_grid(sigmas=(0.05, 0.05), repeats=100)
    rng = np.random.default_rng(6)
    keep = ~((factors[:, 0] == 0) & (factors[:, 1] == 0)) & (rng.random(len(factors)) < 0.8)
    mean, logvar, factors = mean[keep], logvar[keep], factors[keep]
    result = mig_sampled(mean, logvar, factors, n_samples=len(mean), seed=0)
    for k in range(2):
        _, counts = np.unique(factors[:, k], return_counts=True)
        p = counts / counts.sum()
        assert result["factor_entropies"][k] == pytest.approx(-(p * np.log(p)).sum())
    np.testing.assert_allclose(np.diag(result["mi_matrix"]), result["factor_entropies"],
                               atol=0.01)
    assert np.all(result["mig_per_factor"] > 0.9)  # < 1: the missing cell couples factors


def test_subsets_smaller_than_n_samples_use_all_their_images():
    mean, logvar, factors = encoded_grid(repeats=20)  # subsets of 60 and 80 images
    result = mig_sampled(mean, logvar, factors, n_samples=10000, seed=0)
    assert np.all(np.isfinite(result["conditional_entropies"]))
    assert result["mig"] > 0.3


def test_duplicating_each_factor_in_two_latents_scores_near_zero():
    mean, logvar, factors = encoded_grid(repeats=100)
    duplicated = np.concatenate([mean[:, :2], mean[:, :2]], axis=1)
    twin_logvar = np.concatenate([logvar[:, :2], logvar[:, :2]], axis=1)
    result = mig_sampled(duplicated, twin_logvar, factors, n_samples=1200, seed=0)
    assert result["mig"] < 0.1
    assert result["aam"] < 0.1


def test_codes_independent_of_the_factors_score_near_zero():
    _, _, factors = encoded_grid(repeats=100)
    rng = np.random.default_rng(7)
    mean = rng.normal(0, 1, (len(factors), 3))
    logvar = np.full(mean.shape, math.log(0.1 ** 2))
    result = mig_sampled(mean, logvar, factors, n_samples=1200, seed=0)
    assert result["mig"] < 0.05
    assert np.all(result["mi_matrix"] < 0.05)


def test_constant_factor_is_skipped_and_shape_excluded_on_request():
    mean, logvar, factors = encoded_grid(repeats=100)
    with_colour = np.concatenate([np.zeros((len(factors), 1), dtype=int), factors], axis=1)
    names = ["color", "shape", "posX"]
    result = mig_sampled(mean, logvar, with_colour, n_samples=600, seed=0, factor_names=names)
    assert result["factors_used"] == [1, 2]
    assert np.isnan(result["mig_per_factor"][0]) and np.isnan(result["aam_per_factor"][0])
    assert result["factor_entropies"][0] == 0.0
    np.testing.assert_array_equal(result["mi_matrix"][0], 0.0)
    assert result["mig"] == pytest.approx(np.mean(result["mig_per_factor"][1:]))
    assert result["mig_without_shape"] == pytest.approx(result["mig_per_factor"][2])
    assert result["aam"] == pytest.approx(np.mean(result["aam_per_factor"][1:]))
    unnamed = mig_sampled(mean, logvar, with_colour, n_samples=600, seed=0)
    assert unnamed["mig_without_shape"] == pytest.approx(unnamed["mig"])


def test_samples_not_means_are_scored():
    # With the posterior mean every image of a value sits at the same point, so the
    # conditional entropy would not see the posterior variance; with samples it must.
    mean, logvar, factors = encoded_grid(sizes=(2,), sigmas=(2.0,), repeats=600)
    result = mig_sampled(mean[:, :1], logvar[:, :1], factors, n_samples=1200, seed=0)
    expected_h_cond = 0.5 * math.log(2 * math.pi * math.e * 2.0 ** 2)
    assert result["conditional_entropies"][0, 0] == pytest.approx(expected_h_cond, abs=0.06)


@needs_c_kernel
def test_torch_backend_gives_the_same_mig_as_the_c_kernel():
    mean, logvar, factors = encoded_grid(repeats=50)
    fast = mig_sampled(mean, logvar, factors, n_samples=300, seed=0, backend="c")
    torch_cpu = mig_sampled(mean, logvar, factors, n_samples=300, seed=0, backend="torch",
                            device="cpu")
    np.testing.assert_allclose(fast["mi_matrix"], torch_cpu["mi_matrix"], atol=1e-5)
    np.testing.assert_allclose(fast["marginal_entropies"], torch_cpu["marginal_entropies"],
                               rtol=1e-5)
