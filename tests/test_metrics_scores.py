"""Known answers for the pool-based scores (disentanglement_lib's recipes), AAM and the
discrete information helpers: ideal codes score near 1, uninformative or entangled codes
near 0 (or chance for accuracies), whatever the order, naming or completeness of the grid."""
import importlib
import json

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from disvae.metrics import (aam, betavae_score, compute_all_metrics, dci, factorvae_score,
                            mig_discrete, modularity, modularity_explicitness, sap)
from disvae.metrics.factors import FactorPool, varying_factors
from disvae.metrics.suite import POOL_METRICS, score_line
from disvae.metrics.information import (discrete_mutual_info, histogram_discretize,
                                        mutual_information_gap)

SIZES = (1, 3, 4, 5)  # a constant factor first, like dSprites' colour
NAMES = ["color", "shape", "scale", "posX"]


def grid(sizes=SIZES, repeats=5):
    cells = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1)
    return np.repeat(cells.reshape(-1, len(sizes)), repeats, axis=0)


def identity_codes(factors):
    """Codes equal to the non-constant factors (the ideal representation)."""
    return factors[:, varying_factors(factors)].astype(np.float64)


def random_codes(factors, n_latents=3, seed=0):
    return np.random.default_rng(seed).normal(size=(len(factors), n_latents))


def incomplete(factors, seed=0):
    """The grid without one factor combination and without a random fifth of the rows."""
    keep = ~((factors[:, 1] == 0) & (factors[:, 2] == 0))
    keep &= np.random.default_rng(seed).random(len(factors)) < 0.8
    return factors[keep]


# --- AAM --------------------------------------------------------------------------------

def test_aam_is_one_when_each_factor_lives_in_one_latent():
    score, per_factor = aam(np.array([[0.5, 0.0, 0.0], [0.0, 0.0, 2.0]]))
    assert score == 1.0
    np.testing.assert_array_equal(per_factor, [1.0, 1.0])


def test_aam_subtracts_the_information_of_all_other_latents():
    score, per_factor = aam(np.array([[0.3, 0.3, 0.0], [0.4, 0.1, 0.1], [0.1, 0.5, 0.5]]))
    np.testing.assert_allclose(per_factor, [0.0, 0.5, 0.0])
    assert score == pytest.approx(0.5 / 3)


def test_aam_of_a_factor_without_information_is_zero():
    assert aam(np.zeros((2, 4)))[0] == 0.0


# --- discrete information helpers -------------------------------------------------------

def test_discrete_mutual_info_equals_sklearns_mutual_info_score():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 1000)
    b = (a + rng.integers(0, 3, 1000)) % 7 + 10
    assert discrete_mutual_info(a, b) == pytest.approx(mutual_info_score(a, b), rel=1e-12)


def test_histogram_discretize_uses_equal_width_bins_over_the_observed_range():
    rng = np.random.default_rng(0)
    codes = np.column_stack([rng.normal(size=500), np.full(500, 3.0), np.linspace(-1, 1, 500)])
    binned = histogram_discretize(codes, n_bins=20)
    for j in range(codes.shape[1]):  # numpy.histogram's bins, as disentanglement_lib digitises
        edges = np.histogram(codes[:, j], bins=20)[1]
        np.testing.assert_array_equal(binned[:, j], np.digitize(codes[:, j], edges[:-1]) - 1)
    assert binned.min() == 0 and binned[:, 0].max() == 19
    assert np.unique(binned[:, 1]).size == 1  # a constant latent is one bin


def test_mutual_information_gap_normalises_by_factor_entropy():
    gap = mutual_information_gap(np.array([[1.0, 0.4, 0.2], [0.0, 0.0, 0.0]]), [2.0, 0.0])
    assert gap[0] == pytest.approx(0.3)
    assert np.isnan(gap[1])  # constant factor


# --- factor pool ------------------------------------------------------------------------

