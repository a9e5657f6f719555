"""Known answers for IRS, the unsupervised scores (Gaussian total and Wasserstein correlation,
mutual information score) and UDR; each test says where its expected value comes from."""
import math

import numpy as np
import pytest

from disvae.metrics import (gaussian_total_correlation, gaussian_wasserstein_correlation,
                            gaussian_wasserstein_correlation_norm, irs, mutual_info_score, udr,
                            unsupervised_scores)
from disvae.metrics.udr import relative_strength, spearman_matrix

RHO = 0.9


def grid(sizes, repeats=1):
    cells = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1)
    return np.repeat(cells.reshape(-1, len(sizes)), repeats, axis=0)


def one_correlation_cov(rho=RHO, dims=5):
    cov = np.eye(dims)
    cov[0, 1] = cov[1, 0] = rho
    return cov


# --- IRS --------------------------------------------------------------------------------

def test_irs_of_identity_codes_is_one():
    # A code equal to factor k does not move when k is fixed: IRS_jk = 1 - 0 / max dev = 1.
    factors = grid((1, 3, 4, 5), repeats=2)
    result = irs(factors[:, 1:].astype(float), factors, n_samples=None)
    assert result["irs"] == pytest.approx(1.0)
    assert result["parents"].tolist() == [1, 2, 3]
    assert np.isnan(result["irs_per_factor"][0])  # constant factor (colour) skipped
    np.testing.assert_allclose(result["irs_per_factor"][1:], 1.0)


def test_irs_hand_computed_example_with_a_mixed_code():
    # Factors v1, v2 in {0, 1} (a full grid); z1 = v1, z2 = v2, z3 = v1 + v2.
    # z1, z2: IRS 1, largest deviation 0.5. z3: mean 1, largest deviation 1; fixing v1 leaves
    # z3 in {v1, v1 + 1}, |z3 - E[z3 | v1]| = 0.5 in every group, so IRS_3k = 1 - 0.5 / 1.
    # IRS = (0.5 * 1 + 0.5 * 1 + 1 * 0.5) / (0.5 + 0.5 + 1) = 0.75.
    factors = grid((2, 2), repeats=3)
    codes = np.column_stack([factors[:, 0], factors[:, 1], factors.sum(axis=1)]).astype(float)
    result = irs(codes, factors, n_samples=None)
    assert result["irs"] == pytest.approx(0.75)
    np.testing.assert_allclose(result["irs_per_code"], [1.0, 1.0, 0.5])
    np.testing.assert_allclose(result["max_deviations"], [0.5, 0.5, 1.0])
    np.testing.assert_allclose(result["irs_matrix"][2], [0.5, 0.5])


def test_irs_drops_constant_codes_and_scores_random_codes_low():
    factors = grid((3, 4, 5), repeats=20)
    rng = np.random.default_rng(0)
    codes = np.column_stack([factors[:, 0], np.zeros(len(factors))]).astype(float)
    with_constant = irs(codes, factors, n_samples=None)
    assert with_constant["num_active_dims"] == 1 and with_constant["irs"] == pytest.approx(1.0)
    assert with_constant["parents"].tolist() == [0, -1]
    # Uniform codes on [-1, 1] independent of the factors: within every group the 0.99
    # quantile of |z - E z| is about 0.99 and the largest deviation about 1, so IRS ~ 0.01.
    noise = irs(rng.uniform(-1, 1, size=(len(factors), 3)), factors, n_samples=None)
    assert noise["irs"] < 0.1
    assert irs(np.zeros((len(factors), 2)), factors)["irs"] == 0.0


# --- unsupervised scores ----------------------------------------------------------------

def test_gaussian_scores_of_uncorrelated_codes_are_zero():
    # KL(N(0, D) || N(0, D)) = 0 and W2(N(0, D), N(0, D)) = 0 for a diagonal covariance.
    diagonal = np.diag([1.0, 4.0, 0.25, 2.0, 9.0])
    assert gaussian_total_correlation(np.eye(5)) == pytest.approx(0.0, abs=1e-12)
    assert gaussian_total_correlation(diagonal) == pytest.approx(0.0, abs=1e-12)
    assert gaussian_wasserstein_correlation(diagonal) == pytest.approx(0.0, abs=1e-12)
    assert gaussian_wasserstein_correlation_norm(np.eye(5)) == pytest.approx(0.0, abs=1e-12)


