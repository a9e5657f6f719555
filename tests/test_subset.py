"""`main.py --subset N`: a run trains on N images of its dataset drawn with its seed, records N
in specs.json, and its evaluation and plots reopen the same images; the metrics score the
subset (an incomplete grid of factors). Also: an earlier metrics.log of another recipe is set
aside, never silently replaced."""
import json
import shutil

import numpy as np
import pytest

import main_viz
from training_runs import one_thread, run_main  # noqa: F401 (autouse: one PyTorch thread)
from utils import dsprites_procedural
from utils.config import ConfigError
from utils.datasets import get_dataset, subset, training_data

N_SUBSET = 48


@pytest.fixture(scope="module")
def dsprites(dsprites_data_dir):
    return get_dataset("dsprites", root=str(dsprites_data_dir))


def test_subset_holds_distinct_images_with_their_own_factors(dsprites):
    part = subset(dsprites, N_SUBSET, seed=7)
    assert len(part) == N_SUBSET and part.factor_names == dsprites.factor_names
    rows = {tuple(row) for row in part.factor_classes}
    assert len(rows) == N_SUBSET and rows <= {tuple(row) for row in dsprites.factor_classes}
    rendered = dsprites_procedural.render_dsprites(part.factor_classes)
    np.testing.assert_array_equal(part.images[:, 0].numpy(), rendered["imgs"])
    assert part.factor_values.shape == (N_SUBSET, len(dsprites.factor_names))


def test_subset_is_a_function_of_the_seed(dsprites):
    same = [subset(dsprites, N_SUBSET, seed=7).factor_classes for _ in range(2)]
    other = subset(dsprites, N_SUBSET, seed=8).factor_classes
    np.testing.assert_array_equal(*same)
    assert not np.array_equal(same[0], other)


@pytest.mark.parametrize("n_images, message", [(1, "--subset must be 2 or more, got 1"),
                                               (2049, "--subset 2049 asks for more images "
                                                      "than the 2,048 of dataset 'dsprites'")])
def test_subset_outside_the_dataset_is_refused(dsprites, n_images, message):
    with pytest.raises(ConfigError, match=message):
        subset(dsprites, n_images, seed=0)


def test_training_data_of_options_without_subset_is_the_dataset(dsprites_data_dir, dsprites):
    data = training_data({"dataset": "dsprites", "seed": 3}, str(dsprites_data_dir))
    assert len(data) == len(dsprites)


@pytest.mark.parametrize("value, line", [
    ("1", "error: --subset must be 2 or more, got 1: fix the command line or the preset"),
    ("0", "error: argument --subset: must be a positive integer, got 0"),
    ("99999", "error: --subset 99999 asks for more images than the 2,048 of dataset "
              "'dsprites': pass --subset 2048 or less")])
def test_bad_subset_is_one_line(dsprites_data_dir, tmp_path, capsys, value, line):
    outcome, _ = run_main(capsys, "r", "-x", "btcvae_dsprites", "--subset", value,
                          "--max-steps", 2, "--no-test", "--no-progress-bar",
                          "--data-dir", dsprites_data_dir, "--results-dir", tmp_path)
    assert outcome.startswith(line) and "\n" not in outcome


def test_a_subset_run_is_evaluated_and_plotted_on_its_own_images(dsprites_data_dir, tmp_path,
                                                                 small_recipes, capsys):
    common = ["--no-progress-bar", "--data-dir", dsprites_data_dir, "--results-dir", tmp_path]
    assert run_main(capsys, "sub", "-x", "btcvae_dsprites", "--subset", N_SUBSET, "-s", 5,
                    "-b", 16, "--max-steps", 4, "--no-test", *common)[0] is None
    specs = json.loads((tmp_path / "sub" / "specs.json").read_text())
    assert (specs["subset"], specs["n_train"]) == (N_SUBSET, N_SUBSET)
    steps = (tmp_path / "sub" / "train_steps.log").read_text()
    assert steps.startswith("Step,Loss,Value")
    # an epoch of the subset is 3 batches of 16: the 4th step begins epoch 1
    epochs = {line.split(",")[0] for line in
              (tmp_path / "sub" / "train_losses.log").read_text().splitlines()[1:]}
    assert epochs == {"0", "1"}

    assert run_main(capsys, "sub", "--is-eval-only", "--is-metrics", *common)[0] is None
    metrics = json.loads((tmp_path / "sub" / "metrics.log").read_text())
    assert (metrics["n_images"], metrics["images_scored"]) == (N_SUBSET, "all")
    test_losses = json.loads((tmp_path / "sub" / "test_losses.log").read_text())
    assert test_losses["order_seed"] == 5

    main_viz.main(["sub", "data-samples", "-r", "1", "-c", "3", "-i", "0", "1", "2",
                   "--results-dir", str(tmp_path), "--data-dir", str(dsprites_data_dir)])
    assert (tmp_path / "sub" / "data_samples.png").is_file()
    run = main_viz.Run(main_viz.build_parser().parse_args(
        ["sub", "all", "--results-dir", str(tmp_path), "--data-dir", str(dsprites_data_dir)]),
        "cpu", None)
    np.testing.assert_array_equal(
        run.dataset.factor_classes,
        subset(get_dataset("dsprites", root=str(dsprites_data_dir)), N_SUBSET, 5).factor_classes)


def test_metrics_of_another_recipe_set_the_earlier_metrics_log_aside(tiny_trained_run, tmp_path,
                                                                    small_recipes, capsys,
                                                                    dsprites_data_dir):
    shutil.copytree(tiny_trained_run, tmp_path / "tiny")
    evaluate = ["tiny", "--is-eval-only", "--is-metrics", "--no-test", "--no-progress-bar",
                "--data-dir", dsprites_data_dir, "--results-dir", tmp_path]
    assert run_main(capsys, *evaluate, "--metrics-images", 500)[0] is None
    first = (tmp_path / "tiny" / "metrics.log").read_text()
    assert run_main(capsys, *evaluate, "--metrics-images", 500)[0] is None  # same recipe
    assert not list((tmp_path / "tiny").glob("metrics-*.log"))
    assert json.loads((tmp_path / "tiny" / "metrics.log").read_text())["MIG"] == \
        json.loads(first)["MIG"]
    assert run_main(capsys, *evaluate, "--metrics-images", 600)[0] is None
    kept = list((tmp_path / "tiny").glob("metrics-*.log"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["MIG"] == json.loads(first)["MIG"]
    assert json.loads((tmp_path / "tiny" / "metrics.log").read_text())["n_images"] == 600
