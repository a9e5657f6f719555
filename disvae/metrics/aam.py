"""Axis Alignment Metric (AAM), the original disentangling-vae toolkit's own score.

From a mutual-information matrix I (K factors x D latents), for each factor k with the latent
informations sorted in decreasing order I_(1) >= I_(2) >= ...:

    AAM_k = max(0, I_(1) - sum_{r >= 2} I_(r)) / I_(1)    (0 when I_(1) = 0),

and AAM = mean over factors. It is 1 when each factor is carried by a single latent, however
completely, and 0 when the information is spread over latents (README of the original
toolkit, doc/imgs/aam.png). Unlike MIG it is not normalised by the factor's entropy.
"""
import numpy as np


def aam(mi_matrix):
    """AAM of a (K, D) mutual-information matrix; returns (aam, aam_per_factor (K,))."""
    mi = np.clip(np.asarray(mi_matrix, dtype=np.float64), 0.0, None)
    if mi.ndim != 2 or mi.shape[0] == 0:
        raise ValueError(f"mi_matrix must be (K factors, D latents) with K >= 1; got {mi.shape}")
    top = mi.max(axis=1)
    rest = mi.sum(axis=1) - top
    per_factor = np.divide(np.clip(top - rest, 0.0, None), top, out=np.zeros_like(top),
                           where=top > 0)
    return float(per_factor.mean()), per_factor
