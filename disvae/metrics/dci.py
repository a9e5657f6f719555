"""DCI: disentanglement, completeness, informativeness (Eastwood & Williams 2018, "A
Framework for the Quantitative Evaluation of Disentangled Representations", section 3), as in
disentanglement_lib.

One gradient-boosted-tree classifier per factor (scikit-learn's GradientBoostingClassifier
with its defaults: 100 iterations of depth-3 trees, learning rate 0.1, as disentanglement_lib
uses it) predicts the factor class from the D latents of 10,000 random images; its feature
importances form column k of the importance matrix R (D x K). The classifier is this
project's exact re-implementation of that recipe (disvae/metrics/boosted_trees.py: same
trees, importances and predictions to rounding where no two splits tie; ties drawn at random
as scikit-learn does), about 5 times less CPU time (bench/RESULTS.md).
- Disentanglement: sum_j rho_j (1 - H_K(P_j.)), P_j. = R_j. / sum_k R_jk, H_K the entropy
  in base K, rho_j = sum_k R_jk / sum R (eq. 2-3).
- Completeness: sum_k rho_k (1 - H_D(P_.k)), P_.k = R_.k / sum_j R_jk, weighted by factor
  importance like disentanglement_lib (each column of R sums to 1 for trees, so this is the
  plain mean over factors of eq. 4).
- Informativeness: mean accuracy of the classifiers, on the training images and on 5,000
  test images.

The classifiers of the factors are independent: they are fitted in parallel worker
processes (one per core), largest first. The recipe and the results are those of a serial
fit.
"""
import numpy as np
from joblib import Parallel, delayed
from scipy.stats import entropy
from tqdm import tqdm

from disvae.metrics.boosted_trees import BoostedTreesClassifier
from disvae.metrics.factors import scoring_pool

KEY = "dci"
ESTIMATOR = "DCI with gradient-boosted trees (Eastwood & Williams 2018)"
N_TRAIN = 10000
N_TEST = 5000
N_ESTIMATORS = 100  # scikit-learn's GradientBoostingClassifier's default
_EPS = 1e-11


def recipe():
    """The recipe's sizes (read when called, so that they can be changed in one place)."""
    return {"n_train": N_TRAIN, "n_test": N_TEST, "n_estimators": N_ESTIMATORS}


def _weighted_specificity(matrix):
    """sum_i rho_i (1 - H(P_i.)) over the rows i of a non-negative matrix.

    P_i. is row i normalised, H its entropy in base (number of columns), rho_i the row's
    share of the total. Rows = latents gives disentanglement, rows = factors completeness.
    An all-zero matrix counts as uniform (no specificity), as in disentanglement_lib.
    """
    if matrix.sum() == 0:
        matrix = np.ones_like(matrix)
    if matrix.shape[1] == 1:  # a distribution over one outcome has zero entropy
        one_minus_h = np.ones(len(matrix))
    else:
        one_minus_h = 1.0 - entropy(matrix.T + _EPS, base=matrix.shape[1])
    weights = matrix.sum(axis=1) / matrix.sum()
    return float(np.sum(one_minus_h * weights))


def _fit_factor(column, train_x, train_y, test_x, test_y, n_estimators, seed):
    """(column, |feature importances|, train accuracy, test accuracy) of one factor's
    classifier."""
    model = BoostedTreesClassifier(n_estimators=n_estimators, random_state=seed)
    model.fit(train_x, train_y)
    return (column, np.abs(model.feature_importances_),
            np.mean(model.predict(train_x) == train_y), np.mean(model.predict(test_x) == test_y))


def dci(codes, factors, seed=0, n_train=N_TRAIN, n_test=N_TEST, n_estimators=N_ESTIMATORS,
        n_jobs=-1, progress=False):
    """DCI of codes (N, D) (posterior means) against factor classes (N, K).

    The per-factor classifiers are fitted in `n_jobs` worker processes (joblib's loky;
    -1 = one per core, 1 = in this process), the factors with most classes first (a
    multi-class fit grows n_estimators trees per class, so dSprites' 40 orientations cost
    13 times its 3 shapes). They dominate the cost of the whole suite (bench/RESULTS.md).
    progress: a bar over the factors.

    Returns a dict: disentanglement, completeness, informativeness_train,
    informativeness_test, importance_matrix (D, K_used), factors_used.
    """
    codes, factors, pool = scoring_pool(codes, factors, "DCI")
    train, test = pool.train_test_rows(seed, n_train, n_test)
    columns = sorted(range(len(pool.varying)),
                     key=lambda c: -np.unique(factors[train, pool.varying[c]]).size)
    fits = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        delayed(_fit_factor)(column, codes[train], factors[train, pool.varying[column]],
                             codes[test], factors[test, pool.varying[column]], n_estimators,
                             seed) for column in columns)
    fits = sorted(tqdm(fits, total=len(columns), desc="DCI factors", leave=False,
                       disable=not progress), key=lambda fit: fit[0])
    importance = np.column_stack([fit[1] for fit in fits])
    train_accuracy, test_accuracy = [fit[2] for fit in fits], [fit[3] for fit in fits]
    return {
        "disentanglement": _weighted_specificity(importance),
        "completeness": _weighted_specificity(importance.T),
        "informativeness_train": float(np.mean(train_accuracy)),
        "informativeness_test": float(np.mean(test_accuracy)),
        "importance_matrix": importance,
        "factors_used": list(pool.varying),
    }


score = dci  # the suite's entry point
