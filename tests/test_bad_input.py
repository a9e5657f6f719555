"""Inputs that used to end in a traceback or a misleading line: each is now one line naming
the problem and the fix, and nothing already written is lost."""
import json
import subprocess
import sys

import pytest

import main
from utils import runner
from datasets_support import lay_out_mnist_test_split
from test_robustness import assert_one_line_error
from training_runs import (REPO, common_options, folder_contents, one_thread,  # noqa: F401
                           run_main, small_data_dir)


def test_a_diverging_learning_rate_is_the_divergence_line(small_data_dir, tmp_path, capsys):
    """At --lr 1000 the weights overflow and the decoder's outputs are NaN, which binary
    cross-entropy refuses with a RuntimeError: that is reported as a divergence."""
    outcome, _ = run_main(capsys, "r", *common_options(small_data_dir, tmp_path), "--lr", 1000,
                          "--max-steps", 20)
    assert_one_line_error(outcome, "became NaN or infinite", "lower the learning rate",
                          "--lr 100")


@pytest.mark.parametrize("value", ["inf", "nan", "1e999"])
def test_a_learning_rate_that_is_not_finite_is_refused(value, capsys):
    with pytest.raises(SystemExit) as stop:
        main.parse_arguments(["r", "--lr", value])
    assert "must be a positive finite number" in str(stop.value.code)
    assert "\n" not in str(stop.value.code)


def test_a_thousand_latents_finish_an_epoch_with_a_training_gif(small_data_dir, tmp_path):
    assert run_main(None, "r", *common_options(small_data_dir, tmp_path), "-z", 1000,
                    "--epochs", 1)[0] is None
    assert (tmp_path / "r" / "training.gif").stat().st_size > 0
    assert (tmp_path / "r" / "model.pt").exists()


def test_a_batch_beyond_the_memory_is_refused_before_training(small_data_dir, tmp_path,
                                                                 capsys):
    outcome, _ = run_main(capsys, "r", *common_options(small_data_dir, tmp_path),
                          "-b", 10 ** 9, "--max-steps", 1)
    assert_one_line_error(outcome, "-b 1000000000 needs about", "GB free", "pass -b")
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_metrics_on_data_without_factors_are_refused_before_training(shared_data, tmp_path,
                                                                     capsys):
    lay_out_mnist_test_split(shared_data, tmp_path / "data")
    outcome, _ = run_main(capsys, "r", "-x", "betaH_mnist", "--is-metrics", "--max-steps", 2,
                          "--no-progress-bar", "--data-dir", tmp_path / "data",
                          "--results-dir", tmp_path / "res")
    assert_one_line_error(outcome, "no ground-truth factors", "before training")
    assert not (tmp_path / "res" / "r" / "checkpoint.pt").exists()


def test_ctrl_c_while_evaluating_is_one_line_and_keeps_the_model(small_data_dir, tmp_path,
                                                                 capsys, monkeypatch):
    assert run_main(None, "r", *common_options(small_data_dir, tmp_path), "--max-steps", 2)[0] \
        is None
    before = folder_contents(tmp_path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(runner, "random_order_test_losses", interrupted)
    outcome, err = run_main(capsys, "r", "--is-eval-only", "--results-dir", tmp_path,
                            "--data-dir", small_data_dir)
    assert outcome == 130
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: interrupted") and "--is-eval-only" in last
    assert "Traceback" not in err
    assert folder_contents(tmp_path) == before


@pytest.fixture
def one_latent_run(small_data_dir, tmp_path):
    assert run_main(None, "r", *common_options(small_data_dir, tmp_path), "-z", 1,
                    "--max-steps", 2)[0] is None
    return tmp_path


def viz(results, *argv):
    """main_viz.py on run r of results, in a child process."""
    return subprocess.run([sys.executable, str(REPO / "main_viz.py"), "r", *map(str, argv),
                           "--results-dir", str(results)], capture_output=True, text=True,
                          cwd=REPO)


def test_plots_of_a_one_latent_run_need_no_rows_option(one_latent_run, small_data_dir):
    done = viz(one_latent_run, "traversals", "reconstruct", "-s", 1, "--data-dir",
               small_data_dir)
    assert done.returncode == 0, done.stderr
    assert (one_latent_run / "r" / "prior_traversals.png").exists()
    assert (one_latent_run / "r" / "reconstruct.png").exists()


def test_a_typed_row_count_beyond_the_latents_is_still_refused(one_latent_run):
    done = viz(one_latent_run, "traversals", "-r", 3)
    assert done.returncode != 0
    assert_one_line_error(done.stderr.strip(), "-r 3 asks for 3 traversal rows", "-r 1")


def test_a_picture_too_large_for_a_file_is_refused(one_latent_run):
    done = viz(one_latent_run, "data-samples", "-c", 100000)
    assert done.returncode != 0
    assert_one_line_error(done.stderr.strip(), "-c 100000 makes a picture", "pass -c 992")


def test_plots_refuse_a_run_name_outside_the_results_folder(tmp_path):
    done = viz(tmp_path / "results", "data-samples")  # run "r" does not exist: a plain error
    assert "no run 'r'" in done.stderr
    done = subprocess.run([sys.executable, str(REPO / "main_viz.py"), "..", "data-samples",
                           "--results-dir", str(tmp_path / "results")], capture_output=True,
                          text=True, cwd=REPO)
    assert_one_line_error(done.stderr.strip(), "is not a plain folder name")


def test_resuming_a_run_of_the_first_procedural_sprites_is_refused(small_data_dir, tmp_path,
                                                                   capsys):
    """Runs from before data_version was recorded were trained on version 1 of the sprites."""
    assert run_main(None, "r", *common_options(small_data_dir, tmp_path), "--max-steps", 2)[0] \
        is None
    specs_path = tmp_path / "r" / "specs.json"
    specs = json.loads(specs_path.read_text())
    assert specs["data_source"] == "procedural" and specs["data_version"] == 2
    del specs["data_version"]
    specs_path.write_text(json.dumps(specs))
    before = folder_contents(tmp_path)
    outcome, _ = run_main(capsys, "r", "--resume", "--max-steps", 4, "--results-dir", tmp_path,
                          "--data-dir", small_data_dir)
    assert_one_line_error(outcome, "data_version 1", "has 2", "train a new run")
    assert folder_contents(tmp_path) == before


def test_too_few_images_for_the_metrics_are_refused_before_training(capsys):
    with pytest.raises(SystemExit) as stop:
        main.main(["r", "--is-metrics", "--metrics-images", "1", "--max-steps", "1"])
    assert stop.value.code == ("error: --metrics-images must be 2 or more, got 1: fix the "
                               "command line or the preset in hyperparam.ini")


def test_a_small_metrics_pool_warns_that_scores_read_high(small_data_dir, tmp_path, capsys,
                                                          small_recipes):
    outcome, err = run_main(capsys, "r", *common_options(small_data_dir, tmp_path),
                            "--max-steps", 2, "--is-metrics", "--metrics-images", 30,
                            "--dci-trees", 2)
    assert outcome is None, outcome
    assert "fewer than the" in err and "read high" in err
    record = json.loads((tmp_path / "r" / "metrics.log").read_text())
    assert record["images_scored"] == "random subset of 30"