def test_pool_draws_rows_sharing_a_factor_value_from_rows_that_exist():
    factors = incomplete(grid())
    pool = FactorPool(factors)
    assert pool.varying == [1, 2, 3]
    rng = np.random.default_rng(0)
    rows = pool.random_rows(rng, (50, 8))
    for k in pool.varying:
        partners = pool.rows_sharing(rng, k, rows)
        np.testing.assert_array_equal(factors[partners, k], factors[rows, k])
    groups, frequencies = pool.groups(2)
    assert sorted(np.concatenate(groups)) == list(range(len(factors)))
    assert frequencies.sum() == pytest.approx(1.0)


# --- discretised MIG --------------------------------------------------------------------

def test_mig_discrete_of_identity_codes_is_near_one():
    factors = grid()
    result = mig_discrete(identity_codes(factors), factors)
    assert 0.9 <= result["mig"] <= 1.0
    assert result["factors_used"] == [1, 2, 3]
    assert np.isnan(result["mig_per_factor"][0])
    assert result["mi_matrix"].shape == (4, 3)


def test_mig_discrete_is_invariant_to_latent_order_and_to_monotone_transforms_keeping_bins():
    factors = grid()
    codes = identity_codes(factors)
    reference = mig_discrete(codes, factors)["mig"]
    # Equal-width bins: invariant only while distinct values stay in distinct bins.
    assert mig_discrete(7 * np.tanh(codes / 4) - 3, factors)["mig"] == pytest.approx(reference)
    assert mig_discrete(codes[:, [2, 0, 1]], factors)["mig"] == pytest.approx(reference)


def test_mig_discrete_of_zero_random_or_duplicated_codes_is_near_zero():
    factors = grid(repeats=40)
    codes = identity_codes(factors)
    assert mig_discrete(np.zeros_like(codes), factors)["mig"] <= 0.2
    assert mig_discrete(random_codes(factors), factors)["mig"] <= 0.1
    assert mig_discrete(np.hstack([codes, codes]), factors)["mig"] <= 0.1


def test_mig_discrete_subsamples_rows_when_asked():
    factors = grid(repeats=20)
    result = mig_discrete(identity_codes(factors), factors, n_samples=300, seed=1)
    assert 0.9 <= result["mig"] <= 1.0


# --- BetaVAE and FactorVAE scores -------------------------------------------------------

SMALL_VOTES = dict(batch_size=16, n_train=400, n_eval=200)


def test_betavae_score_of_identity_and_permuted_codes_is_near_one():
    factors = grid()
    codes = identity_codes(factors)
    assert betavae_score(codes, factors, **SMALL_VOTES)["eval_accuracy"] >= 0.9
    assert betavae_score(codes[:, ::-1] * 5.0, factors, **SMALL_VOTES)["eval_accuracy"] >= 0.9


def test_betavae_score_of_random_codes_is_near_chance():
    factors = grid()
    result = betavae_score(random_codes(factors), factors, **SMALL_VOTES)
    assert result["eval_accuracy"] < 0.55  # chance is 1/3
    assert result["factors_used"] == [1, 2, 3]


def test_factorvae_score_of_identity_and_permuted_codes_is_one():
    factors = grid()
    codes = identity_codes(factors)
    assert factorvae_score(codes, factors, n_variance_estimate=500, **SMALL_VOTES)[
        "eval_accuracy"] >= 0.95
    permuted = np.hstack([codes[:, [1, 2, 0]], np.zeros((len(codes), 2))])  # + dead latents
    result = factorvae_score(permuted, factors, n_variance_estimate=500, **SMALL_VOTES)
    assert result["eval_accuracy"] >= 0.95
    assert result["num_active_dims"] == 3


def test_factorvae_score_of_zero_or_random_codes_is_low():
    factors = grid()
    zero = factorvae_score(np.zeros((len(factors), 3)), factors, **SMALL_VOTES)
    assert zero["eval_accuracy"] == 0.0 and zero["num_active_dims"] == 0
    noise = factorvae_score(random_codes(factors), factors, n_variance_estimate=500,
                            **SMALL_VOTES)
    assert noise["eval_accuracy"] < 0.55


# --- DCI, SAP, modularity and explicitness ----------------------------------------------

SMALL_DCI = dict(n_train=400, n_test=200, n_estimators=10)


