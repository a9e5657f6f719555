"""Modularity and explicitness (Ridgeway & Mozer 2018, "Learning Deep Disentangled Embeddings
with the F-Statistic Loss", section 3), as in disentanglement_lib.

Modularity: from the discrete MI matrix m (20 equal-width bins per latent, 10,000 random
images), for each latent j with theta_j = max_k m_jk,
    delta_j = sum_{k != argmax} m_jk^2 / (theta_j^2 (K - 1)),   modularity_j = 1 - delta_j
(0 for a latent with no information); modularity = mean over latents. 1 when each latent
informs about one factor only.
Explicitness: latents standardised with the training mean and standard deviation; for each
factor a logistic regression (scikit-learn's defaults) predicts the class from all latents;
its one-vs-rest ROC AUC, macro-averaged over classes, on 10,000 training and 5,000 test
images; explicitness = mean over factors.
"""
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import label_binarize

from disvae.metrics.factors import scoring_pool
from disvae.metrics.information import discrete_mutual_info_matrix, histogram_discretize

KEY = "modularity_explicitness"
ESTIMATOR = "modularity and explicitness (Ridgeway & Mozer 2018)"
N_TRAIN = 10000
N_TEST = 5000
N_BINS = 20


def recipe():
    """The recipe's sizes (read when called, so that they can be changed in one place)."""
    return {"n_train": N_TRAIN, "n_test": N_TEST, "n_bins": N_BINS}


def modularity(mi_matrix):
    """Ridgeway & Mozer's modularity of a (K, D) mutual-information matrix (mean over latents)."""
    squared = np.square(np.asarray(mi_matrix, dtype=np.float64)).T  # (D, K)
    if squared.shape[1] < 2:
        raise ValueError("modularity needs at least two factors")
    top = squared.max(axis=1)
    delta = np.divide(squared.sum(axis=1) - top, top * (squared.shape[1] - 1),
                      out=np.ones_like(top), where=top > 0)
    return float(np.mean(np.where(top > 0, 1.0 - delta, 0.0)))


def _macro_auc(model, codes, classes):
    """One-vs-rest ROC AUC, macro-averaged over the model's classes that occur in `classes`."""
    truth = label_binarize(classes, classes=model.classes_)
    scores = model.predict_proba(codes)
    if len(model.classes_) == 2:
        truth = np.hstack([1 - truth, truth])
    usable = (truth.min(axis=0) == 0) & (truth.max(axis=0) == 1)
    return float(roc_auc_score(truth[:, usable], scores[:, usable], average="macro"))


def modularity_explicitness(codes, factors, seed=0, n_train=N_TRAIN, n_test=N_TEST,
                            n_bins=N_BINS):
    """Modularity and explicitness of codes (N, D) (posterior means) against classes (N, K).

    A class absent from the evaluated images has no ROC curve and is left out of the macro
    average (disentanglement_lib would fail). Returns a dict: modularity, explicitness_train,
    explicitness_test, mi_matrix (K_used, D), factors_used.
    """
    codes, factors, pool = scoring_pool(codes, factors, "modularity", min_varying=2)
    train, test = pool.train_test_rows(seed, n_train, n_test)
    used = factors[:, pool.varying]
    mi_matrix = discrete_mutual_info_matrix(histogram_discretize(codes[train], n_bins),
                                            used[train])
    centre, scale = codes[train].mean(axis=0), codes[train].std(axis=0)
    scale[scale == 0] = 1.0
    train_x, test_x = (codes[train] - centre) / scale, (codes[test] - centre) / scale
    auc_train, auc_test = [], []
    for column in range(used.shape[1]):
        model = LogisticRegression()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # recipe keeps 100 steps
            model.fit(train_x, used[train, column])
        auc_train.append(_macro_auc(model, train_x, used[train, column]))
        auc_test.append(_macro_auc(model, test_x, used[test, column]))
    return {
        "modularity": modularity(mi_matrix),
        "explicitness_train": float(np.mean(auc_train)),
        "explicitness_test": float(np.mean(auc_test)),
        "mi_matrix": mi_matrix,
        "factors_used": list(pool.varying),
    }


score = modularity_explicitness  # the suite's entry point
