"""A user's files are never lost: run names stay inside the results folder, one process owns a
run folder at a time, every file is replaced atomically, and a run killed while writing its
final model can be completed."""
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from disvae.utils import run_folder
from disvae.utils.run_folder import RunFolderError, RunLock, archive_run, write_atomically
from training_runs import (REPO, child_env, common_options, folder_contents,  # noqa: F401
                           main_command, one_thread, read_weights, run_main, small_data_dir)
from test_robustness import assert_one_line_error


@pytest.mark.parametrize("name", ["..", ".", "a/b", "../x", "", "a\0b"])
def test_a_run_name_that_is_not_one_folder_name_is_refused_and_deletes_nothing(
        name, tmp_path, capsys):
    results = tmp_path / "X" / "res"
    (results / "old_run").mkdir(parents=True)
    (results / "old_run" / "model.pt").write_bytes(b"weights")
    (tmp_path / "X" / "unrelated.txt").write_text("keep me")
    before = folder_contents(tmp_path)
    outcome, _ = run_main(capsys, name, "-x", "btcvae_dsprites", "--max-steps", 2,
                          "--results-dir", results)
    assert_one_line_error(outcome, "is not a plain folder name")
    assert folder_contents(tmp_path) == before


def test_a_run_name_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "r").write_text("a file of the user")
    outcome, _ = run_main(capsys, "r", "--max-steps", 1, "--results-dir", tmp_path)
    assert_one_line_error(outcome, "exists and is not a folder")
    assert (tmp_path / "r").read_text() == "a file of the user"


def test_a_run_folder_that_links_outside_the_results_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "results").mkdir()
    os.symlink(elsewhere, tmp_path / "results" / "r")
    with pytest.raises(RunFolderError, match="is a link"):
        run_folder.run_folder(str(tmp_path / "results"), "r")


HOLD_LOCK = ("import sys, time; sys.path.insert(0, {repo!r}); "
             "from disvae.utils.run_folder import RunLock; "
             "lock = RunLock({folder!r}).acquire(); print('held', flush=True); time.sleep(600)")


@pytest.fixture
def held_run(small_data_dir, tmp_path):
    """A finished run folder whose lock another live process holds; yields (results, holder)."""
    results = tmp_path / "results"
    assert run_main(None, "r", *common_options(small_data_dir, results), "--max-steps", 2)[0] \
        is None
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK.format(
        repo=str(REPO), folder=str(results / "r"))], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    yield results, holder
    holder.kill()
    holder.wait()


@pytest.mark.parametrize("extra", [[], ["--resume", "--max-steps", 4], ["--is-eval-only"]])
def test_a_second_process_on_a_run_folder_is_refused_with_the_holders_pid(
        extra, held_run, small_data_dir, capsys):
    results, holder = held_run
    before = folder_contents(results)
    argv = ["r", *common_options(small_data_dir, results), "--max-steps", 2, *extra]
    if "--is-eval-only" in extra:
        argv = ["r", "--is-eval-only", "--results-dir", results, "--data-dir", small_data_dir]
    outcome, _ = run_main(capsys, *argv)
    assert_one_line_error(outcome, "is in use by process", str(holder.pid))
    assert folder_contents(results) == before
    assert not list(results.glob("*.zip"))


def test_the_lock_is_released_when_its_holder_is_killed(held_run):
    results, holder = held_run
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with RunLock(str(results / "r")):
        assert (results / "r" / ".lock").read_text().strip() == str(os.getpid())


def test_two_new_runs_of_one_name_at_once_one_trains_and_the_old_run_is_archived(
        small_data_dir, tmp_path):
    results = tmp_path / "results"
    assert run_main(None, "r", *common_options(small_data_dir, results), "--max-steps", 2)[0] \
        is None
    old_model = (results / "r" / "model.pt").read_bytes()
    command = main_command("r", *common_options(small_data_dir, results), "--max-steps", 3)
    processes = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=child_env(),
                                  cwd=REPO) for _ in range(2)]
    outcomes = [(process.wait(timeout=300), process.stderr.read()) for process in processes]
    codes = sorted(code for code, _ in outcomes)
    assert codes[0] == 0, outcomes
    refused = [err for code, err in outcomes if code != 0]
    if refused:  # the second one started while the first held the folder
        assert "is in use by process" in refused[0].strip().splitlines()[-1], refused[0]
        assert "Traceback" not in refused[0]
    archives = sorted(results.glob("r-*.zip"))
    assert 1 <= len(archives) <= 2
    with zipfile.ZipFile(archives[0]) as archive:
        assert archive.testzip() is None
        assert archive.read("r/model.pt") == old_model
    assert json.loads((results / "r" / "specs.json").read_text())["max_steps"] == 3
    assert not [path for path in results.rglob("*") if ".part" in path.name]


