"""Every score of the package on one encoded pool, as a JSON-serialisable record.

`compute_all_metrics` is what goes into a run's `metrics.log`: each score sits beside its
recipe (estimator, sample sizes, seed, factors used, representation: "sample" for the
sampled MIG, "mean" for the scores on posterior means), so numbers from different estimators
are never confused (spec: the two MIGs disagree). The top-level "MIG" and "AAM" keep the
original toolkit's file format: the sampled-entropy MIG and AAM over all non-constant
factors, shape included, as the original averaged them.

The scores on posterior means are the modules of `POOL_METRICS`; each owns its recipe: its
`KEY` in the record, its `ESTIMATOR`, `recipe()` (the sample sizes, read when called) and
`score(codes, factors, seed=..., **recipe)`. Adding such a score = its module, its tests and
its name in `POOL_METRICS`.
"""
import inspect
import math
import time
from importlib import import_module

import numpy as np
from tqdm import tqdm

from disvae.metrics.aggregate_posterior import resolve_backend

POOL_METRICS = ("mig_discrete", "betavae", "factorvae", "dci", "sap", "modularity_explicitness",
                "irs", "unsupervised")
SCORES = {  # name in the log line: path of the value in the record
    "MIG": ("MIG",), "MIG_without_shape": ("mig_sampled", "mig_without_shape"),
    "AAM": ("AAM",), "MIG_discrete": ("mig_discrete", "mig"),
    "BetaVAE": ("betavae", "eval_accuracy"), "FactorVAE": ("factorvae", "eval_accuracy"),
    "DCI_disentanglement": ("dci", "disentanglement"),
    "DCI_completeness": ("dci", "completeness"),
    "DCI_informativeness": ("dci", "informativeness_test"), "SAP": ("sap", "sap"),
    "modularity": ("modularity_explicitness", "modularity"),
    "explicitness": ("modularity_explicitness", "explicitness_test"), "IRS": ("irs", "irs"),
    "gaussian_TC": ("unsupervised", "gaussian_total_correlation"),
    "gaussian_WC_norm": ("unsupervised", "gaussian_wasserstein_correlation_norm"),
    "MI_score": ("unsupervised", "mutual_info_score"),
}


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


def _pool_record(result, estimator, sizes, seed, names):
    """The record of one score on posterior means: its values (per-factor arrays of K entries
    named by factor), beside its recipe."""
    used = result.pop("factors_used", [])
    recipe = {"estimator": estimator, "representation": "mean", "seed": seed,
              "factors_used": [names[k] for k in used], **sizes,
              "elapsed_s": result.pop("elapsed_s")}
    matrix = result.get("mi_matrix")
    if matrix is not None:
        recipe["mi_matrix_rows"] = names if len(matrix) == len(names) else recipe["factors_used"]
    values = {key: _per_factor(value, used, names) if key.endswith("_per_factor") else value
              for key, value in result.items()}
    return {**values, "recipe": recipe}


MIN_IMAGES = 2  # every score needs two images (a training and a test row, two codes to compare)


def largest_draw():
    """(score, n): the most images one score's recipe draws from the pool (e.g. DCI's training
    plus test rows). A smaller pool is drawn from with repetition, which makes the scores that
    fit a classifier read high."""
    draws = {name: sum(value for key, value in _recipe(name).recipe().items()
                       if key.startswith("n_") and isinstance(value, int))
             for name in POOL_METRICS}
    name = max(draws, key=draws.get)
    return name, draws[name]


def score_line(record):
    """Every headline score of a record, "name value" joined by commas (absent ones left
    out), for the log."""
    parts = []
    for name, path in SCORES.items():
        node = record
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, (int, float)):
            parts.append(f"{name} {node:.4f}")
    return ", ".join(parts)


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

    mig_s = _recipe("mig_sampled")
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
            "n_images": int(len(mean)), "seed": seed,
            "factors_used": [names[k] for k in used],
            "mig_without_shape_excludes": mig_s.EXCLUDED_BY_CHEN,
            "mi_matrix_rows": names, "entropy_unit": "nats", "backend": backend,
            "elapsed_s": sampled["elapsed_s"],
        },
    }

    overrides = {"dci": {"n_estimators": dci_trees}} if dci_trees else {}
    bar = tqdm(POOL_METRICS, desc="Scores", leave=False, disable=not progress)
    for name in bar:
        bar.set_postfix_str(name)
        module = _recipe(name)
        sizes = {**module.recipe(), **overrides.get(name, {})}
        options = {"progress": progress} if "progress" in inspect.signature(
            module.score).parameters else {}
        result = _timed(module.score, mean, factors, seed=seed, **sizes, **options)
        record[module.KEY] = _pool_record(result, module.ESTIMATOR, sizes, seed, names)
    return _jsonable(record)
