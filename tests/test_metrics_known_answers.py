"""Intermediate codes, between the ideal and the random extremes, whose scores are known
from a hand computation or from the paper's definition evaluated directly: a wrong formula
(a transposed matrix, a missing normalisation) moves these numbers, not only the extremes.

Codes are built on a full grid of factors A (4 values), B (5 values) and, where a third
factor is needed, C (3 values), plus a constant factor first (like dSprites' colour).
"""
import importlib

import numpy as np
import pytest
from scipy.stats import norm

from disvae.metrics import (betavae_score, dci, factorvae_score, mig_discrete,
                            modularity_explicitness, sap)
from disvae.metrics.factors import FactorPool
from disvae.metrics.information import mutual_information_gap

dci_module = importlib.import_module("disvae.metrics.dci")  # the package exports dci()


def grid(sizes, repeats):
    cells = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1)
    return np.repeat(cells.reshape(-1, len(sizes)), repeats, axis=0)


# --- DCI --------------------------------------------------------------------------------

def fixed_importances(columns):
    """A stand-in for the per-factor tree fit returning the given importance column of each
    varying factor (the suite's `column`: its index among the varying factors)."""
    def fit(column, train_x, train_y, test_x, test_y, n_estimators, seed):
        return column, np.asarray(columns[column], dtype=float), 1.0, 0.5
    return fit


def test_dci_completeness_is_the_specificity_of_each_factor_over_the_latents(monkeypatch):
    """Hand-worked importance matrix R (3 latents x 2 factors): factor A split evenly over
    latents 0 and 1, factor B all in latent 2. Eastwood & Williams, eq. 2-4:
    disentanglement = 1 (every latent informs one factor); completeness = the mean over the
    two factors of 1 - H_3(column) = ((1 - log 2 / log 3) + 1) / 2."""
    monkeypatch.setattr(dci_module, "_fit_factor",
                        fixed_importances([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]))
    factors = grid((1, 4, 5), repeats=2)
    result = dci(np.zeros((len(factors), 3)), factors, n_train=50, n_test=20, n_jobs=1)
    np.testing.assert_array_equal(result["importance_matrix"],
                                  [[0.5, 0.0], [0.5, 0.0], [0.0, 1.0]])
    assert result["disentanglement"] == pytest.approx(1.0)
    assert result["completeness"] == pytest.approx(1 - np.log(2) / (2 * np.log(3)))
    assert result["informativeness_train"] == 1.0 and result["informativeness_test"] == 0.5


def test_dci_disentanglement_weights_each_latent_by_its_share_of_importance(monkeypatch):
    """R = [[1, 0], [1, 1]] (latents x factors, columns not normalised): latent 0 informs
    factor A only (1 - H_2 = 1, weight 1/3), latent 1 both equally (1 - H_2 = 0, weight 2/3):
    disentanglement 1/3. Completeness: A spread evenly over 2 latents (1 - H_2 = 0, weight
    2/3), B in latent 1 only (1, weight 1/3): 1/3."""
    monkeypatch.setattr(dci_module, "_fit_factor", fixed_importances([[1.0, 1.0], [0.0, 1.0]]))
    factors = grid((4, 5), repeats=2)
    result = dci(np.zeros((len(factors), 2)), factors, n_train=50, n_test=20, n_jobs=1)
    assert result["disentanglement"] == pytest.approx(1 / 3)
    assert result["completeness"] == pytest.approx(1 / 3)


def test_dci_of_duplicated_codes_is_disentangled_but_incomplete():
    """Every factor read from two identical latents: the trees split each factor's importance
    between the twins, so each column of R has (close to) the entropy of an even split over
    2 of the 6 latents: completeness about 1 - log 2 / log 6 = 0.613, disentanglement 1."""
    factors = grid((1, 3, 4, 5), repeats=5)
    codes = factors[:, 1:].astype(float)
    result = dci(np.hstack([codes, codes]), factors, n_train=400, n_test=200, n_estimators=10)
    assert result["disentanglement"] >= 0.95
    assert result["completeness"] == pytest.approx(1 - np.log(2) / np.log(6), abs=0.1)


def test_dci_informativeness_of_a_code_missing_one_factor():
    """Codes hold A and B but nothing of C (3 values, independent of A and B on the full
    grid): A and B are read exactly, C at chance 1/3 at best, so the test informativeness is
    about (1 + 1 + 1/3) / 3 = 0.78."""
    factors = grid((4, 5, 3), repeats=20)
    result = dci(factors[:, :2].astype(float), factors, n_train=1000, n_test=1000,
                 n_estimators=10)
    assert result["informativeness_test"] == pytest.approx((2 + 1 / 3) / 3, abs=0.04)


# --- FactorVAE score ---------------------------------------------------------------------

