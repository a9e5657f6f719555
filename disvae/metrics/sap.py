"""SAP score, Separated Attribute Predictability (Kumar et al. 2018, "Variational Inference of
Disentangled Latent Concepts from Unlabeled Observations", section 3), as in
disentanglement_lib.

Score matrix S (D x K): for discrete factors (disentanglement_lib's default for every dataset)
S_jk is the test accuracy of a linear SVM (scikit-learn's LinearSVC, C = 0.01, balanced class
weights) that predicts factor k from latent j alone (a set of thresholds on one number),
trained on 10,000 random images and tested on 5,000. For continuous factors S_jk is the R^2 of
a linear regression, cov(z_j, v_k)^2 / (var z_j var v_k). SAP = mean over factors of the gap
between the two largest entries of S_.k.

Two properties of the discrete recipe to keep in mind when reading numbers: the entries are
plain accuracies (disentanglement_lib's choice; Kumar et al. describe balanced accuracy), so a
latent that knows nothing still scores the majority rate and the gap of a perfect code is at
most 1 - chance (0.5 for a binary factor); and a one-feature linear SVM, one-vs-rest, cannot
isolate middle classes of a many-valued factor, so ideal codes of dSprites' positions score
low. The continuous variant (R^2) is the one whose ideal code scores 1.
"""
import numpy as np
from sklearn.svm import LinearSVC

from disvae.metrics.factors import scoring_pool

KEY = "sap"
ESTIMATOR = "SAP, discrete factors, LinearSVC (Kumar et al. 2018)"
N_TRAIN = 10000
N_TEST = 5000
SVM_C = 0.01


def recipe():
    """The recipe's sizes (read when called, so that they can be changed in one place)."""
    return {"n_train": N_TRAIN, "n_test": N_TEST}


def _discrete_score(train_code, train_y, test_code, test_y):
    classifier = LinearSVC(C=SVM_C, class_weight="balanced")
    classifier.fit(train_code[:, None], train_y)
    return float(np.mean(classifier.predict(test_code[:, None]) == test_y))


def _continuous_score(code, y):
    covariance = np.cov(code, y, ddof=1)
    if covariance[0, 0] <= 1e-12:
        return 0.0
    return float(covariance[0, 1] ** 2 / (covariance[0, 0] * covariance[1, 1]))


def sap(codes, factors, seed=0, n_train=N_TRAIN, n_test=N_TEST, continuous_factors=False):
    """SAP score of codes (N, D) (posterior means) against factor classes (N, K).

    Returns a dict: sap, score_matrix (D, K_used), factors_used.
    """
    codes, factors, pool = scoring_pool(codes, factors, "the SAP score")
    train, test = pool.train_test_rows(seed, n_train, n_test)
    score_matrix = np.zeros((codes.shape[1], len(pool.varying)))
    for j in range(codes.shape[1]):
        for column, k in enumerate(pool.varying):
            if continuous_factors:
                score_matrix[j, column] = _continuous_score(codes[train, j], factors[train, k])
            else:
                score_matrix[j, column] = _discrete_score(codes[train, j], factors[train, k],
                                                          codes[test, j], factors[test, k])
    ordered = np.sort(score_matrix, axis=0)
    gap = ordered[-1] - ordered[-2] if len(ordered) > 1 else ordered[-1]
    return {"sap": float(np.mean(gap)), "score_matrix": score_matrix,
            "factors_used": list(pool.varying)}


score = sap  # the suite's entry point
