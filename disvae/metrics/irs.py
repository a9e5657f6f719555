"""IRS, the Interventional Robustness Score (Suter et al. 2019, "Robustly Disentangled Causal
Mechanisms: Validating Deep Representations for Interventional Robustness", section 4 and
its scalable estimate, eq. 7-8), with disentanglement_lib's recipe.

Recipe: 10,000 images drawn at random, encoded to the posterior means; the factor classes
discretised into 20 equal-width bins (disentanglement_lib's `make_discretizer`: factors with
more than 20 values share bins); code dimensions constant over the drawn images dropped. For
code j and factor k, with the images grouped by the (binned) value v of k:

    EMPD_jk = mean over v of the 0.99-quantile of |z_j - E[z_j | v_k = v]| in group v,
    IRS_jk  = 1 - EMPD_jk / max_n |z_j - E[z_j]|,

the robustness of code j to changes of every factor but k (1: fixing k fixes z_j). Each code's
score is its best factor's IRS_jk (that factor is its "parent"), and IRS = the mean of the
codes' scores weighted by their largest deviation max_n |z_j - E[z_j]| (0 when no code
varies). The paper's version takes the maximum (quantile 1.0); the 0.99 quantile makes it
robust to outliers.

Per-factor detail: `irs_per_factor[k]` is the same weighted mean over the codes whose parent
is k (NaN for a factor that is no code's parent), so IRS is their mean weighted by the total
deviation of each factor's codes.
"""
import numpy as np

from disvae.metrics.factors import scoring_pool
from disvae.metrics.information import histogram_discretize

KEY = "irs"
ESTIMATOR = "IRS, interventional robustness (Suter et al. 2019; disentanglement_lib)"
N_SAMPLES = 10000  # disentanglement_lib's study: irs.num_train
DIFF_QUANTILE = 0.99
N_BINS = 20  # factor discretisation (disentanglement_lib's histogram discretizer)


def recipe():
    """The recipe's sizes (read when called, so that they can be changed in one place)."""
    return {"n_samples": N_SAMPLES, "diff_quantile": DIFF_QUANTILE, "n_bins": N_BINS}


def irs_matrix(codes, binned_factors, diff_quantile=DIFF_QUANTILE):
    """(IRS_jk (D, K), max deviations (D,)) of codes (N, D) whose every dimension varies,
    against discrete factors (N, K)."""
    deviations = np.abs(codes - codes.mean(axis=0)).max(axis=0)
    empd = np.zeros((codes.shape[1], binned_factors.shape[1]))
    for k in range(binned_factors.shape[1]):
        values = np.unique(binned_factors[:, k])
        for value in values:
            group = codes[binned_factors[:, k] == value]
            spread = np.abs(group - group.mean(axis=0))
            empd[:, k] += np.quantile(spread, diff_quantile, axis=0)
        empd[:, k] /= len(values)
    return 1.0 - empd / deviations[:, None], deviations


def irs(codes, factors, diff_quantile=DIFF_QUANTILE, n_samples=N_SAMPLES, n_bins=N_BINS,
        seed=0):
    """IRS of codes (N, D) (posterior means) against factor classes (N, K).

    n_samples: rows drawn at random with replacement with `seed` (None: every row).
    Returns a dict: irs, irs_per_factor (K,; NaN for constant factors and factors that are no
    code's parent), irs_per_code (D,; NaN for constant codes), parents (D,; the factor index
    of each varying code, -1 for constant ones), irs_matrix (D, K; NaN rows for constant
    codes and NaN columns for constant factors), max_deviations (D,), num_active_dims,
    factors_used.
    """
    codes, factors, pool = scoring_pool(codes, factors, "IRS")
    if n_samples is not None:
        rows = pool.random_rows(np.random.default_rng(seed), n_samples)
        codes, factors = codes[rows], factors[rows]
    n_codes, n_factors = codes.shape[1], factors.shape[1]
    used = list(pool.varying)
    active = codes.std(axis=0) > 0
    matrix = np.full((n_codes, n_factors), np.nan)
    deviations = np.zeros(n_codes)
    per_code = np.full(n_codes, np.nan)
    parents = np.full(n_codes, -1)
    per_factor = np.full(n_factors, np.nan)
    result = {"irs": 0.0, "irs_per_factor": per_factor, "irs_per_code": per_code,
              "parents": parents, "irs_matrix": matrix, "max_deviations": deviations,
              "num_active_dims": int(active.sum()), "factors_used": used}
    if not active.any():
        return result
    binned = histogram_discretize(factors[:, used], n_bins)
    matrix[np.ix_(active, used)], deviations[active] = irs_matrix(codes[:, active], binned,
                                                                  diff_quantile)
    per_code[active] = matrix[np.ix_(active, used)].max(axis=1)
    parents[active] = np.asarray(used)[matrix[np.ix_(active, used)].argmax(axis=1)]
    result["irs"] = float(np.average(per_code[active], weights=deviations[active]))
    for k in used:
        children = parents == k
        if children.any():
            per_factor[k] = np.average(per_code[children], weights=deviations[children])
    return result


score = irs  # the suite's entry point
