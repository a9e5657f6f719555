"""Every score of the package on one encoded pool, as a JSON-serialisable record.

`compute_all_metrics` is what goes into a run's `metrics.log`: each score sits beside its
recipe (estimator, sample sizes, seed, factors used, representation: "sample" for the
sampled MIG, "mean" for the disentanglement_lib scores), so numbers from different estimators
are never confused (spec: the two MIGs disagree). The top-level "MIG" and "AAM" keep the
original toolkit's file format: the sampled-entropy MIG and AAM over all non-constant
factors, shape included, as the original averaged them.
"""
import math
import time
from importlib import import_module

import numpy as np

from disvae.metrics.aggregate_posterior import resolve_backend


def _recipe(name):
    """The module of a score (the package re-exports each score under its module's name)."""
    return import_module(f"disvae.metrics.{name}")


def _jsonable(value):
    """numpy arrays and scalars to lists and floats; NaN and infinities to None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def _per_factor(values, used, names):
    return {names[k]: values[k] for k in used}


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    try:
        result = function(*args, **kwargs)
    except ValueError as error:  # e.g. too few non-constant factors for this score
        result = {"error": str(error)}
    result["elapsed_s"] = time.perf_counter() - start
    return result


def compute_all_metrics(mean, logvar, factors, factor_names, seed=0, progress=False,
                        device=None, dci_trees=None):
    """All scores of `disvae.metrics` for posteriors (mean, logvar) (N, D) of a pool of images
    with factor classes (N, K) named `factor_names`; returns a JSON-serialisable dict.

    dci_trees: number of boosted trees per factor for DCI (default: the recipe's 100, which
    dominates the suite's time on a CPU); the number used is recorded in the recipe.
    """
    mean = np.asarray(mean, dtype=np.float32)
    factors = np.asarray(factors)
    names = list(factor_names)
    if len(names) != factors.shape[1]:
        raise ValueError(f"{len(names)} factor names for {factors.shape[1]} factors")
    backend, _ = resolve_backend("auto", device)
    record = {"n_images": int(len(mean)), "n_latents": int(mean.shape[1]),
              "factor_names": names, "seed": seed}

    def used_names(result):
        return [names[k] for k in result.get("factors_used", [])]

    def pool_recipe(result, estimator, **sizes):
        return {"estimator": estimator, "representation": "mean", "seed": seed,
                "factors_used": used_names(result), **sizes,
                "elapsed_s": result.pop("elapsed_s")}

    mig_s, mig_d = _recipe("mig_sampled"), _recipe("mig_discrete")
    start = time.perf_counter()  # bad inputs raise here, before any other score
    sampled = mig_s.mig_sampled(mean, logvar, factors, n_samples=mig_s.N_SAMPLES, seed=seed,
                                factor_names=names, progress=progress, device=device)
    sampled["elapsed_s"] = time.perf_counter() - start
    used = sampled["factors_used"]
    record["MIG"] = sampled["mig"]
    record["AAM"] = sampled["aam"]
    record["mig_sampled"] = {
        "mig": sampled["mig"],
        "mig_without_shape": sampled["mig_without_shape"],
        "aam": sampled["aam"],
        "mig_per_factor": _per_factor(sampled["mig_per_factor"], used, names),
        "aam_per_factor": _per_factor(sampled["aam_per_factor"], used, names),
        "factor_entropies": _per_factor(sampled["factor_entropies"], used, names),
        "marginal_entropies": sampled["marginal_entropies"],
        "conditional_entropies": sampled["conditional_entropies"],
        "mi_matrix": sampled["mi_matrix"],
        "recipe": {
            "estimator": "sampled-entropy MIG over all images (Chen et al. 2018); AAM from "
                         "the same MI matrix (original toolkit)",
            "representation": "sample", "n_samples": mig_s.N_SAMPLES,
            "n_images": int(len(mean)), "seed": seed, "factors_used": used_names(sampled),
            "mig_without_shape_excludes": mig_s.EXCLUDED_BY_CHEN,
            "mi_matrix_rows": names, "entropy_unit": "nats", "backend": backend,
            "elapsed_s": sampled["elapsed_s"],
        },
    }

    discrete = _timed(mig_d.mig_discrete, mean, factors, n_bins=mig_d.N_BINS,
                      n_samples=mig_d.N_SAMPLES, seed=seed)
    recipe = pool_recipe(discrete, "discretised MIG (disentanglement_lib)",
                         n_samples=mig_d.N_SAMPLES, n_bins=mig_d.N_BINS, mi_matrix_rows=names)
    if "error" in discrete:
        record["mig_discrete"] = {"error": discrete["error"], "recipe": recipe}
    else:
        record["mig_discrete"] = {
            "mig": discrete["mig"],
            "mig_per_factor": _per_factor(discrete["mig_per_factor"], discrete["factors_used"],
                                          names),
            "mi_matrix": discrete["mi_matrix"],
            "recipe": recipe,
        }

    betavae, factorvae = _recipe("betavae"), _recipe("factorvae")
    dci_module, sap_module = _recipe("dci"), _recipe("sap")
    modex = _recipe("modularity_explicitness")
    scores = {
        "betavae": (betavae.betavae_score, "BetaVAE score (Higgins et al. 2017)",
                    dict(batch_size=betavae.BATCH_SIZE, n_train=betavae.N_TRAIN,
                         n_eval=betavae.N_EVAL)),
        "factorvae": (factorvae.factorvae_score, "FactorVAE score (Kim & Mnih 2018)",
                      dict(batch_size=factorvae.BATCH_SIZE, n_train=factorvae.N_TRAIN,
                           n_eval=factorvae.N_EVAL,
                           n_variance_estimate=factorvae.N_VARIANCE_ESTIMATE,
                           prune_std_threshold=factorvae.PRUNE_STD_THRESHOLD)),
        "dci": (dci_module.dci, "DCI with gradient-boosted trees (Eastwood & Williams 2018)",
                dict(n_train=dci_module.N_TRAIN, n_test=dci_module.N_TEST,
                     n_estimators=dci_trees or dci_module.N_ESTIMATORS)),
        "sap": (sap_module.sap, "SAP, discrete factors, LinearSVC (Kumar et al. 2018)",
                dict(n_train=sap_module.N_TRAIN, n_test=sap_module.N_TEST)),
        "modularity_explicitness": (modex.modularity_explicitness,
                                    "modularity and explicitness (Ridgeway & Mozer 2018)",
                                    dict(n_train=modex.N_TRAIN, n_test=modex.N_TEST,
                                         n_bins=modex.N_BINS)),
    }
    for key, (function, estimator, sizes) in scores.items():
        result = _timed(function, mean, factors, seed=seed, **sizes)
        recipe = pool_recipe(result, estimator, **sizes)
        result.pop("factors_used", None)
        record[key] = {**result, "recipe": recipe}
    return _jsonable(record)
