"""UDR, Unsupervised Disentanglement Ranking (Duan et al. 2020, "Unsupervised Model Selection
for Variational Disentangled Representation Learning", section 3, eq. 2), with
disentanglement_lib's recipe (`compute_udr_sklearn`).

Models trained with the same hyperparameters and different seeds agree on a disentangled
representation (up to permutation and sign of the latents) and disagree on entangled ones.
For each ordered pair of models (a, b), encoded on the same images:
1. Standardise every latent; latents whose mean KL to the prior is at most 0.01 nats are
   inactive (set to 0 and left out of the score).
2. Similarity matrix R (D_a x D_b): the absolute coefficients of a Lasso regression
   (alpha 0.1) predicting b's latents from a's ("lasso", disentanglement_lib's default), or the
   absolute Spearman correlations of every pair of latents ("spearman").
3. Relative strength of R restricted to the active latents: for each column, max^2 / sum;
   the mean over columns and the mean over rows, averaged (`relative_strength`). 1 when every
   latent of a has one counterpart in b, near 0 when they are unrelated.
A model's UDR is the median of its scores UDR(b, a) against the other models.

Known answers: models whose latents correspond one to one (any order and sign) score 1 with
Spearman; with Lasso they score 1 - alpha = 0.9, because the L1 penalty shrinks each
coefficient of standardised, uncorrelated codes from 1 to 1 - alpha (disentanglement_lib's
scores carry this factor too). Unrelated models score near 0.
"""
import warnings

import numpy as np
from scipy.stats import rankdata
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso

CORRELATIONS = ("lasso", "spearman")
N_POINTS = 1000  # images encoded per model
KL_THRESHOLD = 0.01  # nats; latents at or below it are inactive
LASSO_ALPHA = 0.1


def _standardise(values):
    """Columns centred and divided by their standard deviation (constant columns to 0)."""
    centred = values - values.mean(axis=0)
    scale = values.std(axis=0)
    return np.divide(centred, scale, out=np.zeros_like(centred), where=scale > 0)


def spearman_matrix(a, b):
    """|Spearman correlation| of every latent of a (N, D_a) with every latent of b (N, D_b),
    (D_a, D_b); 0 where a latent is constant."""
    ranks_a = _standardise(rankdata(a, axis=0))
    ranks_b = _standardise(rankdata(b, axis=0))
    return np.abs(ranks_a.T @ ranks_b / len(a))


def lasso_matrix(a, b, alpha=LASSO_ALPHA, seed=0):
    """|coefficients| of the Lasso regression of b (N, D_b) on a (N, D_a), (D_a, D_b)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = Lasso(alpha=alpha, random_state=seed).fit(a, b)
    return np.abs(np.atleast_2d(model.coef_)).T


def relative_strength(matrix):
    """(mean over columns of max^2 / sum + mean over rows of max^2 / sum) / 2 of a
    non-negative matrix; all-zero rows and columns count 0, an empty matrix scores 0."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.size == 0:
        return 0.0

    def mean_strength(axis):
        top, total = matrix.max(axis=axis), matrix.sum(axis=axis)
        return np.mean(np.divide(top ** 2, total, out=np.zeros_like(total), where=total > 0))

    return float((mean_strength(0) + mean_strength(1)) / 2)


def _checked(representations, kl_per_latent):
    if len(representations) < 2 or len(representations) != len(kl_per_latent):
        raise ValueError(f"UDR needs the codes and the per-latent KL of at least two models; "
                         f"got {len(representations)} codes and {len(kl_per_latent)} KL vectors")
    codes = [np.asarray(r, dtype=np.float64) for r in representations]
    kls = [np.asarray(kl, dtype=np.float64).ravel() for kl in kl_per_latent]
    for i, (code, kl) in enumerate(zip(codes, kls)):
        if code.ndim != 2 or len(code) != len(codes[0]) or code.shape[1] != len(kl):
            raise ValueError(f"model {i}: codes must be (N, D) on the same N images as model 0 "
                             f"with one KL per latent; got {code.shape} and {kl.shape}")
    return codes, kls


def udr(representations, kl_per_latent, correlation="lasso", kl_threshold=KL_THRESHOLD,
        seed=0):
    """UDR of M models from their codes on the same images.

    representations: M arrays (N, D_m) (posterior means of the same N images, same order);
    kl_per_latent: M arrays (D_m,), each latent's mean KL to the prior in nats;
    correlation: "lasso" or "spearman".
    Returns a dict: udr (M,) the model scores, pairwise (M, M) with pairwise[a, b] the score
    of the pair with a's latents as rows (NaN diagonal), active_latents (M lists).
    """
    if correlation not in CORRELATIONS:
        raise ValueError(f"correlation must be one of {CORRELATIONS}; got {correlation!r}")
    codes, kls = _checked(representations, kl_per_latent)
    active = [kl > kl_threshold for kl in kls]
    codes = [_standardise(code) * mask for code, mask in zip(codes, active)]
    n_models = len(codes)
    pairwise = np.full((n_models, n_models), np.nan)
    for a in range(n_models):
        for b in range(n_models):
            if a == b:
                continue
            if correlation == "lasso":
                matrix = lasso_matrix(codes[a], codes[b], seed=seed)
            else:
                matrix = spearman_matrix(codes[a], codes[b])
            pairwise[a, b] = relative_strength(matrix[np.ix_(active[a], active[b])])
    scores = [float(np.median(np.delete(pairwise[:, m], m))) for m in range(n_models)]
    return {"udr": scores, "pairwise": pairwise,
            "active_latents": [np.flatnonzero(mask).tolist() for mask in active]}
