"""The shipped runs' metrics.log and summary.csv are those of the shipped models and logs.

1. The discretised MIG of each metrics.log is recomputed from its model.pt with the recipe the
   log records: the random subset of `n_images` images of the dSprites grid that main.py's
   --metrics-images draws with the run's seed, the recipe's 10,000 rows drawn from that subset
   with the same seed, posterior means, 20 bins. Only the drawn rows are rendered and encoded,
   so the check costs one encoding of about 9,500 images per run.
2. Every cell of results/dsprites_cpu/summary.csv is compared with the value read here, directly and
   independently of utils.summary, from the run folder's specs.json and logs.
"""
import csv
import json

import numpy as np
import pytest
import torch

from disvae.metrics import mig_discrete
from disvae.metrics.factors import FactorPool
from disvae.utils.modelIO import load_model
from shipped import DATA_VERSION, RUNS, SWEEP
from training_runs import summary_scores
from utils import dsprites_procedural
from utils.datasets import dsprites_dataset

ENCODE_BATCH = 1000


def metrics_of(name):
    return json.loads((SWEEP / name / "metrics.log").read_text())


@pytest.fixture(scope="module")
def drawn_rows():
    """(images of the distinct drawn rows, index of each drawn row among them, factor classes
    of the drawn rows) for the recipe that every shipped metrics.log records."""
    recipes = {(metrics_of(name)["seed"], metrics_of(name)["n_images"],
                metrics_of(name)["mig_discrete"]["recipe"]["n_samples"]) for name in RUNS}
    assert len(recipes) == 1, recipes
    (seed, n_images, n_samples), = recipes
    n_grid = int(np.prod(dsprites_procedural.FACTOR_SIZES))
    # main.compute_metrics: a sorted torch.randperm subset seeded with the run's seed
    subset = torch.randperm(n_grid, generator=torch.Generator().manual_seed(seed))[:n_images]
    grid_index = np.sort(subset.numpy())
    classes = np.stack(np.unravel_index(grid_index, dsprites_procedural.FACTOR_SIZES), axis=1)
    # mig_discrete: n_samples rows of the subset drawn with replacement with the seed
    rows = FactorPool(classes).random_rows(np.random.default_rng(seed), n_samples)
    distinct, position = np.unique(rows, return_inverse=True)
    images = dsprites_dataset(dsprites_procedural.render_dsprites(classes[distinct],
                                                                 version=DATA_VERSION),
                              "procedural")
    return images, position, classes[rows]


@pytest.mark.parametrize("name", RUNS)
def test_shipped_discrete_mig_is_that_of_the_shipped_model(name, drawn_rows):
    images, position, factors = drawn_rows
    run = SWEEP / name
    specs = json.loads((run / "specs.json").read_text())
    model = load_model(run, specs["img_size"], specs["latent_dim"], specs["model_type"])
    with torch.no_grad():
        means = torch.cat([model.encoder(images.batch(torch.arange(start, min(
            start + ENCODE_BATCH, len(images)))))[0] for start in range(0, len(images),
                                                                     ENCODE_BATCH)])
    logged = metrics_of(name)["mig_discrete"]
    assert logged["recipe"]["n_bins"] == 20
    # The log's rows are the recipe's draw; here they are already drawn (n_samples=None).
    result = mig_discrete(means.numpy()[position], factors, n_bins=logged["recipe"]["n_bins"])
    assert result["mig"] == pytest.approx(logged["mig"], abs=1e-4)
    np.testing.assert_allclose(result["mi_matrix"], logged["mi_matrix"], atol=1e-3)
    names = logged["recipe"]["mi_matrix_rows"]
    for factor, value in logged["mig_per_factor"].items():
        assert result["mig_per_factor"][names.index(factor)] == pytest.approx(value, abs=1e-4)


# --- summary.csv against the run folders ---------------------------------------------------

def read_rows(path, index_name):
    """{index: {key: value}} of a `<index>,key,value` log with a header line."""
    rows = {}
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader)[0] == index_name
        for index, key, value in reader:
            rows.setdefault(int(index), {})[key] = float(value)
    return rows


def expected_summary_row(name):
    """The summary row of a run folder, from its files: options from specs.json, final_ terms
    from the last window of train_steps.log, train_ terms from the last epoch of
    train_losses.log (not the per-latent KLs), scores from metrics.log."""
    run = SWEEP / name
    specs = json.loads((run / "specs.json").read_text())
    metrics = metrics_of(name)
    row = {"name": name}
    for key in ("loss", "dataset", "data_source", "steps", "batch_size", "lr", "latent_dim",
                "rec_dist", "reg_anneal"):
        row[key] = specs[key]
    own = {"VAE": {}, "betaH": {"beta": "betaH_B"},
           "betaB": {"gamma": "betaB_G", "C_init": "betaB_initC", "C_final": "betaB_finC"},
           "factor": {"gamma": "factor_G", "lr_disc": "lr_disc"},
           "btcvae": {"alpha": "btcvae_A", "beta": "btcvae_B", "gamma": "btcvae_G",
                      "estimator": "btcvae_estimator"},
           "dipI": {"lambda_od": "dipI_od", "lambda_d": "dipI_d"},
           "dipII": {"lambda_od": "dipII_od", "lambda_d": "dipII_d"}}[specs["loss"]]
    for column in ("alpha", "beta", "gamma", "C_init", "C_final", "lr_disc", "estimator",
                   "lambda_od", "lambda_d"):
        row[column] = specs[own[column]] if column in own else ""
    windows = read_rows(run / "train_steps.log", "Step")
    last_window = windows[max(windows)]
    row["final_recon_loss"], row["final_kl_loss"] = (last_window["recon_loss"],
                                                     last_window["kl_loss"])
    epochs = read_rows(run / "train_losses.log", "Epoch")
    last_epoch = epochs[max(epochs)]
    for term in ("recon_loss", "kl_loss", "loss", "mi_loss", "tc_loss", "dw_kl_loss",
                 "discrim_loss", "dip_loss"):
        row[f"train_{term}"] = last_epoch.get(term, "")
    row.update(summary_scores(metrics))
    row["UDR"] = udr_scores()[name]
    return row


def udr_scores():
    """{run: UDR} of the sweep's udr.csv (python -m utils.summary --udr)."""
    with open(SWEEP / "udr.csv", newline="") as handle:
        return {row["name"]: float(row["UDR"]) for row in csv.DictReader(handle)}


def test_shipped_summary_matches_values_read_from_the_run_folders():
    with open(SWEEP / "summary.csv", newline="") as handle:
        table = {row["name"]: row for row in csv.DictReader(handle)}
    assert sorted(table) == sorted(RUNS)
    for name in RUNS:
        expected = expected_summary_row(name)
        assert set(table[name]) == set(expected), name
        for column, value in expected.items():
            cell = table[name][column]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                assert float(cell) == pytest.approx(value, rel=1e-12), (name, column)
            else:
                assert cell == str(value), (name, column)