def test_dci_of_identity_codes_is_near_one():
    factors = grid()
    result = dci(identity_codes(factors), factors, **SMALL_DCI)
    assert result["disentanglement"] >= 0.9
    assert result["completeness"] >= 0.9
    assert result["informativeness_test"] >= 0.9
    assert result["importance_matrix"].shape == (3, 3)


def test_dci_specificity_known_importance_matrices():
    from disvae.metrics.dci import _weighted_specificity
    assert _weighted_specificity(np.eye(3)) == pytest.approx(1.0)
    assert _weighted_specificity(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-9)
    twins = np.array([[0.5, 0.0], [0.5, 0.0], [0.0, 1.0]])  # (latents, factors)
    assert _weighted_specificity(twins) == pytest.approx(1.0)  # each latent one factor
    assert _weighted_specificity(twins.T) == pytest.approx(0.5 * (1 - np.log(2) / np.log(3))
                                                           + 0.5 * 1.0)


def test_dci_of_random_codes_is_low():
    factors = grid()
    result = dci(random_codes(factors), factors, **SMALL_DCI)
    assert result["disentanglement"] < 0.2
    assert result["informativeness_test"] < 0.6


def test_sap_of_identity_codes_is_near_one():
    factors = grid()
    continuous = sap(identity_codes(factors), factors, n_train=400, n_test=200,
                     continuous_factors=True)
    assert 0.9 <= continuous["sap"] <= 1.0

def test_sap_discrete_recipe_scores_accuracies_so_its_gap_is_capped_by_chance():
    # LinearSVC (C = 0.01) on one latent separates a binary factor perfectly given the
    # recipe's 10,000 points; every other latent predicts it at chance, 1/2.
    binary = grid(sizes=(2, 2, 2))
    result = sap(identity_codes(binary), binary, n_train=10000, n_test=1000)
    np.testing.assert_allclose(np.diag(result["score_matrix"]), 1.0)
    assert result["sap"] == pytest.approx(0.5, abs=0.05)


def test_sap_of_zero_or_duplicated_codes_is_near_zero():
    factors = grid()
    codes = identity_codes(factors)
    sizes = dict(n_train=400, n_test=200, continuous_factors=True)
    assert sap(np.zeros_like(codes), factors, **sizes)["sap"] <= 0.2
    assert sap(np.hstack([codes, codes]), factors, **sizes)["sap"] <= 0.2


def test_modularity_known_matrices():
    # (K factors, D latents) matrices; known answers of Ridgeway & Mozer's definition.
    assert modularity(np.diag(np.full(5, 5.0))) == pytest.approx(1.0)
    assert modularity(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])) == pytest.approx(2 / 3)
    assert modularity(np.zeros((10, 10))) == 0.0
    assert modularity(np.hstack([np.diag(np.full(5, 5.0))] * 2)) == pytest.approx(1.0)
    assert modularity(np.vstack([np.diag(np.full(5, 5.0))] * 2)) == pytest.approx(1 - 1 / 9)


def test_modularity_explicitness_of_identity_codes_is_near_one():
    factors = grid()
    result = modularity_explicitness(identity_codes(factors), factors, n_train=600, n_test=300)
    assert result["modularity"] >= 0.9
    assert result["explicitness_test"] >= 0.9


def test_modularity_of_shuffled_codes_and_explicitness_of_noise_are_low():
    factors = grid(sizes=(1, 5, 5, 5), repeats=4)
    rng = np.random.default_rng(0)
    shuffled = np.array([rng.permutation(row) for row in identity_codes(factors)])
    result = modularity_explicitness(shuffled, factors, n_train=10000, n_test=300)
    assert result["modularity"] <= 0.2
    noise = modularity_explicitness(random_codes(factors), factors, n_train=600, n_test=300)
    assert 0.4 <= noise["explicitness_test"] <= 0.6


def test_pool_scores_work_on_an_incomplete_shuffled_grid():
    factors = incomplete(grid(repeats=8))
    factors = factors[np.random.default_rng(1).permutation(len(factors))]
    codes = identity_codes(factors)
    assert betavae_score(codes, factors, **SMALL_VOTES)["eval_accuracy"] >= 0.9
    assert factorvae_score(codes, factors, n_variance_estimate=500,
                           **SMALL_VOTES)["eval_accuracy"] >= 0.9
    assert dci(codes, factors, **SMALL_DCI)["informativeness_test"] >= 0.9
    assert sap(codes, factors, n_train=400, n_test=200, continuous_factors=True)["sap"] >= 0.8
    assert modularity_explicitness(codes, factors, n_train=600, n_test=300)["modularity"] >= 0.9


