"""--launcher slurm on a real one-node SLURM (bin/slurm_local.sh): a sweep as one job array,
and runs stopped by the time-limit signal or by a SIGTERM (as at preemption) then requeued,
which end with the same model as an uninterrupted run.

Needs root (to install and start SLURM) and submitit: skipped without them, failed under CI.
"""
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from training_runs import (REPO, assert_same_tensors, child_env, one_thread,  # noqa: F401
                           read_weights, run_main, small_data_dir)  # (fixtures)

START_SECONDS = 600  # apt-get install included


def unavailable(reason):
    if os.environ.get("CI"):
        pytest.fail(f"SLURM tests cannot run: {reason} (required when CI is set)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """The environment of client commands of a one-node SLURM started for these tests."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        unavailable("submitit is not installed (pip install -r requirements.txt)")
    if shutil.which("slurmctld") is None and os.geteuid() != 0:
        unavailable("SLURM is not installed and installing it needs root")
    state = tmp_path_factory.mktemp("slurm")
    script = [str(REPO / "bin" / "slurm_local.sh")]
    started = time.monotonic()
    result = subprocess.run(script + ["start", str(state)], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=START_SECONDS)
    if result.returncode != 0:
        unavailable(f"bin/slurm_local.sh start failed: {result.stderr.strip()}")
    print(f"SLURM started in {time.monotonic() - started:.0f} s")
    env = dict(child_env(), SLURM_CONF=str(state / "slurm.conf"))
    yield env
    subprocess.run(script + ["stop", str(state)], timeout=60)


def sweep_command(env, *argv):
    result = subprocess.run([sys.executable, "-m", "utils.sweep", *map(str, argv)], cwd=REPO,
                            capture_output=True, text=True, env=env, timeout=900,
                            stdin=subprocess.DEVNULL)
    return result.returncode, result.stdout, result.stderr


def slurm_command(env, *argv):
    return subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=60,
                          check=True).stdout


def wait_for(condition, what, seconds=600):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def job_ended(env, job):
    return not slurm_command(env, "squeue", "-h", "-j", job).strip()


def steps_logged(run_dir, lines):
    path = run_dir / "train_steps.log"
    return path.exists() and len(path.read_text().splitlines()) > lines


def test_a_sweep_runs_as_one_job_array_with_metrics_and_summary(slurm, small_data_dir,
                                                                tmp_path):
    """2 objectives x 2 seeds as one array; a rerun while the array is queued submits nothing
    (its runs are pending there), and after the array a rerun writes the spread over seeds."""
    started = time.monotonic()
    definition = ["-l", "betaH,btcvae", "--seeds", "1-2", "--no-plots", "--launcher", "slurm",
                  "--slurm-time", "20", "--slurm-cpus", 1]
    options = ["--", "-b", 8, "--max-steps", 3, "--no-test", "--data-dir", small_data_dir,
               "--metrics-images", 40, "--dci-trees", 2]
    code, out, err = sweep_command(slurm, "demo", "-r", tmp_path, *definition, *options)
    assert code == 0, out + err
    array = re.search(r"submitted job array (\d+) \(4 runs\)", out).group(1)
    # tasks not yet started stay queued (scontrol complains about those already running)
    subprocess.run(["scontrol", "hold", array], env=slurm, capture_output=True, timeout=60)
    runs = [f"{loss}_dsprites_s{seed}" for loss in ("betaH", "btcvae") for seed in (1, 2)]
    code, out, err = sweep_command(slurm, "demo", "-r", tmp_path, *definition, "--no-summary",
                                   *options)
    assert code == 0 and "submitted" not in out, out + err
    skipped = re.findall(r"skip: (\S+) is (?:queued as SLURM job (\S+)|running|finished)", out)
    assert sorted(name for name, _ in skipped) == runs
    assert {job for _, job in skipped if job} <= {f"{array}_{task}" for task in range(4)}
    slurm_command(slurm, "scontrol", "release", array)
    wait_for(lambda: job_ended(slurm, array), "the job array", seconds=900)
    print(f"4-run SLURM sweep in {time.monotonic() - started:.0f} s")
    sweep_dir = tmp_path / "demo"
    for run in runs:
        assert json.loads((sweep_dir / run / "specs.json").read_text())["steps"] == 3
        metrics = json.loads((sweep_dir / run / "metrics.log").read_text())
        assert 0 <= metrics["MIG"] <= 1
    assert sorted(path.name for path in (sweep_dir / "slurm").iterdir()
                  if not path.name.startswith(".")) == [
        array, *(f"{array}_{task}" for task in range(4))]  # the tasks of one array
    code, out, _ = sweep_command(slurm, "demo", "-r", tmp_path, "--status")
    assert out.splitlines()[0] == "sweep demo: 4 runs: 4 finished, 0 running, 0 failed, " \
                                  "0 pending"
    code, out, _ = sweep_command(slurm, "demo", "-r", tmp_path, "--no-plots", "--launcher",
                                 "slurm")
    assert code == 0 and "nothing to run" in out  # no job for finished runs
    with open(sweep_dir / "summary_by_setting.csv") as handle:
        settings = list(csv.DictReader(handle))
    assert [(row["loss"], row["runs"]) for row in settings] == [("betaH", "2"), ("btcvae", "2")]
    assert all(row["MIG_n"] == "2" and float(row["MIG_std"]) >= 0 for row in settings)


