"""MIG with discretised latents (disentanglement_lib; Locatello et al. 2019, appendix).

Recipe: 10,000 images drawn at random and encoded to the posterior mean; each latent
discretised into 20 equal-width bins over its observed range; I(z_j; v_k) the discrete mutual
information of (bin, factor class); H(v_k) the empirical entropy of the drawn classes;
MIG_k = (I_(1) - I_(2)) / H(v_k) (Chen et al. 2018, eq. 6) and MIG = mean over all
(non-constant) factors, shape included on dSprites. It does not agree with the sampled-entropy
MIG (`mig_sampled`): the binning caps and biases the information.
"""
import numpy as np

from disvae.metrics.factors import FactorPool, factor_entropy, validate
from disvae.metrics.information import (discrete_mutual_info_matrix, histogram_discretize,
                                        mutual_information_gap)

KEY = "mig_discrete"
ESTIMATOR = "discretised MIG (disentanglement_lib)"
N_BINS = 20
N_SAMPLES = 10000


def recipe():
    """The recipe's sizes (read when called, so that they can be changed in one place)."""
    return {"n_samples": N_SAMPLES, "n_bins": N_BINS}


def mig_discrete(codes, factors, n_bins=N_BINS, n_samples=None, seed=0):
    """Discretised MIG of codes (N, D) against factor classes (N, K).

    n_samples: None scores every given row; otherwise that many rows are drawn at random
    (with replacement, as disentanglement_lib samples factors) with `seed`.
    Returns a dict: mig, mig_per_factor (K,; NaN for constant factors), mi_matrix (K, D)
    in nats, factor_entropies (K,), factors_used.
    """
    codes, factors = validate(codes, factors)
    if n_samples is not None:
        rows = FactorPool(factors).random_rows(np.random.default_rng(seed), n_samples)
        codes, factors = codes[rows], factors[rows]
    mi_matrix = discrete_mutual_info_matrix(histogram_discretize(codes, n_bins), factors)
    entropies = np.array([factor_entropy(factors[:, k]) for k in range(factors.shape[1])])
    per_factor = mutual_information_gap(mi_matrix, entropies)
    used = [k for k in range(factors.shape[1]) if entropies[k] > 0]
    return {
        "mig": float(np.mean(per_factor[used])) if used else float("nan"),
        "mig_per_factor": per_factor,
        "mi_matrix": mi_matrix,
        "factor_entropies": entropies,
        "factors_used": used,
    }


score = mig_discrete  # the suite's entry point