def test_gaussian_total_correlation_of_one_correlated_pair_is_the_closed_form():
    # log det of the block [[1, rho], [rho, 1]] is log(1 - rho^2), the diagonal logs are 0:
    # TC = 0.5 (0 - log(1 - rho^2)) = -0.5 log(1 - 0.81) = 0.8304 nats.
    expected = -0.5 * math.log(1 - RHO ** 2)
    assert gaussian_total_correlation(one_correlation_cov()) == pytest.approx(expected,
                                                                              rel=1e-12)
    scaled = one_correlation_cov() * np.outer([2, 3, 1, 1, 5], [2, 3, 1, 1, 5])
    assert gaussian_total_correlation(scaled) == pytest.approx(expected, rel=1e-12)


def test_gaussian_wasserstein_correlation_of_one_correlated_pair_is_the_closed_form():
    # Unit variances: D = I, so W^2 = 2 tr cov - 2 tr cov^1/2. The pair's block has
    # eigenvalues 1 +- rho, the other three are 1: tr cov^1/2 = 3 + sqrt(1.9) + sqrt(0.1),
    # W^2 = 10 - 2 (3 + sqrt(1.9) + sqrt(0.1)) = 0.61073; normalised by tr cov = 5.
    expected = 4 - 2 * (math.sqrt(1 + RHO) + math.sqrt(1 - RHO))
    assert gaussian_wasserstein_correlation(one_correlation_cov()) == pytest.approx(expected,
                                                                                    rel=1e-10)
    assert gaussian_wasserstein_correlation_norm(one_correlation_cov()) == pytest.approx(
        expected / 5, rel=1e-10)


def test_gaussian_wasserstein_correlation_of_a_two_by_two_covariance():
    # cov = [[a, c], [c, b]]: D^1/2 cov D^1/2 has trace a^2 + b^2 and determinant
    # a b (a b - c^2); a 2 x 2 PSD M has tr M^1/2 = sqrt(tr M + 2 sqrt(det M)).
    a, b, c = 2.0, 0.5, 0.6
    root_det = math.sqrt(a * b * (a * b - c ** 2))
    expected = 2 * (a + b) - 2 * math.sqrt(a ** 2 + b ** 2 + 2 * root_det)
    cov = np.array([[a, c], [c, b]])
    assert gaussian_wasserstein_correlation(cov) == pytest.approx(expected, rel=1e-10)


def test_gaussian_scores_reject_a_covariance_with_a_zero_variance():
    with pytest.raises(ValueError, match="variance <= 0"):
        gaussian_total_correlation(np.diag([1.0, 0.0]))


def test_mutual_info_score_of_duplicated_and_crossed_codes():
    # On a 20 x 20 grid of values each value falls in its own of the 20 bins. z1 = z2 (one
    # axis) share H = log 20 nats; z3 (the other axis) is independent of both (fully
    # crossed): the off-diagonal sum is 2 log 20 over 3^2 - 3 = 6 pairs.
    cells = grid((20, 20))
    codes = np.column_stack([cells[:, 0], cells[:, 0], cells[:, 1]]).astype(float)
    assert mutual_info_score(codes) == pytest.approx(math.log(20) / 3, rel=1e-12)
    assert mutual_info_score(cells.astype(float)) == pytest.approx(0.0, abs=1e-12)


def test_unsupervised_scores_on_gaussian_codes_match_the_closed_forms():
    rng = np.random.default_rng(0)
    codes = rng.multivariate_normal(np.zeros(5), one_correlation_cov(), size=200000)
    result = unsupervised_scores(codes, n_samples=None)
    # Sampling error of a covariance estimated from 2e5 points is about 1e-2 relative.
    assert result["gaussian_total_correlation"] == pytest.approx(-0.5 * math.log(0.19),
                                                                 rel=0.02)
    expected_w = 4 - 2 * (math.sqrt(1.9) + math.sqrt(0.1))
    assert result["gaussian_wasserstein_correlation"] == pytest.approx(expected_w, rel=0.02)
    independent = unsupervised_scores(rng.normal(size=(100000, 4)) * [1, 2, 3, 4], seed=0)
    assert abs(independent["gaussian_total_correlation"]) < 5e-3
    assert independent["gaussian_wasserstein_correlation_norm"] < 5e-3
    # Discrete MI of independent codes is biased up by about (bins - 1)^2 / (2 N) = 0.018.
    assert independent["mutual_info_score"] < 0.03
    assert independent["covariance"].shape == (4, 4)


