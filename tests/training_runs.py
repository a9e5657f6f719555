"""Helpers of the resume, robustness and distributed tests: a tiny dataset, runs of main.py
in this process, and comparisons of run folders."""
import contextlib
import os
import sys
from pathlib import Path

import pytest
import torch

import main
from conftest import write_dsprites_subset

REPO = Path(__file__).resolve().parents[1]
SMALL_N_IMAGES = 40  # 5 steps per epoch at batch size 8


@pytest.fixture(scope="session")
def small_data_dir(tmp_path_factory):
    """A data folder with a 40-image procedural dSprites subset, so epochs end within a few
    steps."""
    return write_dsprites_subset(tmp_path_factory.mktemp("small_data"), SMALL_N_IMAGES)


@contextlib.contextmanager
def single_thread():
    """One PyTorch thread, as in child processes (see child_env): runs repeat bit for bit
    across processes, and stay fast on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def one_thread():
    with single_thread():
        yield


def child_env():
    return dict(os.environ, OMP_NUM_THREADS="1")


def run_main(capsys, *argv):
    """Run main.main in this process; returns (outcome, captured stderr or "" without capsys).

    The outcome is None after success, the message for `error: ...` exits, else the exit code.
    """
    try:
        main.main([str(arg) for arg in argv])
        outcome = None
    except SystemExit as stop:
        outcome = stop.code
    return outcome, capsys.readouterr().err if capsys else ""


def common_options(data_dir, results_dir, loss="btcvae", batch_size=8):
    """Options of the small runs: 5 steps per epoch at batch size 8, and windows of 3 steps in
    train_steps.log, so that windows straddle epochs and stops."""
    return ["-d", "dsprites", "-l", loss, "-b", batch_size, "-a", 10, "--no-test",
            "--no-progress-bar", "--log-every-steps", 3, "--data-dir", data_dir,
            "--results-dir", results_dir]


def read_weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_tensors(a, b):
    """Exact equality of two nested dicts/lists of tensors."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same_tensors(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_tensors(x, y)
    else:
        assert a == b


def assert_same_run(run_a, run_b):
    """Two run folders hold the same losses logs, final weights and final training state."""
    for log in ("train_losses.log", "train_steps.log"):
        assert (run_a / log).read_text() == (run_b / log).read_text()
    assert_same_tensors(read_weights(run_a / "model.pt"), read_weights(run_b / "model.pt"))
    state_a = read_weights(run_a / "checkpoint.pt")
    state_b = read_weights(run_b / "checkpoint.pt")
    for key in ("model", "optimizer", "loss", "step", "epoch", "batch", "epoch_sums",
                "window_sums", "window_steps"):
        assert_same_tensors(state_a[key], state_b[key])


def folder_contents(path):
    """{relative path: bytes} of every file under path (to prove nothing was changed)."""
    return {str(file.relative_to(path)): file.read_bytes()
            for file in sorted(Path(path).rglob("*")) if file.is_file()}


def main_command(*argv):
    """The command line running main.py in a child process."""
    return [sys.executable, str(REPO / "main.py"), *[str(arg) for arg in argv]]


def summary_scores(metrics):
    """The score columns of utils.summary read by hand from a parsed metrics.log, independently
    of utils.summary's own mapping (METRIC_COLUMNS), in its column order."""
    unsupervised = metrics["unsupervised"]
    return {"metric_images": metrics["n_images"], "MIG": metrics["MIG"],
            "MIG_without_shape": metrics["mig_sampled"]["mig_without_shape"],
            "AAM": metrics["AAM"], "MIG_discrete": metrics["mig_discrete"]["mig"],
            "BetaVAE": metrics["betavae"]["eval_accuracy"],
            "FactorVAE": metrics["factorvae"]["eval_accuracy"],
            "DCI_disentanglement": metrics["dci"]["disentanglement"],
            "DCI_completeness": metrics["dci"]["completeness"],
            "DCI_informativeness": metrics["dci"]["informativeness_test"],
            "DCI_trees": metrics["dci"]["recipe"]["n_estimators"],
            "SAP": metrics["sap"]["sap"],
            "modularity": metrics["modularity_explicitness"]["modularity"],
            "explicitness": metrics["modularity_explicitness"]["explicitness_test"],
            "IRS": metrics["irs"]["irs"],
            "gaussian_TC": unsupervised["gaussian_total_correlation"],
            "gaussian_WC": unsupervised["gaussian_wasserstein_correlation"],
            "gaussian_WC_norm": unsupervised["gaussian_wasserstein_correlation_norm"],
            "MI_score": unsupervised["mutual_info_score"]}
