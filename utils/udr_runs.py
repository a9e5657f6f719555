"""UDR over the runs of a results folder: `python -m utils.summary --udr`.

Runs whose settings (loss and its hyperparameters, dataset, model, training options: the
summary's run columns) are equal and whose seeds differ form one group; every group of two
or more runs is scored with `disvae.metrics.udr` (Duan et al. 2020) on the posterior means
of the same N_POINTS images of its dataset, drawn with seed 0. Each latent's activity is its
mean KL to the prior over those images (as disentanglement_lib computes it), not a training
log. The scores go to DIR/udr.csv (written atomically), one row per scored run, which the
summary then shows in its UDR column.
"""
import json
import os

from disvae.evaluate import encode_posterior
from disvae.metrics.udr import KL_THRESHOLD, N_POINTS, udr
from disvae.utils.modelIO import load_model
from utils.config import ConfigError, load_specs
from utils.dataset_registry import data_options
from utils.datasets import get_dataset, iterate_batches, random_indices
from utils.summary import (RUN_COLUMNS, UDR_COLUMNS, UDR_FILE, SummaryError, loss_hyperparameters,
                           run_folders, warn, write_csv)
from utils.viz_helpers import kl_per_latent

ENCODE_BATCH = 500
SETTING_OPTIONS = ("model_type", "img_size")  # beyond the summary's run columns


def setting_of(specs):
    """The options that define what a run trains, as a hashable key (the seed left out)."""
    options = [*RUN_COLUMNS.values(), *SETTING_OPTIONS,
               *loss_hyperparameters().get(specs.get("loss"), {}).values()]
    return tuple((option, json.dumps(specs.get(option), sort_keys=True)) for option in options)


def seed_groups(results_dir):
    """[(setting label, [(run folder, specs), ...]), ...] for every setting trained with two
    or more different seeds, in the order of the runs' names."""
    groups = {}
    for run_dir in run_folders(results_dir):
        try:
            specs = load_specs(run_dir)
        except ConfigError as error:
            warn(f"{error}; run {run_dir} is left out of UDR")
            continue
        groups.setdefault(setting_of(specs), []).append((run_dir, specs))
    scored = []
    for runs in groups.values():
        if len({specs.get("seed") for _, specs in runs}) < 2:
            continue
        specs = runs[0][1]
        label = f"{specs.get('loss')}_{specs.get('dataset')}"
        scored.append((f"{label}:{os.path.basename(runs[0][0])}", runs))
    return scored


def encoded_points(runs, n_points, device):
    """Posterior means (one (n, D) array per run) and per-latent KL of the same n_points
    images of the runs' dataset (at most all of them), drawn with seed 0."""
    specs = runs[0][1]
    dataset = get_dataset(specs["dataset"], "train", root=specs.get("data_dir"),
                          **data_options(specs))
    rows = random_indices(len(dataset), n_points, seed=0)
    means, kls = [], []
    for run_dir, run_specs in runs:
        model = load_model(run_dir, run_specs["img_size"], run_specs["latent_dim"],
                           run_specs["model_type"], device)
        mean, logvar = encode_posterior(model, iterate_batches(dataset, ENCODE_BATCH, rows),
                                        device, is_progress_bar=False)
        means.append(mean.numpy())
        kls.append(kl_per_latent(mean.numpy(), logvar.numpy()))
    return means, kls, len(rows)


def write_udr(results_dir, correlation="lasso", n_points=N_POINTS, device="cpu"):
    """Score every group of seeds of results_dir and write DIR/udr.csv; returns its path and
    the number of runs scored."""
    groups = seed_groups(results_dir)
    if not groups:
        raise SummaryError(f"no setting of {results_dir} was trained with two or more seeds, "
                           f"so there is no UDR to compute: train the same experiment again "
                           f"with another --seed")
    rows = []
    for label, runs in groups:
        print(f"UDR of {len(runs)} runs of {label} ...", flush=True)
        means, kls, n_scored = encoded_points(runs, n_points, device)
        result = udr(means, kls, correlation=correlation)
        for (run_dir, specs), score, active in zip(runs, result["udr"],
                                                   result["active_latents"]):
            rows.append({"name": os.path.basename(run_dir), "setting": label,
                         "seed": specs.get("seed"), "UDR": score, "n_models": len(runs),
                         "active_latents": len(active), "correlation": correlation,
                         "kl_threshold": KL_THRESHOLD, "n_points": n_scored})
    path = write_csv(list(UDR_COLUMNS), rows, os.path.join(results_dir, UDR_FILE))
    return path, len(rows)