# --- the record of metrics.log ----------------------------------------------------------

def test_compute_all_metrics_is_a_json_record_with_recipes(small_recipes):
    factors = grid(repeats=5)
    codes = identity_codes(factors)
    logvar = np.full(codes.shape, np.log(0.01))
    record = compute_all_metrics(codes, logvar, factors, NAMES, seed=0)
    json.dumps(record, allow_nan=False)
    assert record["MIG"] == record["mig_sampled"]["mig"] and record["MIG"] > 0.8
    assert record["AAM"] == record["mig_sampled"]["aam"]
    assert record["mig_sampled"]["recipe"]["representation"] == "sample"
    assert record["mig_sampled"]["recipe"]["n_samples"] == 300
    assert record["mig_sampled"]["recipe"]["factors_used"] == ["shape", "scale", "posX"]
    assert set(record["mig_sampled"]["mig_per_factor"]) == {"shape", "scale", "posX"}
    assert len(record["mig_sampled"]["mi_matrix"]) == 4  # K rows, colour's all zero
    for key in ("mig_discrete", "betavae", "factorvae", "dci", "sap", "modularity_explicitness",
                "irs"):
        assert "error" not in record[key], record[key]
        recipe = record[key]["recipe"]
        assert recipe["representation"] == "mean" and recipe["seed"] == 0
        assert recipe["factors_used"] == ["shape", "scale", "posX"]
    assert record["betavae"]["eval_accuracy"] >= 0.9
    assert record["dci"]["recipe"]["n_estimators"] == 5
    assert record["irs"]["irs"] > 0.9 and record["irs"]["recipe"]["n_samples"] == 300
    assert set(record["irs"]["irs_per_factor"]) == {"shape", "scale", "posX"}
    unsupervised = record["unsupervised"]
    assert unsupervised["recipe"]["n_samples"] == 300 and unsupervised["recipe"]["n_bins"] == 20
    assert unsupervised["gaussian_total_correlation"] < 0.1  # the crossed grid is uncorrelated
    line = score_line(record)
    for name in ("MIG", "AAM", "MIG_discrete", "BetaVAE", "FactorVAE", "DCI_disentanglement",
                 "SAP", "modularity", "IRS", "gaussian_TC", "gaussian_WC_norm", "MI_score"):
        assert f"{name} " in line, line


def test_each_pool_metric_module_owns_its_recipe(small_recipes, monkeypatch):
    """The suite reads every sample size from the metric's module: changing a module's
    constant changes the recipe recorded in metrics.log, nothing else needs editing."""
    monkeypatch.setattr(importlib.import_module("disvae.metrics.irs"), "DIFF_QUANTILE", 0.5)
    factors = grid(repeats=2)
    codes = identity_codes(factors)
    record = compute_all_metrics(codes, np.full(codes.shape, -4.0), factors, NAMES)
    for name in POOL_METRICS:
        module = importlib.import_module(f"disvae.metrics.{name}")
        recipe = record[module.KEY]["recipe"]
        assert recipe["estimator"] == module.ESTIMATOR
        assert {key: recipe[key] for key in module.recipe()} == module.recipe()
    assert record["irs"]["recipe"]["diff_quantile"] == 0.5


def test_dci_fitted_in_worker_processes_equals_the_serial_fit():
    factors = grid(repeats=6)
    codes = identity_codes(factors) + np.random.default_rng(0).normal(0, 0.3, (len(factors), 3))
    serial = dci(codes, factors, n_jobs=1, **SMALL_DCI)
    parallel = dci(codes, factors, n_jobs=2, **SMALL_DCI)
    np.testing.assert_array_equal(serial["importance_matrix"], parallel["importance_matrix"])
    assert serial["informativeness_test"] == parallel["informativeness_test"]
