"""Resuming a stopped run gives exactly the run that never stopped (seeded, on the CPU).

The tiny dataset has 5 batches per epoch, so stops fall inside and at the ends of epochs.
"""
import json
import os
import random
import signal
import subprocess
import time

import pytest

from disvae import training
from disvae.models import losses
from training_runs import (assert_same_run, child_env, common_options, main_command,  # noqa: F401
                           one_thread, read_weights, run_main, small_data_dir)


@pytest.mark.parametrize("loss", ["btcvae", "factor"])
def test_resume_after_max_steps_matches_uninterrupted_run(loss, small_data_dir, tmp_path,
                                                          capsys):
    batch_size = 4 if loss == "factor" else 8  # FactorVAE doubles it to 8
    common = common_options(small_data_dir, tmp_path, loss, batch_size)
    assert run_main(capsys, "straight", *common, "--max-steps", 13)[0] is None
    assert run_main(capsys, "resumed", *common, "--max-steps", 7)[0] is None
    stopped = read_weights(tmp_path / "resumed" / "checkpoint.pt")
    assert (stopped["step"], stopped["epoch"], stopped["batch"]) == (7, 1, 2)
    assert run_main(capsys, "resumed", "--resume", "--max-steps", 13,
                    "--results-dir", tmp_path)[0] is None
    assert_same_run(tmp_path / "straight", tmp_path / "resumed")
    specs = json.loads((tmp_path / "resumed" / "specs.json").read_text())
    assert specs["batch_size"] == 8 and specs["steps"] == 13  # FactorVAE not doubled twice
    assert specs["resumes"][0]["step"] == 7
    assert specs["resumes"][0]["changed"] == {"max_steps": 13}


def test_resume_extends_a_finished_run(small_data_dir, tmp_path, capsys):
    common = common_options(small_data_dir, tmp_path)
    assert run_main(capsys, "straight", *common, "-e", 3)[0] is None
    assert run_main(capsys, "extended", *common, "-e", 2)[0] is None
    message, _ = run_main(capsys, "extended", "--resume", "--results-dir", tmp_path)
    assert "already finished" in message and "--epochs" in message
    assert run_main(capsys, "extended", "--resume", "-e", 3, "--results-dir", tmp_path)[0] is None
    assert_same_run(tmp_path / "straight", tmp_path / "extended")


def send_signal_at_step(monkeypatch, signum, at_step):
    """Make the process receive signum during training step at_step."""
    original = losses.BtcvaeLoss.train_step

    def train_step(self, model, data, optimizer, step):
        if step == at_step:
            os.kill(os.getpid(), signum)
        return original(self, model, data, optimizer, step)

    monkeypatch.setattr(losses.BtcvaeLoss, "train_step", train_step)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_checkpoint_and_resume_matches_uninterrupted_run(
        signum, small_data_dir, tmp_path, capsys, monkeypatch):
    common = common_options(small_data_dir, tmp_path)
    assert run_main(capsys, "straight", *common, "--max-steps", 12)[0] is None
    with monkeypatch.context() as patch:
        send_signal_at_step(patch, signum, at_step=4)
        code, err = run_main(capsys, "stopped", *common, "--max-steps", 12)
    assert code == 128 + signum
    last_line = err.strip().splitlines()[-1]
    assert f"stopped by {signal.Signals(signum).name} after step 4" in last_line
    assert last_line.endswith(f"Resume with: python main.py stopped --resume --results-dir "
                              f"{tmp_path}")
    assert read_weights(tmp_path / "stopped" / "checkpoint.pt")["step"] == 4
    assert not (tmp_path / "stopped" / "model.pt").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    assert run_main(capsys, "stopped", "--resume", "--results-dir", tmp_path)[0] is None
    assert_same_run(tmp_path / "straight", tmp_path / "stopped")


