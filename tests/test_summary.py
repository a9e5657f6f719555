"""utils.summary: the table of a results folder (CSV, markdown, figure), from two runs trained
and evaluated here, and from hand-written run folders for the edge cases."""
import csv
import json
import shutil

import imageio.v3 as iio
import pytest

import main
from training_runs import single_thread, summary_scores
from utils import summary


def read_csv(results):
    with open(results / "summary.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def last_epoch_terms(run_dir):
    """{term: value} of the last epoch of a train_losses.log, read independently."""
    rows = [line.split(",") for line in (run_dir / "train_losses.log").read_text().splitlines()[1:]]
    last = max(int(epoch) for epoch, _, _ in rows)
    return {term: float(value) for epoch, term, value in rows if int(epoch) == last}


@pytest.fixture
def two_runs(tiny_trained_run, dsprites_data_dir, tmp_path, small_recipes):
    """A results folder with the briefly trained beta-TCVAE run (with metrics.log, computed
    with small recipes) and a FactorVAE run of 6 steps (with test losses)."""
    results = tmp_path / "results"
    shutil.copytree(tiny_trained_run, results / "btcvae_tiny")
    folders = ["--data-dir", str(dsprites_data_dir), "--results-dir", str(results),
               "--no-progress-bar"]
    with single_thread():
        main.main(["factor_tiny", "-x", "factor_dsprites", "--max-steps", "6", "-b", "8",
                   *folders])
        main.main(["btcvae_tiny", "--is-eval-only", "--is-metrics", "--no-test", *folders])
    (results / "logs").mkdir()  # the batch scripts' logs: not a run
    return results


def test_summary_of_two_trained_runs(two_runs, capsys):
    summary.main(["--results-dir", str(two_runs)])
    assert f"Summary of 2 run(s): {two_runs}/summary.csv" in capsys.readouterr().out
    rows = read_csv(two_runs)
    assert [row["name"] for row in rows] == ["factor_tiny", "btcvae_tiny"]  # in loss order
    factor, btcvae = rows
    assert (factor["loss"], factor["dataset"], factor["data_source"]) == \
        ("factor", "dsprites", "procedural")

    # the hyperparameters of each loss, the others empty
    assert (float(btcvae["alpha"]), float(btcvae["beta"]), float(btcvae["gamma"])) == (1, 6.4, 1)
    assert btcvae["estimator"] == "mss" and btcvae["C_final"] == "" and btcvae["lr_disc"] == ""
    assert (float(factor["gamma"]), float(factor["lr_disc"])) == (6.4, 1e-4)
    assert factor["alpha"] == factor["beta"] == ""
    assert (int(factor["steps"]), int(btcvae["steps"])) == (6, 80)
    assert int(factor["batch_size"]) == 16  # FactorVAE doubles the batch

    # the last epoch's losses; a term a loss does not log is empty
    for row, run in ((factor, "factor_tiny"), (btcvae, "btcvae_tiny")):
        for term, value in last_epoch_terms(two_runs / run).items():
            if not term.startswith("kl_loss_"):
                assert float(row[f"train_{term}"]) == value, term
    assert "train_kl_loss_0" not in factor
    assert factor["train_mi_loss"] == "" and btcvae["train_discrim_loss"] == ""

    # reconstruction and KL at the end of training: the last line of train_steps.log
    for row, run in ((factor, "factor_tiny"), (btcvae, "btcvae_tiny")):
        lines = (two_runs / run / "train_steps.log").read_text().splitlines()
        last_step = lines[-1].split(",")[0]
        last = {term: float(value) for step, term, value in
                (line.split(",") for line in lines[1:]) if step == last_step}
        assert float(row["final_recon_loss"]) == last["recon_loss"]
        assert float(row["final_kl_loss"]) == last["kl_loss"]
    assert "final_loss" not in factor

    # test losses of the run that has them
    test_losses = json.loads((two_runs / "factor_tiny" / "test_losses.log").read_text())
    assert float(factor["test_loss"]) == test_losses["loss"]
    assert float(factor["test_recon_loss"]) == test_losses["recon_loss"]
    assert btcvae["test_loss"] == ""

    # every score of metrics.log, empty for the run without one
    metrics = json.loads((two_runs / "btcvae_tiny" / "metrics.log").read_text())
    expected = summary_scores(metrics)
    assert (expected["metric_images"], expected["DCI_trees"]) == (2048, 5)
    assert list(expected) == list(summary.METRIC_COLUMNS)
    assert {column: float(btcvae[column]) for column in expected} == expected
    assert all(factor[column] == "" for column in expected)

    markdown = (two_runs / "summary.md").read_text()
    assert markdown.count("| btcvae_tiny | btcvae | dsprites |") == 2  # runs and scores tables
    assert f"| {metrics['MIG']:.4g} |" in markdown
    assert "| name | loss | dataset | metric_images | MIG | MIG_without_shape |" in markdown
    figure = iio.imread(two_runs / "summary.png")
    assert figure.shape[0] > 300 and figure.shape[1] > 600


# --------------------------------------------------------------- hand-written run folders

def write_run(results, name, loss="betaH", metrics=None, losses_log=None, **specs):
    """A run folder with a specs.json, and a metrics.log and train_losses.log if given."""
    folder = results / name
    folder.mkdir(parents=True)
    (folder / "specs.json").write_text(json.dumps(dict(loss=loss, dataset="dsprites",
                                                       betaH_B=4, steps=10, **specs)))
    if metrics is not None:
        (folder / "metrics.log").write_text(json.dumps(metrics))
    if losses_log is not None:
        (folder / "train_losses.log").write_text(losses_log)
    return folder


def test_older_or_failed_scores_are_empty_cells(tmp_path):
    write_run(tmp_path, "old", metrics={"MIG": 0.3, "AAM": 0.2})  # the original's layout
    write_run(tmp_path, "failed", metrics={"MIG": 0.5, "dci": {"error": "too few factors"},
                                           "sap": {"sap": None}})
    columns, rows = summary.summary_table(tmp_path)
    old, failed = sorted(rows, key=lambda row: row["name"], reverse=True)
    assert (old["MIG"], old["AAM"], old["FactorVAE"]) == (0.3, 0.2, None)
    assert (failed["MIG"], failed["DCI_disentanglement"], failed["SAP"]) == (0.5, None, None)
    assert set(summary.METRIC_COLUMNS) <= set(columns)


def test_the_last_epoch_gives_the_losses_without_per_latent_terms(tmp_path):
    log = ("Epoch,Loss,Value\n0,recon_loss,90.0\n0,kl_loss,3.0\n0,kl_loss_0,3.0\n0,loss,93.0\n"
           "1,recon_loss,80.0\n1,kl_loss,2.0\n1,kl_loss_0,2.0\n1,loss,82.0\n")
    write_run(tmp_path, "run", losses_log=log)
    columns, [row] = summary.summary_table(tmp_path)
    assert [c for c in columns if c.startswith("train_")] == \
        ["train_recon_loss", "train_kl_loss", "train_loss"]
    assert (row["train_recon_loss"], row["train_loss"], row["beta"]) == (80.0, 82.0, 4)


def test_unreadable_files_leave_empty_cells_or_rows_out_with_a_warning(tmp_path, capsys):
    write_run(tmp_path, "bad_log", losses_log="Epoch,Loss,Value\nnot a line\n")
    (write_run(tmp_path, "bad_specs") / "specs.json").write_text("{")
    (tmp_path / "no_specs").mkdir()
    columns, rows = summary.summary_table(tmp_path)
    assert [row["name"] for row in rows] == ["bad_log"]
    err = capsys.readouterr().err
    assert "bad_log/train_losses.log line 2" in err and "its cells are left empty" in err
    assert "bad_specs/specs.json is not valid JSON" in err and "is left out" in err


def test_a_folder_without_runs_is_a_one_line_error(tmp_path):
    with pytest.raises(SystemExit, match=r"^error: no run folder .* in .*: train runs first"):
        summary.main(["--results-dir", str(tmp_path)])
    with pytest.raises(SystemExit, match=r"^error: no folder .*missing: train runs first"):
        summary.main(["--results-dir", str(tmp_path / "missing")])
    assert list(tmp_path.iterdir()) == []


def test_a_figure_without_scores_says_how_to_get_them(tmp_path):
    write_run(tmp_path, "run", losses_log="Epoch,Loss,Value\n0,recon_loss,80.0\n")
    paths, n_runs = summary.write_summary(tmp_path)
    assert n_runs == 1 and [p.rsplit(".", 1)[1] for p in paths] == ["csv", "md", "png"]
    assert (tmp_path / "summary.png").stat().st_size > 10_000


@pytest.mark.parametrize("value, cell", [(None, ""), (100000.0, "100000"), (0.000123456, "0.0001235"),
                                         (1051.8843, "1052"), (6, "6"), ("a|b", "a\\|b")])
def test_markdown_cells(value, cell):
    assert summary.markdown_cell(value) == cell


# --------------------------------------------------------------- UDR over seeds

def copy_run(source, results, name, **changes):
    """A copy of a trained run folder under another name, with some specs changed."""
    folder = results / name
    shutil.copytree(source, folder)
    specs = json.loads((folder / "specs.json").read_text())
    (folder / "specs.json").write_text(json.dumps({**specs, "name": name, **changes}))
    return folder


def test_udr_scores_the_seeds_of_each_setting_into_udr_csv(tiny_trained_run, tmp_path, capsys):
    results = tmp_path / "results"
    copy_run(tiny_trained_run, results, "seed_1", seed=1)
    copy_run(tiny_trained_run, results, "seed_2", seed=2)
    copy_run(tiny_trained_run, results, "other_lr", seed=3, lr=1e-2)  # another setting
    with single_thread():
        summary.main(["--results-dir", str(results), "--udr", "--udr-correlation", "spearman"])
    assert f"UDR of 2 run(s): {results}/udr.csv" in capsys.readouterr().out
    with open(results / "udr.csv", newline="") as handle:
        udr_rows = list(csv.DictReader(handle))
    assert [row["name"] for row in udr_rows] == ["seed_1", "seed_2"]
    assert {row["setting"] for row in udr_rows} == {"btcvae_dsprites:seed_1"}
    # Two copies of one model: the pair is scored both ways on the same codes, so the two
    # models get the same score, at most 1 (1 only if its active latents are uncorrelated).
    scores = [float(row["UDR"]) for row in udr_rows]
    assert scores[0] == pytest.approx(scores[1]) and 0 < scores[0] <= 1
    assert all(row["correlation"] == "spearman" and row["n_points"] == "1000"
               and row["n_models"] == "2" for row in udr_rows)
    table = {row["name"]: row for row in read_csv(results)}
    assert float(table["seed_1"]["UDR"]) == scores[0] and table["other_lr"]["UDR"] == ""
    assert not list(results.glob("*.part*"))


def test_udr_without_two_seeds_of_a_setting_is_a_one_line_error(tmp_path):
    write_run(tmp_path, "only", seed=1)
    write_run(tmp_path, "other", seed=2, lr=0.1)
    with pytest.raises(SystemExit, match=r"^error: no setting of .* was trained with two or "
                                         r"more seeds.*with another --seed$"):
        summary.main(["--results-dir", str(tmp_path), "--udr"])
def test_summary_figure_has_no_stray_legend_entry_and_names_only_ambiguous_points(
        tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(summary, "save_figure", lambda figure, path: figures.append(figure))
    rows = [{"name": name, "loss": loss, "dataset": "dsprites", "final_recon_loss": x,
             "MIG": 0.1 * x, "FactorVAE": 0.5} for name, loss, x in (
        ("a", "VAE", 1.0), ("b", "btcvae", 2.0), ("c", "btcvae", 3.0))]
    summary.plot_summary(rows, tmp_path / "summary.png")
    figure = figures[0]
    legend = figure.legends[0]
    assert [text.get_text() for text in legend.get_texts()] == ["VAE", "btcvae"]
    assert legend.get_title().get_text() == "objective"
    for ax in figure.axes:
        assert sorted(text.get_text() for text in ax.texts) == ["b", "c"]
        assert ax.get_xlabel() and ax.get_ylabel()
    rows.append(dict(rows[0], name="d", dataset="mnist"))
    summary.plot_summary(rows, tmp_path / "summary.png")
    assert [text.get_text() for text in figures[1].legends[0].get_texts()] == [
        "VAE", "btcvae", "dsprites", "mnist"]
