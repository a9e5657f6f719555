"""Scores that need no ground truth, on the posterior means (disentanglement_lib's
`unsupervised_metrics`; reported by Locatello et al. 2019, "Challenging Common Assumptions in
the Unsupervised Learning of Disentangled Representations", section 5).

With Sigma the covariance of the codes over 10,000 random images and D = diag(Sigma):
- Gaussian total correlation: KL(N(0, Sigma) || N(0, D)) = 0.5 (sum_j log Sigma_jj -
  log det Sigma), the total correlation of a Gaussian with the codes' covariance (Watanabe
  1960; 0 for uncorrelated codes).
- Gaussian Wasserstein correlation: the squared 2-Wasserstein distance between the same two
  Gaussians, W^2 = tr Sigma + tr D - 2 tr (D^1/2 Sigma D^1/2)^1/2 (Givens & Shortt 1984)
  = 2 tr Sigma - 2 tr (D^1/2 Sigma D^1/2)^1/2; its normalised form divides by tr Sigma.
  disentanglement_lib takes the square root of the similar matrix D Sigma, which has the same
  trace; the symmetric form here is computed from eigenvalues, without a general matrix root.
- Mutual information score: each code discretised into 20 equal-width bins, the discrete
  mutual information I(z_i; z_j) of every pair, and the mean over the D^2 - D off-diagonal
  pairs (nats; 0 for independent codes).
Lower is "more factorised" for all four. Codes of zero variance over the drawn images (no
Gaussian density, log 0 in the total correlation) are left out of the Gaussian scores and
counted in `n_constant_codes`; disentanglement_lib would return NaN for them.
"""
import numpy as np

from disvae.metrics.information import discrete_mutual_info, histogram_discretize

KEY = "unsupervised"
ESTIMATOR = ("Gaussian total and Wasserstein correlation of the codes' covariance, mean "
             "pairwise discrete MI of 20-bin codes (disentanglement_lib; Locatello et al. 2019)")
N_SAMPLES = 10000  # disentanglement_lib's study: unsupervised_metrics.num_train
N_BINS = 20


def recipe():
    """The recipe's sizes (read when called, so that they can be changed in one place)."""
    return {"n_samples": N_SAMPLES, "n_bins": N_BINS}


def _covariance(cov):
    cov = np.atleast_2d(np.asarray(cov, dtype=np.float64))
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or not np.allclose(cov, cov.T):
        raise ValueError(f"cov must be a symmetric (D, D) matrix; got shape {cov.shape}")
    if np.any(np.diag(cov) <= 0):
        raise ValueError("cov has a variance <= 0: leave constant codes out first")
    return cov


def gaussian_total_correlation(cov):
    """Total correlation (nats) of N(0, cov): 0.5 (sum_j log cov_jj - log det cov).

    The KL divergence from N(0, cov) to the product of its marginals N(0, diag(cov)); infinite
    for a singular covariance (a code that is an exact linear function of the others).
    """
    cov = _covariance(cov)
    sign, log_det = np.linalg.slogdet(cov)
    if sign <= 0:
        return float("inf")
    return float(0.5 * (np.sum(np.log(np.diag(cov))) - log_det))


def gaussian_wasserstein_correlation(cov):
    """Squared 2-Wasserstein distance between N(0, cov) and N(0, diag(cov)):
    2 tr cov - 2 tr (D^1/2 cov D^1/2)^1/2 with D = diag(cov) (Givens & Shortt 1984)."""
    cov = _covariance(cov)
    root_diag = np.sqrt(np.diag(cov))
    scaled = cov * root_diag[:, None] * root_diag[None, :]
    eigenvalues = np.clip(np.linalg.eigvalsh(scaled), 0.0, None)
    return float(2 * np.trace(cov) - 2 * np.sum(np.sqrt(eigenvalues)))


def gaussian_wasserstein_correlation_norm(cov):
    """The Wasserstein correlation divided by the total variance tr cov (scale free)."""
    return gaussian_wasserstein_correlation(cov) / float(np.trace(_covariance(cov)))


def mutual_info_score(codes, n_bins=N_BINS):
    """Mean discrete mutual information (nats) between distinct codes of codes (N, D), each
    binned into n_bins equal-width bins; NaN with fewer than two codes."""
    binned = histogram_discretize(codes, n_bins)
    n_codes = binned.shape[1]
    if n_codes < 2:
        return float("nan")
    total = sum(discrete_mutual_info(binned[:, i], binned[:, j])
                for i in range(n_codes) for j in range(n_codes) if i != j)
    return float(total / (n_codes ** 2 - n_codes))


def unsupervised_scores(codes, seed=0, n_samples=N_SAMPLES, n_bins=N_BINS):
    """All four scores of codes (N, D) (posterior means), on n_samples rows drawn at random
    with replacement (None: every row), as disentanglement_lib samples images.

    Returns a dict: gaussian_total_correlation, gaussian_wasserstein_correlation,
    gaussian_wasserstein_correlation_norm, mutual_info_score, covariance (D, D),
    n_constant_codes.
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) < 2:
        raise ValueError(f"codes must be (N, D) with N >= 2; got shape {codes.shape}")
    if n_samples is not None:
        codes = codes[np.random.default_rng(seed).integers(len(codes), size=n_samples)]
    covariance = np.atleast_2d(np.cov(codes, rowvar=False))
    varying = np.diag(covariance) > 0
    result = {"gaussian_total_correlation": float("nan"),
              "gaussian_wasserstein_correlation": float("nan"),
              "gaussian_wasserstein_correlation_norm": float("nan")}
    if varying.any():
        active = covariance[np.ix_(varying, varying)]
        result = {"gaussian_total_correlation": gaussian_total_correlation(active),
                  "gaussian_wasserstein_correlation": gaussian_wasserstein_correlation(active),
                  "gaussian_wasserstein_correlation_norm":
                      gaussian_wasserstein_correlation_norm(active)}
    result.update(mutual_info_score=mutual_info_score(codes, n_bins), covariance=covariance,
                  n_constant_codes=int((~varying).sum()))
    return result


def score(codes, factors, seed=0, **sizes):
    """The suite's entry point: the scores of the codes; the factors are not used."""
    return unsupervised_scores(codes, seed=seed, **sizes)
