"""The five dSprites runs shipped under results/ by bin/reproduce_cpu.sh: each model is the one
its logs describe, main_viz.py draws every plot from a copy of it, and the shipped summary and
the README's table are those of the shipped runs."""
import csv
import json
import re
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import main_viz
from disvae.utils.modelIO import load_model
from training_runs import one_thread  # noqa: F401 (autouse: one PyTorch thread per test)
from utils import summary
from conftest import random_dsprites_classes
from utils import dsprites_procedural

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
LOSSES = ["VAE", "betaH", "betaB", "factor", "btcvae"]
SHIPPED = [f"{loss}_dsprites_cpu" for loss in LOSSES]
STEPS = 3500
VIZ_ALL_FILES = {"data_samples.png", "kl_per_dim.png", "latent_vs_factor.png", "loss_curves.png",
                 "mi_matrix.png", "posterior_traversals.gif", "prior_traversals.png",
                 "reconstruct.png", "reconstruct_traverse.png", "samples.png"}


def logged_terms(run_dir):
    """{term: value} of a train_losses.log whose runs stopped in their first epoch."""
    rows = [line.split(",") for line in (run_dir / "train_losses.log").read_text().splitlines()[1:]]
    assert {epoch for epoch, _, _ in rows} == {"0"}
    return {term: float(value) for _, term, value in rows}


def last_window(run_dir):
    """{term: value} of the last window of train_steps.log."""
    rows = [line.split(",") for line in (run_dir / "train_steps.log").read_text().splitlines()[1:]]
    return {term: float(value) for step, term, value in rows if step == rows[-1][0]}


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def images():
    """1,024 random images of the procedural dSprites in the version the runs were trained on
    (their specs.json record none: version 1)."""
    assert {json.loads((RESULTS / name / "specs.json").read_text()).get("data_version", 1)
            for name in SHIPPED} == {1}
    arrays = dsprites_procedural.render_dsprites(random_dsprites_classes(1024), version=1)
    return torch.from_numpy(arrays["imgs"]).float().unsqueeze(1)


def test_the_five_runs_are_shipped_with_their_results():
    for name in SHIPPED:
        run = RESULTS / name
        for filename in ("model.pt", "specs.json", "train_losses.log", "train_steps.log",
                         "metrics.log"):
            assert (run / filename).is_file(), f"{run / filename} missing"
        specs = json.loads((run / "specs.json").read_text())
        assert (specs["loss"], specs["dataset"], specs["steps"]) == \
            (name.split("_")[0], "dsprites", STEPS)


@pytest.mark.parametrize("name", SHIPPED)
def test_each_model_is_the_one_its_log_describes(name, images):
    """On dSprites images the model's KL is that of its last 100 training steps
    (train_steps.log), and its reconstruction from the posterior mean is at most that of
    training, which decodes a sample (an untrained model is near 4096 ln 2 = 2839 nats)."""
    run = RESULTS / name
    specs = json.loads((run / "specs.json").read_text())
    model = load_model(run, specs["img_size"], specs["latent_dim"], specs["model_type"])
    with torch.no_grad():
        mean, logvar = model.encoder(images)
        reconstruction = model.decoder(mean)
    recon = F.binary_cross_entropy(reconstruction, images, reduction="sum").item() / len(images)
    kl = (0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).sum(1).mean()).item()
    final = last_window(run)
    assert 0.6 * final["recon_loss"] < recon < 1.1 * final["recon_loss"]
    assert kl == pytest.approx(final["kl_loss"], rel=0.1)
    assert final["recon_loss"] < logged_terms(run)["recon_loss"]  # it improved


@pytest.mark.parametrize("name", SHIPPED)
def test_main_viz_all_on_a_shipped_run(name, dsprites_data_dir, tmp_path):
    """What a fresh clone holds of the run (its plots removed) is enough for every plot."""
    results = tmp_path / "results"
    shutil.copytree(RESULTS / name, results / name,
                    ignore=shutil.ignore_patterns("*.png", "*.gif", "checkpoint.pt", "model-*"))
    main_viz.main([name, "all", "--results-dir", str(results),
                   "--data-dir", str(dsprites_data_dir)])
    assert VIZ_ALL_FILES <= {path.name for path in (results / name).iterdir()}


def test_shipped_summary_is_that_of_the_shipped_runs(tmp_path, capsys):
    results = tmp_path / "results"
    for name in SHIPPED:
        shutil.copytree(RESULTS / name, results / name,
                        ignore=shutil.ignore_patterns("*.png", "*.gif", "*.pt"))
    summary.main(["--results-dir", str(results)])
    assert read_csv(results / "summary.csv") == read_csv(RESULTS / "summary.csv")
    assert (results / "summary.md").read_text() == (RESULTS / "summary.md").read_text()


def test_readme_table_quotes_the_shipped_summary():
    readme = (REPO / "README.md").read_text()
    results = re.search(r"^## Results\n(.*?)(?=^## )", readme, re.S | re.M).group(1)
    for row in read_csv(RESULTS / "summary.csv"):
        line = re.search(rf"^\| {row['loss']}\b.*$", results, re.MULTILINE)
        assert line, f"no README row for {row['loss']}"
        cells = [cell.strip(" *") for cell in line.group(0).strip("|").split("|")]
        quoted = [f"{float(row[column]):.1f}" for column in ("final_recon_loss", "final_kl_loss")]
        quoted += [f"{float(row[column]):.3f}" for column in
                   ("MIG", "MIG_without_shape", "AAM", "FactorVAE", "BetaVAE",
                    "DCI_disentanglement", "SAP")]
        assert cells[2:] == quoted, row["loss"]
