"""Bad input and failures during training: each gives a one-line error, and nothing already
written is lost (every row of the table "Bad input and failures" in docs/training.md)."""
import errno
import json
import os
import shutil

import pytest
import torch

from disvae import training
from disvae.models import losses
from training_runs import (REPO, assert_same_run, common_options, folder_contents,  # noqa: F401
                           one_thread, read_weights, run_main, single_thread, small_data_dir)


@pytest.fixture(scope="module")
def stopped_run(small_data_dir, tmp_path_factory):
    """A run stopped by --max-steps within its second epoch (read-only: copy it to use it)."""
    results = tmp_path_factory.mktemp("results")
    with single_thread():
        assert run_main(None, "r", *common_options(small_data_dir, results),
                        "--max-steps", 7)[0] is None
    return results


@pytest.fixture
def results(stopped_run, tmp_path):
    """A copy of the stopped run's results folder for one test."""
    return shutil.copytree(stopped_run, tmp_path / "results")


def assert_one_line_error(outcome, *fragments):
    assert isinstance(outcome, str) and outcome.startswith("error: "), outcome
    assert "\n" not in outcome and "Traceback" not in outcome
    for fragment in fragments:
        assert fragment in outcome, outcome


def check_refused(capsys, results, argv, *fragments):
    """Run argv against the results folder: a one-line error and the folder unchanged."""
    before = folder_contents(results)
    outcome, _ = run_main(capsys, *argv)
    assert_one_line_error(outcome, *fragments)
    assert folder_contents(results) == before


