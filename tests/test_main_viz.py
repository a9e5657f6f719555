"""main_viz.py end to end on a briefly trained dSprites run: every plot type, its file name,
pixel size and content, the training GIF written by main.py, and one-line errors."""
import json
import shutil
from pathlib import Path

import imageio.v3 as iio
import matplotlib.text
import numpy as np
import pytest
import torch
from PIL import Image

import main_viz
from training_runs import one_thread  # noqa: F401 (autouse: one PyTorch thread per test)
from utils import viz_helpers
from utils.datasets import get_dataset, training_data

ROWS, COLS, UPSAMPLE = 4, 3, 2
CELL = 64 * UPSAMPLE + 2
GRID = (ROWS * CELL + 2, COLS * CELL + 2)
LATENT_DIM = 10


@pytest.fixture
def run(tiny_trained_run, dsprites_data_dir, tmp_path):
    """A copy of the tiny run that a test may change: a function running main_viz on it and
    returning its exit message (None on success), with the copy's folder as .dir."""
    results = tmp_path / "results"
    shutil.copytree(tiny_trained_run, results / "tiny")

    def viz(*argv):
        try:
            main_viz.main(["tiny", *argv, "--results-dir", str(results),
                           "--data-dir", str(dsprites_data_dir)])
            return None
        except SystemExit as stop:
            return str(stop.code)

    viz.dir = results / "tiny"
    return viz


@pytest.fixture(scope="module")
def dataset(dsprites_data_dir):
    return get_dataset("dsprites", "train", root=str(dsprites_data_dir))


def read(path):
    return np.asarray(Image.open(path).convert("RGB")).astype(float) / 255


def cells(picture, n_rows, n_cols, cell=CELL, top=0):
    """The images of a grid picture, (n_rows, n_cols, H, W) of the red channel."""
    size = cell - 2
    return np.array([[picture[top + 2 + r * cell:top + 2 + r * cell + size,
                              2 + c * cell:2 + c * cell + size, 0]
                      for c in range(n_cols)] for r in range(n_rows)])


SIZED = ["-r", str(ROWS), "-c", str(COLS), "-u", str(UPSAMPLE), "-s", "3", "--no-labels"]


@pytest.mark.parametrize("plot, filename", [
    ("generate-samples", "samples.png"), ("data-samples", "data_samples.png"),
    ("reconstruct", "reconstruct.png"), ("traversals", "prior_traversals.png")])
def test_grid_plots_have_rows_by_columns_of_upsampled_images(run, plot, filename):
    assert run(plot, *SIZED) is None
    picture = read(run.dir / filename)
    assert picture.shape[:2] == GRID
    assert picture[0, 0].tolist() == [1.0, 1.0, 1.0]  # white padding on black dSprites
    assert cells(picture, ROWS, COLS).std() > 0.05


def test_data_samples_start_with_the_chosen_indices_and_repeat_with_a_seed(run, dataset):
    assert run("data-samples", *SIZED, "-i", "5", "17") is None
    picture = read(run.dir / "data_samples.png")
    images = cells(picture, ROWS, COLS)[..., ::UPSAMPLE, ::UPSAMPLE]
    expected = dataset.batch(torch.tensor([5, 17]))[:, 0].numpy()
    np.testing.assert_array_equal(images[0, :2], expected)
    assert run("data-samples", *SIZED, "-i", "5", "17") is None
    np.testing.assert_array_equal(read(run.dir / "data_samples.png"), picture)


def test_reconstructions_resemble_their_originals(run):
    assert run("reconstruct", "-r", "8", "-c", "8", "-s", "0") is None
    images = cells(read(run.dir / "reconstruct.png"), 8, 8, cell=66).reshape(2, 32, -1)
    originals, reconstructions = images
    distance = ((reconstructions[:, None] - originals[None]) ** 2).mean(axis=2)
    own = np.diag(distance).mean()
    other = distance[~np.eye(32, dtype=bool)].mean()
    assert own < 0.8 * other


def test_traversal_rows_differ_and_change_along_the_row(run):
    assert run("traversals", *SIZED, "-t", "0.475") is None
    rows = cells(read(run.dir / "prior_traversals.png"), ROWS, COLS)
    for a in range(ROWS):
        for b in range(a + 1, ROWS):
            assert np.abs(rows[a] - rows[b]).mean() > 1e-3
    assert np.abs(rows[0, 0] - rows[0, -1]).mean() > 1e-3


