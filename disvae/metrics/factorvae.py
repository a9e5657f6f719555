"""FactorVAE score (Kim & Mnih 2018, "Disentangling by Factorising", section 4), as in
disentanglement_lib.

1. Scale: the variance of each latent over 10,000 random images (ddof = 1); latents whose
   standard deviation is below 0.05 (disentanglement_lib's `prune_dims.threshold`, applied to
   the square root of the variance) are collapsed and ignored.
2. Each vote: pick a factor k at random, draw 64 images sharing one value of k, and vote for
   the active latent with the smallest variance over the batch relative to its global
   variance: (latent argmin, k).
3. Classifier: each latent predicts the factor it received most votes for (majority vote).
   The score is the accuracy of that classifier on 5,000 fresh votes (10,000 for training).

Pool version: the batch is 64 uniformly drawn rows with the value of factor k of a uniformly
drawn row (rows that exist, so incomplete grids work). Only non-constant factors are voted.
"""
import numpy as np

from disvae.metrics.factors import scoring_pool

KEY = "factorvae"
ESTIMATOR = "FactorVAE score (Kim & Mnih 2018)"
BATCH_SIZE = 64
N_TRAIN = 10000
N_EVAL = 5000
N_VARIANCE_ESTIMATE = 10000
PRUNE_STD_THRESHOLD = 0.05
_CHUNK_VOTES = 1000  # bounds the (votes, batch, D) gather to ~5 MB per D


def recipe():
    """The recipe's sizes (read when called, so that they can be changed in one place)."""
    return {"batch_size": BATCH_SIZE, "n_train": N_TRAIN, "n_eval": N_EVAL,
            "n_variance_estimate": N_VARIANCE_ESTIMATE,
            "prune_std_threshold": PRUNE_STD_THRESHOLD}


def _votes(codes, pool, rng, n_votes, batch_size, global_variances, active):
    factor_rank = {k: r for r, k in enumerate(pool.varying)}
    votes = np.zeros((len(pool.varying), int(active.sum())), dtype=np.int64)
    labels = rng.choice(pool.varying, size=n_votes)
    for start in range(0, n_votes, _CHUNK_VOTES):
        for k in pool.varying:
            points = np.flatnonzero(labels[start:start + _CHUNK_VOTES] == k)
            anchors = pool.random_rows(rng, len(points))
            rows = pool.rows_sharing(rng, k, np.repeat(anchors[:, None], batch_size, axis=1))
            local = codes[rows][:, :, active].var(axis=1, ddof=1)
            argmin = np.argmin(local / global_variances[active], axis=1)
            np.add.at(votes, (factor_rank[k], argmin), 1)
    return votes


def factorvae_score(codes, factors, seed=0, batch_size=BATCH_SIZE, n_train=N_TRAIN,
                    n_eval=N_EVAL, n_variance_estimate=N_VARIANCE_ESTIMATE,
                    prune_std_threshold=PRUNE_STD_THRESHOLD):
    """FactorVAE score of codes (N, D) (posterior means) against factor classes (N, K).

    Returns a dict: train_accuracy, eval_accuracy (the score), num_active_dims, factors_used.
    """
    codes, factors, pool = scoring_pool(codes, factors, "the FactorVAE score")
    rng = np.random.default_rng(seed)
    global_variances = codes[pool.random_rows(rng, n_variance_estimate)].var(axis=0, ddof=1)
    active = np.sqrt(global_variances) >= prune_std_threshold
    result = {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": int(active.sum()),
              "factors_used": list(pool.varying)}
    if not active.any():
        return result
    train_votes = _votes(codes, pool, rng, n_train, batch_size, global_variances, active)
    eval_votes = _votes(codes, pool, rng, n_eval, batch_size, global_variances, active)
    classifier = np.argmax(train_votes, axis=0)  # factor predicted by each active latent
    latents = np.arange(train_votes.shape[1])
    result["train_accuracy"] = float(train_votes[classifier, latents].sum() / train_votes.sum())
    result["eval_accuracy"] = float(eval_votes[classifier, latents].sum() / eval_votes.sum())
    return result


score = factorvae_score  # the suite's entry point