@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_damaged_checkpoint(how, results, capsys):
    checkpoint = results / "r" / "checkpoint.pt"
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[:len(data) // 2] if how == "truncated" else b"garbage" * 99)
    check_refused(capsys, results, ["r", "--resume", "--results-dir", results],
                  "checkpoint.pt is corrupt or truncated", "without --resume")


def test_checkpoint_of_another_kind(results, capsys):
    torch.save({"model": {}}, results / "r" / "checkpoint.pt")
    check_refused(capsys, results, ["r", "--resume", "--results-dir", results],
                  "is not a training checkpoint")


def test_checkpoint_that_does_not_fit_the_stored_options(results, capsys):
    specs_path = results / "r" / "specs.json"
    specs = json.loads(specs_path.read_text())
    specs_path.write_text(json.dumps(dict(specs, latent_dim=5)))
    check_refused(capsys, results, ["r", "--resume", "--max-steps", 9, "--results-dir", results],
                  "does not fit its specs.json", "size mismatch")


def test_resume_without_run_folder(results, capsys):
    check_refused(capsys, results, ["nope", "--resume", "--results-dir", results],
                  "no run folder", "without --resume")


def test_resume_without_checkpoint(results, capsys):
    (results / "r" / "checkpoint.pt").unlink()
    check_refused(capsys, results, ["r", "--resume", "--results-dir", results],
                  "no checkpoint", "without --resume")


@pytest.mark.parametrize("argv,fragment", [
    (["-z", "5"], "--resume cannot change --latent-dim (run 'r' has 10, typed 5)"),
    (["-l", "betaH"], "--resume cannot change --loss"),
    (["-b", "16"], "--resume cannot change --batch-size"),
    (["-s", "7"], "--resume cannot change --seed"),
    (["--is-eval-only"], "drop one of them"),
])
def test_resume_with_incompatible_options(argv, fragment, results, capsys):
    check_refused(capsys, results, ["r", "--resume", *argv, "--results-dir", results], fragment)


def test_resume_with_equal_typed_options_is_fine(results, small_data_dir, capsys):
    argv = common_options(small_data_dir, results)
    assert run_main(capsys, "r", "--resume", *argv, "--max-steps", 8)[0] is None
    assert read_weights(results / "r" / "checkpoint.pt")["step"] == 8


def test_resume_on_other_data(results, dsprites_data_dir, capsys):
    check_refused(capsys, results, ["r", "--resume", "--data-dir", dsprites_data_dir,
                                    "--results-dir", results],
                  "n_train 40", "point --data-dir at the data it was trained on")


def test_resume_with_another_number_of_processes(results, capsys):
    path = results / "r" / "checkpoint.pt"
    state = read_weights(path)
    torch.save(dict(state, world_size=2), path)
    check_refused(capsys, results, ["r", "--resume", "--results-dir", results],
                  "trained by 2 process(es), this is 1", "torchrun --nproc_per_node=2")


def test_resume_of_a_finished_run_without_new_limit(results, capsys):
    check_refused(capsys, results, ["r", "--resume", "--results-dir", results],
                  "already finished", "raise --epochs or --max-steps")


def test_resume_into_a_folder_that_cannot_be_read(results, capsys):
    blocker = results / "file"
    blocker.write_text("not a folder")
    check_refused(capsys, results, ["r", "--resume", "--results-dir", blocker], "no run folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not stop root")
def test_resume_into_a_read_only_run_folder(results, capsys):
    os.chmod(results / "r", 0o555)
    try:
        check_refused(capsys, results, ["r", "--resume", "--max-steps", 9,
                                        "--results-dir", results], "cannot write to")
    finally:
        os.chmod(results / "r", 0o755)


def test_new_run_under_a_regular_file(results, small_data_dir, capsys):
    blocker = results / "file"
    blocker.write_text("not a folder")
    check_refused(capsys, results, ["r", *common_options(small_data_dir, blocker / "res")],
                  "cannot create", "--results-dir")


@pytest.mark.parametrize("argv,fragment", [
    (["-e", "-3"], "must be a positive integer, got -3"),
    (["-e", "many"], "invalid positive_int value: 'many'"),
    (["-b", "0"], "must be a positive integer, got 0"),
    (["-z", "0"], "must be a positive integer, got 0"),
    (["--lr", "0"], "must be a positive finite number, got 0"),
    (["--lr", "fast"], "invalid positive_float value: 'fast'"),
    (["-a", "-1"], "must be 0 or more, got -1"),
    (["--max-steps", "0"], "must be a positive integer, got 0"),
    (["--checkpoint-every", "-1"], "must be 0 or more, got -1"),
    (["-l", "factor", "-b", "1"], "FactorVAE needs a batch size of 2 or more, got 1"),
])
def test_bad_option_values(argv, fragment, results, small_data_dir, capsys):
    base = common_options(small_data_dir, results)
    check_refused(capsys, results, ["r", *base, *argv], fragment)


def write_presets(tmp_path, old, new):
    text = (REPO / "hyperparam.ini").read_text()
    assert old in text
    path = tmp_path / "presets.ini"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old,new,fragment", [
    ("epochs = 30", "epochs = -2", "--epochs must be a positive integer, got -2"),
    ("checkpoint_every = 10", "checkpoint_every = 2.5",
     "--checkpoint-every must be an integer, 0 or more, got 2.5"),
    ("loss = 'btcvae'\nlr = 5e-4", "loss = 'btcvae'\nlr = 'fast'",
     "--lr must be a positive finite number, got 'fast'"),
    ("[Common_dsprites]", "[Common_dsprites", "cannot read presets"),
    ("epochs = 30", "epochs = [30", "bad value for epochs in [Common_dsprites]"),
])
def test_bad_presets_file(old, new, fragment, results, small_data_dir, tmp_path, capsys,
                          monkeypatch):
    monkeypatch.setenv("DISVAE_CONFIG", str(write_presets(tmp_path, old, new)))
    check_refused(capsys, results, ["r", "-x", "btcvae_dsprites", "--data-dir", small_data_dir,
                                    "--results-dir", results], fragment)


def is_temporary(path, stem):
    """Whether path is a temporary file of run_folder.write_atomically for stem.*."""
    name = os.path.basename(str(path))
    return name.startswith(f".{stem}.") and ".part" in name