def test_posterior_traversals_and_reconstruct_traverse_with_labels(run):
    assert run("traversals", "reconstruct-traverse", *SIZED, "--is-posterior",
               "--is-show-loss") is None
    assert read(run.dir / "posterior_traversals.png").shape[:2] == GRID
    assert not (run.dir / "prior_traversals.png").exists()
    picture = read(run.dir / "reconstruct_traverse.png")
    top = 2 * CELL + 2
    assert picture.shape[:2] == (top + ROWS * CELL + 2, COLS * CELL + 2 + 100)
    originals = cells(picture, 1, COLS)
    traversals = cells(picture, ROWS, COLS, top=top)
    assert traversals.std() > 0.05 and originals.std() > 0.05


def test_gif_traversals_has_15_frames_of_latents_by_images(run):
    assert run("gif-traversals", *SIZED) is None
    frames = iio.imread(run.dir / "posterior_traversals.gif", index=None)
    assert frames.shape[:3] == (15,) + GRID
    assert np.abs(frames[0].astype(float) - frames[-1]).mean() > 0.1


def test_all_makes_every_plot_and_skips_mi_matrix_without_metrics(run, capsys):
    assert run("all", "-s", "1") is None
    written = {path.name for path in run.dir.iterdir()}
    assert {"samples.png", "data_samples.png", "reconstruct.png", "prior_traversals.png",
            "reconstruct_traverse.png", "posterior_traversals.gif"} <= written
    for chart in ("loss_curves.png", "kl_per_dim.png", "latent_vs_factor.png"):
        assert read(run.dir / chart).std() > 0.05
    assert "mi_matrix.png" not in written
    assert "Skipping mi-matrix" in capsys.readouterr().err


@pytest.mark.parametrize("layout", ["nested", "flat"])
def test_mi_matrix_is_drawn_from_metrics_log(run, layout):
    matrix = np.random.default_rng(0).random((6, LATENT_DIM)).tolist()
    metrics = ({"MIG": 0.1, "mig_sampled": {"mi_matrix": matrix}} if layout == "nested"
               else {"MIG": 0.1, "mi_matrix": matrix})
    (run.dir / "metrics.log").write_text(json.dumps(metrics))
    assert run("mi-matrix") is None
    assert read(run.dir / "mi_matrix.png").std() > 0.05


def test_run_without_train_losses_log_ranks_latents_on_data(run, capsys):
    (run.dir / "train_losses.log").unlink()
    assert run("traversals", "kl-per-dim", *SIZED) is None
    assert "ranking the latents by their KL on 1000 random images" in capsys.readouterr().err
    assert read(run.dir / "prior_traversals.png").shape[:2] == GRID
    assert (run.dir / "kl_per_dim.png").exists()


def test_training_wrote_one_gif_frame_per_logged_epoch(tiny_trained_run):
    epochs = {line.split(",")[0] for line in
              (tiny_trained_run / "train_losses.log").read_text().splitlines()[1:]}
    frames = iio.imread(tiny_trained_run / "training.gif", index=None)
    assert len(epochs) == 2 and len(frames) == 2
    pictures = sorted((tiny_trained_run / "training_gif_frames").glob("*.png"))
    bare = iio.imread(pictures[0])
    assert bare.shape[:2] == (LATENT_DIM * 66 + 2, 10 * 66 + 2)
    np.testing.assert_array_equal(frames[0][:bare.shape[0], :bare.shape[1]], bare[..., :3])
    assert len(pictures) == 2


@pytest.mark.parametrize("argv, expected", [
    (["mi-matrix"], "has no metrics.log"),
    (["traversals", "-r", "11"], "pass -r 10 or less"),
    (["reconstruct", "-r", "5"], "even number of rows"),
    (["all", "-r", "3"], "even number of rows"),
    (["data-samples", "-i", "99999"], "pass indices from 0 to 2047"),
    (["pictures"], "invalid choice"),
])
def test_bad_requests_give_one_line_errors_and_write_nothing(run, argv, expected):
    before = sorted(path.name for path in run.dir.iterdir())
    message = run(*argv)
    assert message.startswith("error: ") and expected in message and "\n" not in message
    assert sorted(path.name for path in run.dir.iterdir()) == before


def test_unknown_run_names_the_runs_there(run):
    with pytest.raises(SystemExit) as stop:
        main_viz.main(["nope", "all", "--results-dir", str(run.dir.parent)])
    assert str(stop.value.code) == (f"error: no run 'nope' in {run.dir.parent} (runs there: "
                                    f"tiny): check the name or pass --results-dir")


