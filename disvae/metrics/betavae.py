"""BetaVAE score (Higgins et al. 2017, "beta-VAE", section 3), disentanglement_lib's recipe.

Each training point: pick a factor k at random; draw a batch of 64 pairs of images that share
the value of factor k (each pair its own value, the other factors free); the feature is the
mean over the batch of |z(x1) - z(x2)| per latent, the label is k. A linear classifier
(scikit-learn's LogisticRegression with its defaults) learns k from 10,000 such points and the
score is its accuracy on 5,000 fresh ones. A disentangled code has one latent that does not
move when k is fixed, so the class is linearly readable.

Pool version: the first image of a pair is a uniformly drawn row, the second a uniformly drawn
row with the same value of factor k (rows that exist, so incomplete grids work). Only
non-constant factors are labels.
"""
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from disvae.metrics.factors import scoring_pool

KEY = "betavae"
ESTIMATOR = "BetaVAE score (Higgins et al. 2017)"
BATCH_SIZE = 64
N_TRAIN = 10000
N_EVAL = 5000


def recipe():
    """The recipe's sizes (read when called, so that they can be changed in one place)."""
    return {"batch_size": BATCH_SIZE, "n_train": N_TRAIN, "n_eval": N_EVAL}


def _points(codes, pool, rng, n_points, batch_size):
    labels = rng.choice(pool.varying, size=n_points)
    features = np.empty((n_points, codes.shape[1]))
    for k in pool.varying:
        points = np.flatnonzero(labels == k)
        first = pool.random_rows(rng, (len(points), batch_size))
        second = pool.rows_sharing(rng, k, first)
        features[points] = np.abs(codes[first] - codes[second]).mean(axis=1)
    return features, labels


def betavae_score(codes, factors, seed=0, batch_size=BATCH_SIZE, n_train=N_TRAIN,
                  n_eval=N_EVAL):
    """BetaVAE score of codes (N, D) (posterior means) against factor classes (N, K).

    Returns a dict: train_accuracy, eval_accuracy (the score), factors_used.
    """
    codes, factors, pool = scoring_pool(codes, factors, "the BetaVAE score", min_varying=2)
    rng = np.random.default_rng(seed)
    train_x, train_y = _points(codes, pool, rng, n_train, batch_size)
    eval_x, eval_y = _points(codes, pool, rng, n_eval, batch_size)
    model = LogisticRegression(random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # recipe keeps sklearn's 100 steps
        model.fit(train_x, train_y)
    return {
        "train_accuracy": float(model.score(train_x, train_y)),
        "eval_accuracy": float(model.score(eval_x, eval_y)),
        "factors_used": list(pool.varying),
    }


score = betavae_score  # the suite's entry point