def test_full_disk_during_a_checkpoint_keeps_the_last_good_one(small_data_dir, tmp_path, capsys,
                                                               monkeypatch):
    common = common_options(small_data_dir, tmp_path)
    assert run_main(capsys, "straight", *common, "--max-steps", 12)[0] is None
    checkpoint = tmp_path / "full" / "checkpoint.pt"
    saved = {}
    real_save = torch.save

    def save(obj, path, *args, **kwargs):
        """Write checkpoints until the one after step 5, which stops half-written."""
        if is_temporary(path, "checkpoint") and obj["step"] > 5:
            saved["good"] = checkpoint.read_bytes()
            with open(path, "wb") as handle:
                handle.write(b"half a checkpoint")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, path, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", save)
        outcome, _ = run_main(capsys, "full", *common, "--max-steps", 12)
    assert_one_line_error(outcome, "No space left on device", "earlier files are intact",
                          f"continue with: python main.py full --resume --results-dir {tmp_path}")
    assert checkpoint.read_bytes() == saved["good"]
    assert read_weights(checkpoint)["step"] == 5
    assert not list(checkpoint.parent.glob("*.part*"))
    assert run_main(capsys, "full", "--resume", "--results-dir", tmp_path)[0] is None
    assert_same_run(tmp_path / "straight", tmp_path / "full")


def test_failure_to_write_the_losses_log_is_one_line(small_data_dir, tmp_path, capsys,
                                                     monkeypatch):
    def log(self, epoch, means):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(training.LossesLogger, "log", log)
    outcome, _ = run_main(capsys, "r", *common_options(small_data_dir, tmp_path), "-e", 2)
    assert_one_line_error(outcome, "could not write to", "No space left on device", "--resume")
    assert read_weights(tmp_path / "r" / "checkpoint.pt")["step"] == 0


def poison_loss_at_step(patch, at_step):
    """Make the reconstruction loss NaN at one step (its gradients then poison the weights)."""
    original = losses.reconstruction_loss
    calls = {"n": 0}

    def reconstruction_loss(data, recon, distribution="bernoulli"):
        calls["n"] += 1
        value = original(data, recon, distribution)
        return value * float("nan") if calls["n"] == at_step else value

    patch.setattr(losses, "reconstruction_loss", reconstruction_loss)


def test_nan_loss_stops_with_one_line_and_keeps_the_last_good_checkpoint(
        small_data_dir, tmp_path, capsys, monkeypatch):
    common = common_options(small_data_dir, tmp_path)
    with monkeypatch.context() as patch:
        poison_loss_at_step(patch, at_step=8)
        outcome, _ = run_main(capsys, "r", *common, "-e", 4)
    assert_one_line_error(outcome, "the loss term 'recon_loss' became NaN or infinite at step 8",
                          "last good checkpoint (step 5)", "lower the learning rate (now 0.0005)",
                          "python main.py r --resume", "--lr 5e-05")
    state = read_weights(tmp_path / "r" / "checkpoint.pt")
    assert state["step"] == 5 and training.all_finite(state)
    assert not (tmp_path / "r" / "model.pt").exists()
    log = (tmp_path / "r" / "train_losses.log").read_text()
    assert "nan" not in log.lower() and not log.splitlines()[-1].startswith("1,")
    assert run_main(capsys, "r", "--resume", "--lr", "5e-05", "--results-dir", tmp_path)[0] is None
    specs = json.loads((tmp_path / "r" / "specs.json").read_text())
    assert specs["lr"] == 5e-05 and specs["resumes"][-1]["changed"] == {"lr": 5e-05}


def test_non_finite_weights_are_never_checkpointed(small_data_dir, tmp_path, capsys,
                                                   monkeypatch):
    original = losses.BtcvaeLoss.train_step

    def train_step(self, model, data, optimizer, step):
        values = original(self, model, data, optimizer, step)
        if step == 5:  # the loss of this step was finite, the weights now are not
            with torch.no_grad():
                next(model.parameters()).fill_(float("inf"))
        return values

    monkeypatch.setattr(losses.BtcvaeLoss, "train_step", train_step)
    outcome, _ = run_main(capsys, "r", *common_options(small_data_dir, tmp_path), "-e", 2)
    assert_one_line_error(outcome, "the weights became NaN or infinite at step 5",
                          "last good checkpoint (step 0)")
    assert training.all_finite(read_weights(tmp_path / "r" / "checkpoint.pt"))