@pytest.mark.parametrize("windows,expected", [(3, "step"), (2, "epoch"), (1, "epoch")])
def test_loss_curves_follow_the_finer_of_the_two_logs(run, monkeypatch, windows, expected):
    """The tiny run logged two epochs and one window (80 steps, windows of 100): a steps log
    with more windows than epochs is plotted against the step, else the epochs are."""
    rows = [f"{step},{term},{value}" for step in range(100, 100 * windows + 1, 100)
            for term, value in (("loss", 3.0 / step), ("recon_loss", 2.0 / step))]
    (run.dir / "train_steps.log").write_text("\n".join(["Step,Loss,Value", *rows]) + "\n")
    drawn = {}

    def record(indices, losses, path, title, x_label="epoch"):
        drawn.update(indices=list(indices), x_label=x_label, title=title)
    monkeypatch.setattr(main_viz.viz_helpers, "plot_loss_curves", record)
    assert run("loss-curves") is None
    assert drawn["x_label"] == expected
    if expected == "step":
        assert drawn["indices"] == [100, 200, 300]
        assert drawn["title"] == "tiny: training losses (mean per window of 100 steps)"
    else:
        assert drawn["indices"] == [0, 1]


def test_loss_curves_need_only_one_of_the_two_logs(run):
    (run.dir / "train_losses.log").unlink()
    rows = [f"{step},loss,{1.0 / step}" for step in (100, 200)]
    (run.dir / "train_steps.log").write_text("\n".join(["Step,Loss,Value", *rows]) + "\n")
    assert run("loss-curves") is None
    assert read(run.dir / "loss_curves.png").std() > 0.05


def test_loss_curves_of_a_run_without_train_losses_log_is_an_error(run):
    (run.dir / "train_losses.log").unlink()
    message = run("loss-curves")
    assert message.startswith("error: run 'tiny' has no train_losses.log")


def test_latent_vs_factor_needs_ground_truth_factors(run, monkeypatch, capsys):
    def without_factors(*args, **kwargs):
        dataset = training_data(*args, **kwargs)
        dataset.factor_classes = None
        return dataset

    monkeypatch.setattr(main_viz, "training_data", without_factors)
    message = run("latent-vs-factor")
    assert message.startswith("error: dataset 'dsprites' of run 'tiny' has no ground-truth "
                              "factors")
    assert run("kl-per-dim", "latent-vs-factor", "all") is not None
    assert run("data-samples", "all", "-r", "2", "-c", "2") is None
    assert "Skipping latent-vs-factor" in capsys.readouterr().err


def test_stopped_run_without_model_pt_is_plotted_from_its_latest_snapshot(run, capsys):
    (run.dir / "model.pt").unlink()
    assert run("generate-samples", *SIZED) is None
    assert "plotting its latest snapshot model-0.pt" in capsys.readouterr().err
    assert read(run.dir / "samples.png").shape[:2] == GRID


# ------------------------------------------------------------------------ labels of figures

def spy_figures(monkeypatch):
    """Record {file name: matplotlib Figure} of every chart written."""
    figures = {}
    original = viz_helpers.save_figure

    def record(figure, path):
        figures[Path(path).name] = figure
        return original(figure, path)
    monkeypatch.setattr(viz_helpers, "save_figure", record)
    return figures


def texts(figure):
    """Every visible string of a figure: titles, axis and tick labels, legends, annotations."""
    return [text.get_text() for text in figure.findobj(matplotlib.text.Text)
            if text.get_visible() and text.get_text()]


def kl_ranking(run_dir):
    epochs, losses = viz_helpers.read_loss_log(run_dir / "train_losses.log")
    return viz_helpers.last_epoch_kl(epochs, losses)[1]


def write_metrics(run_dir):
    """A metrics.log whose MI matrix ties factor posX to latent 2, scale to latent 7, with
    the constant factor color."""
    names = ["color", "shape", "scale", "orientation", "posX", "posY"]
    matrix = np.full((6, LATENT_DIM), 0.01)
    matrix[0] = 0.0
    matrix[4, 2], matrix[2, 7] = 1.2, 0.9
    entropies = {"shape": 1.1, "scale": 1.8, "orientation": 3.7, "posX": 3.5, "posY": 3.5}
    (run_dir / "metrics.log").write_text(json.dumps({
        "MIG": 0.1, "factor_names": names, "mig_sampled": {
            "mi_matrix": matrix.tolist(), "factor_entropies": entropies}}))
    return matrix, entropies


def test_reconstruct_names_its_rows(run, label_calls):
    assert run("reconstruct", "-r", "4", "-c", "3", "-s", "0") is None
    assert label_calls == [(["original", "original", "reconstruction", "reconstruction"], [], None)]
    picture = read(run.dir / "reconstruct.png")
    assert picture.shape[1] > 3 * 66 + 2 and cells(picture, 4, 3, cell=66).std() > 0.05