def test_unsupervised_scores_leave_constant_codes_out_of_the_gaussian_scores():
    rng = np.random.default_rng(1)
    codes = np.column_stack([rng.normal(size=5000), np.zeros(5000), rng.normal(size=5000)])
    result = unsupervised_scores(codes, n_samples=None)
    assert result["n_constant_codes"] == 1
    assert math.isfinite(result["gaussian_total_correlation"])


# --- UDR --------------------------------------------------------------------------------

def test_relative_strength_known_matrices():
    # A permutation matrix: every row and column max^2 / sum = 1. A uniform 2 x 2 matrix of
    # ones: 1 / 2 for every row and column. Rows [1, 1], [0, 0]: columns 1/1 each = 1,
    # rows (1/2 and 0) average 0.25: (1 + 0.25) / 2.
    assert relative_strength(np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]])) == 1.0
    assert relative_strength(np.ones((2, 2))) == 0.5
    assert relative_strength(np.array([[1.0, 1.0], [0.0, 0.0]])) == pytest.approx(0.625)
    assert relative_strength(np.zeros((0, 3))) == 0.0


def test_spearman_matrix_is_invariant_to_monotone_transforms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 2))
    b = np.column_stack([np.exp(a[:, 1]), -a[:, 0] ** 3])
    np.testing.assert_allclose(spearman_matrix(a, b), [[0, 1], [1, 0]], atol=0.1)
    np.testing.assert_allclose(np.diag(spearman_matrix(a, b)[:, ::-1]), 1.0)


def crossed_codes(levels=5, dims=4, seed=0):
    """Codes whose columns are exactly uncorrelated (a full grid of levels^dims points, its
    rows shuffled), in values and in ranks."""
    codes = grid((levels,) * dims).astype(float)
    return codes[np.random.default_rng(seed).permutation(len(codes))]


@pytest.mark.parametrize("correlation, expected", [("spearman", 1.0), ("lasso", 0.9)])
def test_udr_of_identical_permuted_and_sign_flipped_models(correlation, expected):
    # Duan et al. 2020, eq. 2: when the models' latents correspond one to one, whatever their
    # order and sign, R is a scaled permutation matrix and each row and column scores
    # max^2 / sum = its one entry. Spearman: |correlation| 1, UDR 1. Lasso (alpha 0.1, as
    # disentanglement_lib): on standardised, uncorrelated codes the L1 penalty shrinks each
    # coefficient from 1 to 1 - alpha (soft thresholding), so UDR = 0.9.
    codes = crossed_codes()
    models = [codes, codes[:, [2, 0, 3, 1]] * [1, -1, 1, -1], codes.copy()]
    result = udr(models, [np.ones(4)] * 3, correlation=correlation)
    np.testing.assert_allclose(result["udr"], expected, rtol=1e-9)
    assert np.isnan(result["pairwise"]).sum() == 3


@pytest.mark.parametrize("correlation", ["lasso", "spearman"])
def test_udr_of_unrelated_models_is_near_zero(correlation):
    # Independent codes: Lasso keeps no coefficient (0 by convention for an all-zero R),
    # Spearman correlations are O(1 / sqrt(N)) and max^2 / sum is smaller still.
    rng = np.random.default_rng(0)
    models = [rng.normal(size=(1000, 4)) for _ in range(3)]
    result = udr(models, [np.ones(4)] * 3, correlation=correlation)
    assert max(result["udr"]) < 0.05


def test_udr_ignores_inactive_latents_by_kl():
    # A latent below the KL threshold is set to 0 and left out: two models that share
    # three active latents and differ in a fourth, inactive, still score 1 (Spearman).
    codes = crossed_codes()
    other = codes.copy()
    other[:, 3] = np.random.default_rng(1).normal(size=len(codes))
    kl = [np.array([1.0, 1.0, 1.0, 0.001])] * 2
    result = udr([codes, other], kl, correlation="spearman")
    np.testing.assert_allclose(result["udr"], 1.0, rtol=1e-9)
    assert result["active_latents"] == [[0, 1, 2], [0, 1, 2]]
    assert udr([codes, other], [np.ones(4)] * 2, correlation="spearman")["udr"][0] < 0.95


def test_udr_rejects_bad_inputs_with_one_line():
    codes = np.zeros((10, 3))
    with pytest.raises(ValueError, match="at least two models"):
        udr([codes], [np.ones(3)])
    with pytest.raises(ValueError, match="model 1"):
        udr([codes, np.zeros((9, 3))], [np.ones(3)] * 2)
    with pytest.raises(ValueError, match="correlation must be one of"):
        udr([codes, codes], [np.ones(3)] * 2, correlation="pearson")