def test_archives_made_within_one_second_get_distinct_names(tmp_path):
    run = tmp_path / "r"
    names = set()
    for turn in range(3):
        run.mkdir(exist_ok=True)
        (run / "model.pt").write_text(f"weights {turn}")
        with RunLock(str(run)):
            names.add(archive_run(str(run)))
        assert os.listdir(run) == [".lock"]
    assert len(names) == 3
    contents = set()
    for name in names:
        with zipfile.ZipFile(name) as archive:
            assert archive.namelist() == ["r/model.pt"]
            contents.add(archive.read("r/model.pt"))
    assert len(contents) == 3


KILLED_WRITER = ("import sys, time; sys.path.insert(0, {repo!r}); "
                 "from disvae.utils.run_folder import write_atomically\n"
                 "def write(partial):\n"
                 "    handle = open(partial, 'w'); handle.write('{{\"MIG\": 0.'); handle.flush()\n"
                 "    print('writing', flush=True); time.sleep(600)\n"
                 "write_atomically({path!r}, write)")


def test_a_process_killed_while_writing_a_file_leaves_the_previous_version(tmp_path):
    path = tmp_path / "metrics.log"
    path.write_text('{"MIG": 0.25}')
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER.format(
        repo=str(REPO), path=str(path))], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert json.loads(path.read_text()) == {"MIG": 0.25}


def test_a_failed_write_keeps_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "test_losses.log"
    path.write_text("previous")

    def fail(partial):
        with open(partial, "w") as handle:
            handle.write("half")
        raise OSError(28, "No space left on device")
    with pytest.raises(OSError):
        write_atomically(str(path), fail)
    assert path.read_text() == "previous"
    assert os.listdir(tmp_path) == ["test_losses.log"]


@pytest.mark.parametrize("steps", [5, 7])  # the end of an epoch, and within one
def test_a_run_killed_before_writing_model_pt_is_completed_by_resume(
        steps, small_data_dir, tmp_path):
    """Training writes its final checkpoint, then model.pt: a kill in between leaves a final
    checkpoint without model.pt, which --resume completes to what the run would have been."""
    results = tmp_path / "results"
    options = [*common_options(small_data_dir, results, loss="factor"), "--max-steps", steps]
    assert run_main(None, "r", *options)[0] is None
    run = results / "r"
    finished = {name: (run / name).read_bytes() for name in
                ("train_losses.log", "train_steps.log")}
    weights = read_weights(run / "model.pt")
    discriminator = read_weights(run / "loss_state.pt")["discriminator"]
    (run / "model.pt").unlink()
    (run / "loss_state.pt").unlink()
    assert run_main(None, "r", "--resume", "--results-dir", results, "--data-dir",
                    small_data_dir)[0] is None
    for name, content in finished.items():
        assert (run / name).read_bytes() == content, name
    for key, value in read_weights(run / "model.pt").items():
        assert value.equal(weights[key])
    for key, value in read_weights(run / "loss_state.pt")["discriminator"].items():
        assert value.equal(discriminator[key])
    outcome, _ = run_main(None, "r", "--resume", "--results-dir", results, "--data-dir",
                          small_data_dir)
    assert "already finished" in outcome


def test_a_killed_holder_leaves_no_stale_lock_for_a_new_run(small_data_dir, tmp_path):
    results = tmp_path / "results"
    command = main_command("r", *common_options(small_data_dir, results), "--epochs", 1000)
    trainer = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=child_env(),
                               cwd=REPO)
    deadline = time.monotonic() + 120
    while not (results / "r" / "train_steps.log").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    trainer.send_signal(signal.SIGKILL)
    trainer.wait()
    assert run_main(None, "r", *common_options(small_data_dir, results), "--max-steps", 1)[0] \
        is None


def test_atomic_writes_get_the_permissions_open_would_give(tmp_path):
    """A temporary file is private (0600); the renamed result is made as open() makes files."""
    umask = os.umask(0o022)
    try:
        path = run_folder.write_text(str(tmp_path / "specs.json"), "{}")
    finally:
        os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o644
