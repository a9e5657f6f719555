"""The charts show what they claim: spies on matplotlib's drawing calls check the plotted
values, their order and their labels (a blank-image test cannot see a wrong bar height or a
row showing the wrong latent). Chart helpers directly, then main_viz's charts of a trained run
against values read independently from its logs."""
import json
import shutil
from collections import defaultdict

import numpy as np
import pytest
from matplotlib.axes import Axes

import main_viz
from training_runs import one_thread  # noqa: F401 (autouse: one PyTorch thread per test)
from utils import viz_helpers

SPIED = ("bar", "plot", "imshow", "text", "set_ylabel", "set_title", "set_xticks", "set_yticks")


@pytest.fixture
def drawn(monkeypatch):
    """{method name: [(axes, args, kwargs), ...]} of the drawing calls made on any Axes."""
    calls = defaultdict(list)
    for name in SPIED:
        real = getattr(Axes, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            calls[_name].append((self, args, kwargs))
            return _real(self, *args, **kwargs)
        monkeypatch.setattr(Axes, name, spy)
    return calls


def grid_position(ax):
    spec = ax.get_subplotspec()
    return spec.rowspan.start, spec.colspan.start


# --- the chart helpers --------------------------------------------------------------------

def test_kl_bars_have_the_kl_of_each_latent_in_latent_order(drawn, tmp_path):
    kl = np.array([1.0, 0.2, 3.5])
    viz_helpers.plot_kl_per_latent(kl, tmp_path / "kl.png", "title")
    (_, (labels, heights), _), = drawn["bar"]
    assert list(labels) == ["z0", "z1", "z2"]
    np.testing.assert_array_equal(heights, kl)


def test_latent_vs_factor_rows_show_their_latent_in_the_given_order(drawn, tmp_path):
    values = np.linspace(0, 1, 5)
    means_x = np.stack([values, -values, 2 * values], axis=1)  # (values, latents)
    means_s = np.stack([values ** 2, values + 1, -3 * values], axis=1)
    curves = [("posX", values, means_x), ("scale", values, means_s)]
    kl = np.array([0.3, 1.2, 0.7])
    viz_helpers.plot_latent_vs_factor(curves, [1, 2, 0], kl, tmp_path / "lvf.png", "")
    plotted = {grid_position(ax): (x, y) for ax, (x, y), _ in drawn["plot"]}
    assert len(plotted) == 6
    for row, dim in enumerate([1, 2, 0]):
        for col, means in enumerate([means_x, means_s]):
            x, y = plotted[row, col]
            np.testing.assert_array_equal(x, values)
            np.testing.assert_array_equal(y, means[:, dim])
    labels = {grid_position(ax)[0]: args[0] for ax, args, _ in drawn["set_ylabel"]}
    assert labels == {0: "z1\nKL 1.20", 1: "z2\nKL 0.70", 2: "z0\nKL 0.30"}
    titles = {grid_position(ax)[1]: args[0] for ax, args, _ in drawn["set_title"]}
    assert titles == {0: "posX", 1: "scale"}


def test_mi_heat_map_shows_the_matrix_with_factor_and_latent_labels(drawn, tmp_path):
    matrix = np.array([[0.1, 0.8, 0.0], [0.5, 0.0, 0.25]])
    viz_helpers.plot_mi_matrix(matrix, ["shape", "scale"], tmp_path / "mi.png", "")
    (_, (image,), _), = drawn["imshow"]
    np.testing.assert_array_equal(image, matrix)
    (_, (x_ticks, x_labels), _), = drawn["set_xticks"]
    (_, (y_ticks, y_labels), _), = drawn["set_yticks"]
    assert (list(x_ticks), list(x_labels)) == ([0, 1, 2], ["z0", "z1", "z2"])
    assert (list(y_ticks), list(y_labels)) == ([0, 1], ["shape", "scale"])
    annotations = {(args[1], args[0]): args[2] for _, args, _ in drawn["text"]}
    assert annotations == {(r, c): f"{matrix[r, c]:.2f}" for r in range(2) for c in range(3)}


# --- main_viz's charts of a trained run ------------------------------------------------------

@pytest.fixture
def viz(tiny_trained_run, dsprites_data_dir, tmp_path):
    """main_viz on a copy of the tiny trained run (its folder as .dir)."""
    results = tmp_path / "results"
    shutil.copytree(tiny_trained_run, results / "tiny")

    def run(*argv):
        main_viz.main(["tiny", *argv, "--results-dir", str(results),
                       "--data-dir", str(dsprites_data_dir)])

    run.dir = results / "tiny"
    return run


def logged_last_epoch_kl(path):
    """The kl_loss_<d> values of the last epoch of train_losses.log, read as plain text."""
    rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
    last = max(int(epoch) for epoch, _, _ in rows)
    kl = {int(key[len("kl_loss_"):]): float(value) for epoch, key, value in rows
          if int(epoch) == last and key.startswith("kl_loss_")}
    return np.array([kl[d] for d in range(len(kl))])


def test_kl_per_dim_of_a_run_plots_the_last_epochs_kl(viz, drawn):
    viz("kl-per-dim")
    (_, (labels, heights), _), = drawn["bar"]
    expected = logged_last_epoch_kl(viz.dir / "train_losses.log")
    assert list(labels) == [f"z{d}" for d in range(len(expected))]
    np.testing.assert_allclose(heights, expected)


def test_latent_vs_factor_of_a_run_ranks_rows_by_kl_and_shows_each_factor(viz, drawn):
    viz("latent-vs-factor")
    kl = logged_last_epoch_kl(viz.dir / "train_losses.log")
    order = sorted(range(len(kl)), key=lambda d: -kl[d])
    labels = {grid_position(ax)[0]: args[0] for ax, args, _ in drawn["set_ylabel"]}
    assert [labels[row] for row in range(len(kl))] == [f"z{d}\nKL {kl[d]:.2f}" for d in order]
    titles = [args[0] for ax, args, _ in drawn["set_title"]]
    assert titles == ["shape", "scale", "orientation", "posX", "posY"]
    by_cell = {grid_position(ax): y for ax, (x, y), _ in drawn["plot"]}
    for col in range(5):  # rows plot different latents, so their curves differ
        curves = [by_cell[row, col] for row in range(len(kl))]
        assert not np.allclose(curves[0], curves[-1])


def test_mi_matrix_of_a_run_plots_the_logged_matrix(viz, drawn):
    matrix = np.random.default_rng(0).random((6, 10))
    names = ["color", "shape", "scale", "orientation", "posX", "posY"]
    record = {"MIG": 0.1, "mig_sampled": {"mi_matrix": matrix.tolist(),
                                          "recipe": {"mi_matrix_rows": names}}}
    (viz.dir / "metrics.log").write_text(json.dumps(record))
    viz("mi-matrix")
    (_, (image,), _), = drawn["imshow"]
    kl = logged_last_epoch_kl(viz.dir / "train_losses.log")  # latents in KL order, as every plot
    np.testing.assert_allclose(image, matrix[:, np.argsort(-kl, kind="stable")])
    (_, (_, y_labels), _), = drawn["set_yticks"]
    assert list(y_labels) == names
