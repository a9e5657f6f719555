"""Disentanglement scores: pure functions on arrays of codes and factor classes.

Each module holds one score and its recipe's defaults (sample sizes, bins, thresholds):

- `mig_sampled`: MIG with sampled entropies over the whole dataset (Chen et al. 2018), with
  AAM beside it; `aggregate_posterior` and `mixture_kernel` hold its entropy estimator.
- `aam`: the original toolkit's Axis Alignment Metric from an MI matrix.
- `mig_discrete`: disentanglement_lib's MIG on 20-bin histograms of posterior means.
- `betavae`, `factorvae`, `dci`, `sap`, `modularity_explicitness`: disentanglement_lib's
  recipes on a pool of encoded images (posterior means).
- `irs`: the Interventional Robustness Score (Suter et al. 2019).
- `unsupervised`: Gaussian total and Wasserstein correlation and the mutual information
  score of the codes, which need no factors (disentanglement_lib).
- `udr`: Unsupervised Disentanglement Ranking of models trained with different seeds
  (Duan et al. 2020), on the codes of several models.
- `suite.compute_all_metrics`: all of them, with recipes, as the record of `metrics.log`.

Inputs: `mean`, `logvar` or `codes` (N, D) and `factors` (N, K) integer classes of the same
N images (a whole dataset or any subset of its grid); constant factors are skipped.
"""
from disvae.metrics.aam import aam
from disvae.metrics.aggregate_posterior import (aggregate_posterior_entropy,
                                                log_aggregate_posterior)
from disvae.metrics.betavae import betavae_score
from disvae.metrics.dci import dci
from disvae.metrics.factorvae import factorvae_score
from disvae.metrics.irs import irs
from disvae.metrics.mig_discrete import mig_discrete
from disvae.metrics.mig_sampled import mig_sampled
from disvae.metrics.modularity_explicitness import modularity, modularity_explicitness
from disvae.metrics.sap import sap
from disvae.metrics.suite import compute_all_metrics
from disvae.metrics.udr import udr
from disvae.metrics.unsupervised import (gaussian_total_correlation,
                                         gaussian_wasserstein_correlation,
                                         gaussian_wasserstein_correlation_norm, mutual_info_score,
                                         unsupervised_scores)

__all__ = ["aam", "aggregate_posterior_entropy", "betavae_score", "compute_all_metrics", "dci",
           "factorvae_score", "gaussian_total_correlation", "gaussian_wasserstein_correlation",
           "gaussian_wasserstein_correlation_norm", "irs", "log_aggregate_posterior",
           "mig_discrete", "mig_sampled", "modularity", "modularity_explicitness",
           "mutual_info_score", "sap", "udr", "unsupervised_scores"]
