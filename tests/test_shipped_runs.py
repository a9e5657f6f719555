"""The dSprites sweep shipped under results/dsprites_cpu/ (tests/shipped.py): each model is the
one its logs describe, main_viz.py draws every plot from a copy of a run, and the shipped
summaries and the README's table are those of the shipped runs."""
import json
import shutil

import pytest
import torch
import torch.nn.functional as F

import main_viz
from disvae.utils.modelIO import load_model
from training_runs import one_thread  # noqa: F401 (autouse: one PyTorch thread per test)
from conftest import random_dsprites_classes
from shipped import DATA_VERSION, FIRST_SEED_RUNS, REPO, RUNS, STEPS, SWEEP
from utils import dsprites_procedural, summary

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


@pytest.fixture(scope="module")
def images():
    """1,024 random images of the procedural dSprites in the version the runs were trained on
    (recorded in their specs.json)."""
    assert {json.loads((SWEEP / name / "specs.json").read_text())["data_version"]
            for name in RUNS} == {DATA_VERSION}
    arrays = dsprites_procedural.render_dsprites(random_dsprites_classes(1024),
                                                 version=DATA_VERSION)
    return torch.from_numpy(arrays["imgs"]).float().unsqueeze(1)


def test_the_sweeps_runs_are_shipped_finished_with_their_results():
    definition = json.loads((SWEEP / "sweep.json").read_text())
    assert [run["name"] for run in definition["runs"]] == RUNS
    for name in RUNS:
        run = SWEEP / name
        for filename in ("model.pt", "specs.json", "train_losses.log", "train_steps.log",
                         "metrics.log", "prior_traversals.png", "latent_vs_factor.png"):
            assert (run / filename).is_file(), f"{run / filename} missing"
        specs = json.loads((run / "specs.json").read_text())
        assert (specs["loss"], specs["dataset"], specs["steps"]) == \
            (name.split("_")[0], "dsprites", STEPS)
        assert specs["seed"] == int(name.rsplit("_s", 1)[1])
        for stage in definition["stages"]:
            assert (SWEEP / "logs" / name / f"{stage}.done").is_file(), (name, stage)
    assert all((SWEEP / name / picture).is_file() for name in FIRST_SEED_RUNS
               for picture in ("posterior_traversals.gif", "posterior_traversals.png"))


@pytest.mark.parametrize("name", RUNS)
def test_each_model_is_the_one_its_log_describes(name, images):
    """On dSprites images the model's KL is that of its last 100 training steps
    (train_steps.log), and its reconstruction from the posterior mean is at most that of
    training, which decodes a sample (an untrained model is near 4096 ln 2 = 2839 nats)."""
    run = SWEEP / name
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


@pytest.mark.parametrize("name", FIRST_SEED_RUNS)
def test_main_viz_all_on_a_shipped_run(name, dsprites_data_dir, tmp_path):
    """What a fresh clone holds of the run (its plots removed) is enough for every plot."""
    results = tmp_path / "results"
    shutil.copytree(SWEEP / name, results / name,
                    ignore=shutil.ignore_patterns("*.png", "*.gif", "checkpoint.pt", "model-*"))
    main_viz.main([name, "all", "--results-dir", str(results),
                   "--data-dir", str(dsprites_data_dir)])
    assert VIZ_ALL_FILES <= {path.name for path in (results / name).iterdir()}


def test_shipped_summaries_are_those_of_the_shipped_runs(tmp_path, capsys):
    results = tmp_path / "results"
    for name in RUNS:
        shutil.copytree(SWEEP / name, results / name,
                        ignore=shutil.ignore_patterns("*.png", "*.gif", "*.pt"))
    shutil.copy(SWEEP / summary.UDR_FILE, results)
    summary.main(["--results-dir", str(results)])
    for filename in ("summary.csv", "summary.md", "summary_by_setting.csv",
                     "summary_by_setting.md"):
        assert (results / filename).read_text() == (SWEEP / filename).read_text(), filename


def compact_table(text):
    """The lines of the mean ± std table of a summary_by_setting.md."""
    section = text.split("## Mean ± standard deviation over seeds", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def test_readme_table_quotes_the_shipped_spread_over_seeds():
    table = compact_table((SWEEP / "summary_by_setting.md").read_text())
    assert len(table) == 2 + len(RUNS) // 3 and all("± " in line for line in table[2:])
    readme = (REPO / "README.md").read_text()
    results = readme.split("\n## Results\n", 1)[1].split("\n## ", 1)[0].splitlines()
    start = results.index(table[0])
    assert results[start:start + len(table)] == table