@pytest.mark.parametrize("at_step", [3, 6])
def test_signal_in_a_step_that_ends_a_window_logs_the_window_first(
        at_step, small_data_dir, tmp_path, capsys, monkeypatch):
    """Windows of 3 steps: the window ending at the signalled step is logged before the
    checkpoint, so the resumed run logs every window once, as the uninterrupted run does."""
    common = common_options(small_data_dir, tmp_path)
    assert run_main(capsys, "straight", *common, "--max-steps", 12)[0] is None
    with monkeypatch.context() as patch:
        send_signal_at_step(patch, signal.SIGINT, at_step=at_step)
        assert run_main(capsys, "stopped", *common, "--max-steps", 12)[0] == 128 + signal.SIGINT
    state = read_weights(tmp_path / "stopped" / "checkpoint.pt")
    assert (state["step"], state["window_steps"]) == (at_step, 0)
    assert run_main(capsys, "stopped", "--resume", "--results-dir", tmp_path)[0] is None
    assert_same_run(tmp_path / "straight", tmp_path / "stopped")


@pytest.mark.parametrize("max_steps", [12, 13])  # the last window full, then one step long
def test_signal_in_the_last_step_lets_the_run_finish(max_steps, small_data_dir, tmp_path,
                                                     capsys, monkeypatch):
    common = common_options(small_data_dir, tmp_path)
    assert run_main(capsys, "straight", *common, "--max-steps", max_steps)[0] is None
    with monkeypatch.context() as patch:
        send_signal_at_step(patch, signal.SIGINT, at_step=max_steps)
        assert run_main(capsys, "signalled", *common, "--max-steps", max_steps)[0] is None
    assert (tmp_path / "signalled" / "model.pt").exists()
    assert_same_run(tmp_path / "straight", tmp_path / "signalled")


def wait_for(condition, process, timeout_s=120):
    """Poll condition() while the child process runs."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the child process never got there"
        time.sleep(0.01)


def logged_epochs(run):
    path = run / "train_losses.log"
    lines = path.read_text().splitlines()[1:] if path.exists() else []
    return len({line.split(",")[0] for line in lines})


def test_sigkill_at_random_moment_then_resume_matches_uninterrupted_run(small_data_dir,
                                                                       tmp_path, capsys):
    common = common_options(small_data_dir, tmp_path)
    assert run_main(capsys, "straight", *common, "--max-steps", 25)[0] is None
    run = tmp_path / "killed"
    process = subprocess.Popen(main_command("killed", *common, "--max-steps", 25),
                               stderr=subprocess.PIPE, text=True, env=child_env())
    # a random moment within the run: after epoch 0, 1 or 2 of 5 was logged, plus up to 50 ms
    wait_for(lambda: logged_epochs(run) > random.randrange(3), process)
    time.sleep(random.uniform(0.0, 0.05))
    process.kill()
    process.communicate()
    assert not (run / "model.pt").exists(), "the run ended before the kill"
    at_kill = read_weights(run / "checkpoint.pt")["step"]
    assert run_main(capsys, "killed", "--resume", "--results-dir", tmp_path)[0] is None
    assert_same_run(tmp_path / "straight", run)
    specs = json.loads((run / "specs.json").read_text())
    assert specs["resumes"][0]["step"] == at_kill


def test_second_signal_exits_at_once_keeping_the_last_checkpoint(small_data_dir, tmp_path,
                                                                 capsys, monkeypatch):
    def exit_now(code):  # os._exit, observable from this process
        raise SystemExit(code)

    original = losses.BtcvaeLoss.train_step

    def train_step(self, model, data, optimizer, step):
        if step == 8:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, model, data, optimizer, step)

    monkeypatch.setattr(os, "_exit", exit_now)
    monkeypatch.setattr(losses.BtcvaeLoss, "train_step", train_step)
    code, err = run_main(capsys, "r", *common_options(small_data_dir, tmp_path), "-e", 4)
    assert code == 128 + signal.SIGTERM
    assert "second stop signal (SIGTERM): exiting at once; the checkpoint of step 5" in err
    state = read_weights(tmp_path / "r" / "checkpoint.pt")
    assert state["step"] == 5 and training.all_finite(state)
