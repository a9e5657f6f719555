"""DCI: disentanglement, completeness, informativeness (Eastwood & Williams 2018, "A
Framework for the Quantitative Evaluation of Disentangled Representations", section 3), as in
disentanglement_lib.

One gradient-boosted-tree classifier per factor (scikit-learn's GradientBoostingClassifier,
its defaults: 100 trees of depth 3) predicts the factor class from the D latents of 10,000
random images; its feature importances form column k of the importance matrix R (D x K).
- Disentanglement: sum_j rho_j (1 - H_K(P_j.)), P_j. = R_j. / sum_k R_jk, H_K the entropy
  in base K, rho_j = sum_k R_jk / sum R (eq. 2-3).
- Completeness: sum_k rho_k (1 - H_D(P_.k)), P_.k = R_.k / sum_j R_jk, weighted by factor
  importance like disentanglement_lib (each column of R sums to 1 for trees, so this is the
  plain mean over factors of eq. 4).
- Informativeness: mean accuracy of the classifiers, on the training images and on 5,000
  test images.
"""
import numpy as np
from scipy.stats import entropy
from sklearn.ensemble import GradientBoostingClassifier

from disvae.metrics.factors import FactorPool, validate

N_TRAIN = 10000
N_TEST = 5000
N_ESTIMATORS = 100  # GradientBoostingClassifier's default
_EPS = 1e-11


def _weighted_one_minus_entropy(importance, axis):
    """sum over `axis`' complement of weight * (1 - entropy in base size of `axis`)."""
    matrix = importance if axis == 1 else importance.T
    if matrix.sum() == 0:
        matrix = np.ones_like(matrix)
    if matrix.shape[1] == 1:  # a distribution over one outcome has zero entropy
        one_minus_h = np.ones(len(matrix))
    else:
        one_minus_h = 1.0 - entropy(matrix.T + _EPS, base=matrix.shape[1])
    weights = matrix.sum(axis=1) / matrix.sum()
    return float(np.sum(one_minus_h * weights))


def dci(codes, factors, seed=0, n_train=N_TRAIN, n_test=N_TEST, n_estimators=N_ESTIMATORS):
    """DCI of codes (N, D) (posterior means) against factor classes (N, K).

    Returns a dict: disentanglement, completeness, informativeness_train,
    informativeness_test, importance_matrix (D, K_used), factors_used.
    """
    codes, factors = validate(codes, factors)
    pool = FactorPool(factors)
    if not pool.varying:
        raise ValueError("DCI needs at least one non-constant factor")
    rng = np.random.default_rng(seed)
    train, test = pool.random_rows(rng, n_train), pool.random_rows(rng, n_test)
    importance = np.zeros((codes.shape[1], len(pool.varying)))
    train_accuracy, test_accuracy = [], []
    for column, k in enumerate(pool.varying):
        model = GradientBoostingClassifier(n_estimators=n_estimators, random_state=seed)
        model.fit(codes[train], factors[train, k])
        importance[:, column] = np.abs(model.feature_importances_)
        train_accuracy.append(np.mean(model.predict(codes[train]) == factors[train, k]))
        test_accuracy.append(np.mean(model.predict(codes[test]) == factors[test, k]))
    return {
        "disentanglement": _weighted_one_minus_entropy(importance, axis=1),
        "completeness": _weighted_one_minus_entropy(importance, axis=0),
        "informativeness_train": float(np.mean(train_accuracy)),
        "informativeness_test": float(np.mean(test_accuracy)),
        "importance_matrix": importance,
        "factors_used": list(pool.varying),
    }