def interrupted_sweep(slurm, data_dir, results, stop):
    """Submit a one-run sweep of 60 steps, stop its job with stop(job id) once it has logged
    some steps, wait for it to end; returns (run folder, job id)."""
    code, out, err = sweep_command(
        slurm, "demo", "-r", results, "-l", "btcvae", "--no-metrics", "--no-plots",
        "--launcher", "slurm", "--slurm-time", "20", "--", *map(str, reference_options(
            data_dir)))
    assert code == 0, out + err
    job = re.search(r"submitted job array (\d+)", out).group(1)
    run_dir = results / "demo" / "btcvae_dsprites_s1"
    wait_for(lambda: steps_logged(run_dir, 3) or job_ended(slurm, job), "training to start")
    assert not job_ended(slurm, job), "the run ended before it could be stopped"
    stop(job)
    return run_dir, job


def reference_options(data_dir):
    return ["-b", 8, "--max-steps", 60, "--no-test", "--log-every-steps", 3, "-a", 10,
            "--data-dir", data_dir]


def assert_same_as_uninterrupted(run_dir, data_dir, results):
    outcome, _ = run_main(None, "reference", "-x", "btcvae_dsprites", "-s", 1,
                          "--no-progress-bar", *reference_options(data_dir), "--results-dir",
                          results)
    assert outcome is None
    reference = results / "reference"
    assert (run_dir / "train_losses.log").read_text() == \
        (reference / "train_losses.log").read_text()
    assert_same_tensors(read_weights(run_dir / "model.pt"), read_weights(reference / "model.pt"))


def test_a_run_stopped_by_its_time_limit_signal_is_requeued_and_continues(
        slurm, small_data_dir, tmp_path):
    """SLURM signals the job --slurm-signal-delay seconds before its time limit (SIGUSR2, as
    submitit asks); scancel --signal=USR2 sends that signal now."""
    started = time.monotonic()
    run_dir, job = interrupted_sweep(
        slurm, small_data_dir, tmp_path,
        lambda job: slurm_command(slurm, "scancel", "--signal=USR2", job))
    wait_for(lambda: "Restarts=1" in slurm_command(slurm, "scontrol", "show", "job", job),
             "the requeue")
    wait_for(lambda: job_ended(slurm, job), "the requeued job")
    print(f"time-limit stop and requeue in {time.monotonic() - started:.0f} s")
    train_log = (tmp_path / "demo" / "logs" / "btcvae_dsprites_s1" / "train.log").read_text()
    assert "training stopped by SIGTERM" in train_log and "Resuming" in train_log
    assert (tmp_path / "demo" / "logs" / "btcvae_dsprites_s1" / "train.done").exists()
    assert_same_as_uninterrupted(run_dir, small_data_dir, tmp_path)


def test_a_run_stopped_by_sigterm_continues_when_requeued(slurm, small_data_dir, tmp_path):
    """As at preemption: SIGTERM to the job's processes (main.py saves its checkpoint), then
    the job is requeued."""
    started = time.monotonic()
    run_dir, job = interrupted_sweep(
        slurm, small_data_dir, tmp_path,
        lambda job: slurm_command(slurm, "scancel", "--signal=TERM", job))
    wait_for(lambda: job_ended(slurm, job), "the stopped job to end")
    assert (run_dir / "checkpoint.pt").exists() and not (run_dir / "model.pt").exists()
    code, out, _ = sweep_command(slurm, "demo", "-r", tmp_path, "--status")
    assert "1 pending" in out.splitlines()[0]  # stopped, not failed
    slurm_command(slurm, "scontrol", "requeue", job)
    wait_for(lambda: "Restarts=1" in slurm_command(slurm, "scontrol", "show", "job", job),
             "the requeue")
    wait_for(lambda: job_ended(slurm, job), "the requeued job")
    print(f"SIGTERM stop and requeue in {time.monotonic() - started:.0f} s")
    assert "Resuming" in (tmp_path / "demo" / "logs" / "btcvae_dsprites_s1" /
                          "train.log").read_text()
    assert_same_as_uninterrupted(run_dir, small_data_dir, tmp_path)
