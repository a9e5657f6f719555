"""Shared fixtures: a small procedural-dSprites data folder, the path of the real test data."""
import importlib
import os
from pathlib import Path

import numpy as np
import pytest

import main
from utils import dsprites_procedural
from utils.datasets import DSPRITES_PROCEDURAL_FILE, write_dsprites_cache

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def random_dsprites_classes(n_images, seed=0):
    """n_images distinct random rows of the dSprites factor grid, sorted in grid order."""
    rng = np.random.default_rng(seed)
    flat = np.sort(rng.choice(int(np.prod(dsprites_procedural.FACTOR_SIZES)), n_images,
                              replace=False))
    return np.stack(np.unravel_index(flat, dsprites_procedural.FACTOR_SIZES), axis=1)


def write_dsprites_subset(data_dir, n_images=2048, seed=0):
    """Write a procedural-dSprites subset where the loader looks for its cached rendering."""
    folder = Path(data_dir) / "dsprites"
    folder.mkdir(parents=True, exist_ok=True)
    arrays = dsprites_procedural.render_dsprites(random_dsprites_classes(n_images, seed))
    write_dsprites_cache(str(folder / DSPRITES_PROCEDURAL_FILE), arrays)
    return Path(data_dir)


@pytest.fixture(scope="session")
def dsprites_data_dir(tmp_path_factory):
    """A data folder holding a 2,048-image procedural dSprites subset (read-only for tests)."""
    return write_dsprites_subset(tmp_path_factory.mktemp("data"))


@pytest.fixture
def shared_data():
    """The real small datasets beside the repository; missing files fail under CI."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"real test data missing at {SHARED_DATA} (required when CI is set)")
        pytest.skip(f"real test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_trained_run(dsprites_data_dir, tmp_path_factory):
    """The folder of a briefly trained beta-TCVAE run on the dSprites subset (80 steps of 32
    images, one full epoch and part of a second, at a high learning rate so that the
    reconstructions already follow the sprites); read-only for tests, copy it to change it."""
    from training_runs import single_thread
    results = tmp_path_factory.mktemp("results")
    with single_thread():
        main.main(["tiny", "-x", "btcvae_dsprites", "--max-steps", "80", "-b", "32", "--lr",
                   "3e-3", "--no-test", "--no-progress-bar", "--data-dir", str(dsprites_data_dir),
                   "--results-dir", str(results)])
    return results / "tiny"


@pytest.fixture
def small_recipes(monkeypatch):
    """Shrink every recipe's sample sizes so the whole suite runs in seconds."""
    module = {name: importlib.import_module(name) for name in (
        f"disvae.metrics.{metric}" for metric in ("mig_sampled", "mig_discrete", "betavae",
                                                  "factorvae", "dci", "sap",
                                                  "modularity_explicitness", "irs",
                                                  "unsupervised"))}
    monkeypatch.setattr(module["disvae.metrics.mig_sampled"], "N_SAMPLES", 300)
    for name in ("mig_discrete", "irs", "unsupervised"):
        monkeypatch.setattr(module[f"disvae.metrics.{name}"], "N_SAMPLES", 300)
    for name in ("betavae", "factorvae"):
        monkeypatch.setattr(module[f"disvae.metrics.{name}"], "N_TRAIN", 300)
        monkeypatch.setattr(module[f"disvae.metrics.{name}"], "N_EVAL", 100)
        monkeypatch.setattr(module[f"disvae.metrics.{name}"], "BATCH_SIZE", 16)
    monkeypatch.setattr(module["disvae.metrics.factorvae"], "N_VARIANCE_ESTIMATE", 300)
    for name in ("dci", "sap", "modularity_explicitness"):
        monkeypatch.setattr(module[f"disvae.metrics.{name}"], "N_TRAIN", 300)
        monkeypatch.setattr(module[f"disvae.metrics.{name}"], "N_TEST", 100)
    monkeypatch.setattr(module["disvae.metrics.dci"], "N_ESTIMATORS", 5)


@pytest.fixture
def label_calls(monkeypatch):
    """Every call of utils.visualize.label_picture (the labels of the image plots) as (row
    labels, column labels, caption), the picture still drawn."""
    from utils import visualize
    calls = []
    original = visualize.label_picture

    def record(picture, row_labels=(), row_centres=(), column_labels=(), column_centres=(),
               caption=None):
        calls.append((list(row_labels), list(column_labels), caption))
        return original(picture, row_labels, row_centres, column_labels, column_centres,
                        caption)
    monkeypatch.setattr(visualize, "label_picture", record)
    return calls
