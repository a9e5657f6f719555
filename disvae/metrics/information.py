"""Discrete information quantities shared by the scores: histograms, MI tables, the MIG gap.

disentanglement_lib (Locatello et al. 2019) discretises each latent into 20 equal-width bins
over its observed range (`histogram_discretize`) and computes the mutual information of
(bin, factor class) from their contingency table (`discrete_mutual_info`, the quantity of
scikit-learn's `mutual_info_score`). The Mutual Information Gap of Chen et al. 2018 (eq. 6)
normalises the gap between the two most informative latents by the factor's entropy
(`mutual_information_gap`); both MIG estimators use it.
"""
import numpy as np


def histogram_discretize(codes, n_bins=20):
    """Bin index (0 .. n_bins-1) of each code, equal-width bins over each latent's range.

    Edges as numpy.histogram's (a constant latent falls in a single bin); the maximum falls
    in the last bin. Same binning as disentanglement_lib's `_histogram_discretize`, whose
    indices run 1 .. n_bins. codes: (N, D); returns int64 (N, D).
    """
    codes = np.asarray(codes, dtype=np.float64)
    binned = np.empty(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, j], bins=n_bins)
        binned[:, j] = np.digitize(codes[:, j], edges[:-1]) - 1
    return binned


def discrete_mutual_info(a, b):
    """Mutual information (nats) of two integer label arrays, from their contingency table."""
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    a, b = a.ravel(), b.ravel()
    n_b = b.max() + 1
    joint = np.bincount(a * n_b + b, minlength=(a.max() + 1) * n_b).reshape(-1, n_b)
    joint = joint / len(a)
    outer = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    return float(np.sum(joint[nonzero] * np.log(joint[nonzero] / outer[nonzero])))


def discrete_mutual_info_matrix(binned_codes, factors):
    """(K, D) matrix of I(factor_k; binned latent_j) in nats."""
    n_factors, n_latents = factors.shape[1], binned_codes.shape[1]
    return np.array([[discrete_mutual_info(factors[:, k], binned_codes[:, j])
                      for j in range(n_latents)] for k in range(n_factors)])


def mutual_information_gap(mi_matrix, factor_entropies):
    """Per-factor MIG (I_(1) - I_(2)) / H(v_k) from a (K, D) MI matrix (Chen et al. 2018, eq. 6).

    Factors of zero entropy get NaN (they are skipped by the scores). With a single latent
    the second largest information is taken as 0.
    """
    mi = np.asarray(mi_matrix, dtype=np.float64)
    entropies = np.asarray(factor_entropies, dtype=np.float64)
    ordered = -np.sort(-mi, axis=1)
    second = ordered[:, 1] if mi.shape[1] > 1 else np.zeros(len(mi))
    gap = ordered[:, 0] - second
    return np.divide(gap, entropies, out=np.full(len(mi), np.nan), where=entropies > 0)