def test_factorvae_score_divides_by_the_global_variance_of_each_latent():
    """Identity codes plus N(0, 0.3^2) noise, latents rescaled by 0.1, 1 and 10: a batch with
    factor k fixed leaves only the noise in latent k, about 4% of its global variance, while
    every other latent varies fully (a variance ratio below 0.05 over 16 images has
    probability below 1e-9), so relative to the global scale the vote is always right:
    score 1. The raw variances would mostly vote for the latent of scale 0.1."""
    factors = grid((1, 5, 4, 5), repeats=4)
    rng = np.random.default_rng(0)
    codes = (factors[:, 1:] + 0.3 * rng.normal(size=(len(factors), 3))) * [0.1, 1.0, 10.0]
    result = factorvae_score(codes, factors, batch_size=16, n_train=300, n_eval=300,
                             n_variance_estimate=1000)
    assert result["num_active_dims"] == 3
    assert result["eval_accuracy"] == 1.0 and result["train_accuracy"] == 1.0


def test_factorvae_score_of_a_code_missing_one_factor_is_two_thirds():
    """Latents for A and C only: a vote with A or C fixed is right, a vote with B fixed lands
    on a latent whose majority factor is A or C, so it is wrong. Factors are voted uniformly,
    so the score is the share of votes not about B, 2/3 up to the sampling of 3,000 votes."""
    factors = grid((4, 5, 3), repeats=3)
    rng = np.random.default_rng(1)
    codes = factors[:, [0, 2]] + 0.01 * rng.normal(size=(len(factors), 2))
    result = factorvae_score(codes, factors, batch_size=16, n_train=1000, n_eval=3000,
                             n_variance_estimate=1000)
    assert result["eval_accuracy"] == pytest.approx(2 / 3, abs=0.03)


# --- BetaVAE score -----------------------------------------------------------------------

def test_betavae_score_cannot_tell_apart_two_factors_without_a_latent():
    """One latent equal to C, none for A and B: with C fixed the feature is 0 (recognised),
    with A or B fixed it has the same distribution, so a classifier can only guess between
    them. Score = 1/3 + (2/3)(1/2) = 2/3, up to the sampling of 3,000 points."""
    factors = grid((4, 5, 3), repeats=3)
    codes = np.column_stack([factors[:, 2].astype(float), np.zeros(len(factors))])
    result = betavae_score(codes, factors, batch_size=16, n_train=1000, n_eval=3000)
    assert result["eval_accuracy"] == pytest.approx(2 / 3, abs=0.03)


# --- discretised MIG ----------------------------------------------------------------------