def test_traversal_rows_name_latent_kl_and_factor_and_columns_their_values(run, label_calls):
    write_metrics(run.dir)
    assert run("traversals", "reconstruct-traverse", "gif-traversals", "-r", "3", "-c", "5",
               "-t", "2", "-s", "0") is None
    kl = kl_ranking(run.dir)
    top = np.argsort(-kl, kind="stable")[:3]
    factors = {2: "posX", 7: "scale"}
    expected_rows = [f"z{d} KL {kl[d]:.2f}" + (f"\n~ {factors[d]}" if d in factors else "")
                     for d in top]
    (rows, columns, caption), (rows_rt, columns_rt, _) = label_calls[:2]
    assert rows == expected_rows
    assert columns == columns_rt == ["-2", "-1", "0", "1", "2"]
    assert caption == "columns: value of the traversed latent"
    assert rows_rt == ["original", "reconstruction"] + expected_rows
    gif_label_calls = label_calls[2:]
    assert len(gif_label_calls) == 15 and all(call[0] == expected_rows for call in gif_label_calls)
    assert gif_label_calls[0][1] == [f"image {i}" for i in range(1, 6)]
    assert gif_label_calls[0][2].endswith(": -2") and gif_label_calls[-1][2].endswith(": 2")


def test_posterior_quantile_traversals_label_columns_by_quantile(run, label_calls):
    assert run("traversals", "--is-posterior", "-r", "2", "-c", "3", "-t", "0.45") is None
    assert label_calls[0][1] == ["q0.05", "q0.50", "q0.95"]


def test_loss_curves_have_readable_labels_outside_legends_and_log_scale(run, monkeypatch):
    figures = spy_figures(monkeypatch)
    assert run("loss-curves") is None
    figure = figures["loss_curves.png"]
    strings = texts(figure)
    assert "KL of latent 3" in strings and "total correlation" in strings
    assert not any("kl_loss" in text or "tc_loss" in text for text in strings)
    for ax in figure.axes:
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() and ax.lines
        legend = ax.get_legend()
        if legend is not None:  # anchored right of the panel, outside the curves
            assert legend.get_bbox_to_anchor().x0 >= ax.get_window_extent().x1 - 1


def test_loss_curves_leave_out_unlogged_terms_and_use_a_log_scale_over_decades(
        tmp_path, monkeypatch):
    figures = spy_figures(monkeypatch)
    losses = {"loss": np.array([1000.0, 10.0, 1.0]), "recon_loss": np.array([5.0, 4.0, 3.0]),
              "discrim_loss": np.full(3, np.nan)}
    viz_helpers.plot_loss_curves(np.arange(3), losses, tmp_path / "c.png")
    axes = figures["c.png"].axes
    assert [ax.get_title() for ax in axes] == ["objective (loss minimised)", "reconstruction"]
    assert [ax.get_yscale() for ax in axes] == ["log", "linear"]


def test_latent_vs_factor_names_categorical_values(run, monkeypatch):
    figures = spy_figures(monkeypatch)
    assert run("latent-vs-factor") is None
    strings = texts(figures["latent_vs_factor.png"])
    assert {"square", "ellipse", "heart", "shape value", "posX value"} <= set(strings)
    assert "color" not in strings  # a constant factor has no panel


@pytest.mark.parametrize("normalised", [False, True])
def test_mi_matrix_in_kl_order_without_constant_factors(run, monkeypatch, normalised):
    matrix, entropies = write_metrics(run.dir)
    figures = spy_figures(monkeypatch)
    assert run("mi-matrix", *(["--mi-normalised"] if normalised else [])) is None
    figure = figures["mi_matrix.png"]
    ax = figure.axes[0]
    order = np.argsort(-kl_ranking(run.dir), kind="stable")
    assert [label.get_text() for label in ax.get_xticklabels()] == [f"z{d}" for d in order]
    assert [label.get_text() for label in ax.get_yticklabels()] == [
        "shape", "scale", "orientation", "posX", "posY"]
    numbers = [text for text in ax.texts]
    assert len(numbers) == 5 * LATENT_DIM and min(t.get_fontsize() for t in numbers) >= 8
    posx_latent2 = numbers[3 * LATENT_DIM + list(order).index(2)].get_text()
    expected = 1.2 / entropies["posX"] if normalised else 1.2
    assert posx_latent2 == f"{expected:.2f}"
    assert "left out (constant): color" in texts(figure)
    assert ("MI / H(factor)" if normalised else "MI (nats)") in texts(figure)


def test_kl_per_dim_names_its_latents_and_unit(run, monkeypatch):
    figures = spy_figures(monkeypatch)
    assert run("kl-per-dim") is None
    ax = figures["kl_per_dim.png"].axes[0]
    assert [label.get_text() for label in ax.get_xticklabels()] == [
        f"z{d}" for d in range(LATENT_DIM)]
    assert ax.get_ylabel() == "KL (nats)" and "KL of each latent" in ax.get_title()