def test_mig_discrete_of_a_coarsened_copy_is_the_lost_entropy_fraction():
    """Latents A, floor(A / 2) and B on the full grid. Factor A: I(A; A) = log 4,
    I(A; floor(A/2)) = log 2, so MIG_A = (log 4 - log 2) / log 4 = 1/2. Factor B: its own
    latent carries log 5 and the others nothing (independent on a full grid): MIG_B = 1.
    MIG = 3/4 exactly."""
    factors = grid((1, 4, 5), repeats=3)
    a, b = factors[:, 1], factors[:, 2]
    result = mig_discrete(np.column_stack([a, a // 2, b]).astype(float), factors)
    np.testing.assert_allclose(result["mig_per_factor"][1:], [0.5, 1.0], atol=1e-12)
    assert result["mig"] == pytest.approx(0.75, abs=1e-12)
    np.testing.assert_allclose(result["mi_matrix"][1], [np.log(4), np.log(2), 0.0], atol=1e-12)


def test_mig_discrete_bins_with_the_given_number_of_bins():
    """Latents A (4 values) and B (5 values), 2 equal-width bins: A -> {0,1 | 2,3} keeps
    log 2 of its log 4 nats; B -> {0,1 | 2,3,4} keeps H(2/5, 3/5) of log 5. Each factor's
    other latent carries nothing, so MIG_A = 1/2 and MIG_B = H(2/5, 3/5) / log 5."""
    factors = grid((4, 5), repeats=2)
    result = mig_discrete(factors.astype(float), factors, n_bins=2)
    h_b = -(0.4 * np.log(0.4) + 0.6 * np.log(0.6))
    np.testing.assert_allclose(result["mig_per_factor"], [0.5, h_b / np.log(5)], atol=1e-12)
    np.testing.assert_allclose(result["factor_entropies"], [np.log(4), np.log(5)], atol=1e-12)


def test_mig_discrete_keeps_factors_of_low_entropy_and_skips_constant_ones():
    """A binary factor (entropy log 2 < 1 nat) read by two identical latents has MIG 0, the
    5-valued factor read by its own latent MIG 1: MIG = 1/2. A pool where every factor is
    constant has no MIG (NaN)."""
    factors = grid((1, 2, 5), repeats=2)
    codes = factors[:, [1, 1, 2]].astype(float)
    result = mig_discrete(codes, factors)
    assert result["factors_used"] == [1, 2]
    assert result["mig"] == pytest.approx(0.5, abs=1e-12)
    constant = mig_discrete(np.random.default_rng(0).normal(size=(10, 2)),
                            np.zeros((10, 2), dtype=int))
    assert np.isnan(constant["mig"]) and constant["factors_used"] == []


def test_mig_discrete_subsample_is_the_seeded_draw_of_the_pool():
    """n_samples rows drawn with replacement from the pool with the given seed: the score is
    that of exactly those rows."""
    factors = grid((4, 5), repeats=2)
    codes = factors + np.random.default_rng(0).normal(scale=0.6, size=factors.shape)
    rows = FactorPool(factors).random_rows(np.random.default_rng(7), 60)
    expected = mig_discrete(codes[rows], factors[rows])
    result = mig_discrete(codes, factors, n_samples=60, seed=7)
    assert result["mig"] == expected["mig"]
    np.testing.assert_array_equal(result["mi_matrix"], expected["mi_matrix"])


# --- SAP ----------------------------------------------------------------------------------

def test_sap_continuous_of_a_mixed_latent_is_the_gap_of_squared_correlations():
    """Latents A, A + B/2 and B. Population R^2 of the mixed latent: var A / (var A + var B/4)
    = 1.25 / 1.75 with A, and 0.5 / 1.75 with B; the pure latents score 1 with their own
    factor. SAP = mean(1 - 5/7, 1 - 2/7) = 1/2. On the recipe's training rows, the squared
    Pearson correlations (numpy's corrcoef) give the exact value."""
    factors = grid((1, 4, 5), repeats=20)
    a, b = factors[:, 1].astype(float), factors[:, 2].astype(float)
    codes = np.column_stack([a, a + b / 2, b])
    result = sap(codes, factors, n_train=2000, n_test=10, continuous_factors=True)
    train, _ = FactorPool(factors).train_test_rows(0, 2000, 10)
    r2 = np.array([[np.corrcoef(codes[train, j], factors[train, k])[0, 1] ** 2
                    for k in (1, 2)] for j in range(3)])
    np.testing.assert_allclose(result["score_matrix"], r2, atol=1e-9)
    ordered = np.sort(r2, axis=0)
    assert result["sap"] == pytest.approx(np.mean(ordered[-1] - ordered[-2]), abs=1e-9)
    assert result["sap"] == pytest.approx(0.5, abs=0.05)


def test_sap_discrete_uses_the_gap_between_the_best_two_latents():
    """Two binary factors, latent 0 = A, latent 1 = A, latent 2 = B: A is predicted perfectly
    by two latents (gap 0), B by one while the others score chance 1/2 (gap 1/2): SAP 1/4."""
    factors = grid((2, 2), repeats=2500)
    codes = factors[:, [0, 0, 1]].astype(float)
    result = sap(codes, factors, n_train=10000, n_test=1000)
    np.testing.assert_allclose(result["score_matrix"][:, 0], [1.0, 1.0, 0.5], atol=0.05)
    assert result["sap"] == pytest.approx(0.25, abs=0.05)


# --- explicitness --------------------------------------------------------------------------

def test_explicitness_of_a_noisy_binary_code_is_the_gaussian_auc():
    """Two binary factors, each in its own latent plus N(0, 1) noise. The logistic regression
    is increasing in the latent of the factor it predicts, so its ROC AUC is that of the latent,
    P(z_1 > z_0) = Phi(1 / sqrt 2) = 0.760 for classes 1 apart."""
    factors = grid((2, 2), repeats=2500)
    codes = factors + np.random.default_rng(0).normal(size=factors.shape)
    result = modularity_explicitness(codes, factors, n_train=10000, n_test=5000)
    assert result["explicitness_test"] == pytest.approx(norm.cdf(1 / np.sqrt(2)), abs=0.02)
    assert result["explicitness_train"] == pytest.approx(norm.cdf(1 / np.sqrt(2)), abs=0.02)


def test_mig_gap_of_two_latents_subtracts_the_second():
    """With two latents the gap is I_(1) - I_(2), not I_(1): (1.0 - 0.4) / 2 = 0.3."""
    assert mutual_information_gap(np.array([[1.0, 0.4], [0.2, 0.6]]), [2.0, 0.5]) == \
        pytest.approx([0.3, 0.8])


def test_factorvae_score_is_a_function_of_its_seed_and_reports_dead_codes_fully():
    factors = grid((4, 5), repeats=3)
    codes = factors + np.random.default_rng(0).normal(scale=0.8, size=factors.shape)
    sizes = dict(batch_size=8, n_train=200, n_eval=200, n_variance_estimate=300)
    first = factorvae_score(codes, factors, seed=3, **sizes)
    assert factorvae_score(codes, factors, seed=3, **sizes) == first
    assert factorvae_score(np.zeros((len(factors), 2)), factors, **sizes) == {
        "train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0,
        "factors_used": [0, 1]}
