"""The stages of one run of a sweep, train -> metrics -> plots, each a main.py or main_viz.py
command in a child process: `python -m utils.sweep_run SWEEP_DIR RUN [--stages ...]`.

Each stage leaves its log and a marker in SWEEP_DIR/logs/<run>/: <stage>.log, then
<stage>.done after success or <stage>.failed (its exit status) after a failure. A stage already
done is skipped; training with a checkpoint.pt in the run folder continues it (main.py
--resume), so a run stopped anywhere (Ctrl-C, SIGTERM, a SLURM time limit or preemption) is
completed by running it again, with the same model as an uninterrupted run.

Stops: SIGTERM to the run's process group reaches main.py, which saves its checkpoint and
exits; this process then starts no further stage and exits 143. Under SLURM, submitit calls
`RunStages.checkpoint` on the time-limit signal (SIGUSR2, which main.py ignores): it stops
main.py with one SIGTERM, waits for its checkpoint, and lets submitit requeue the task.
Imports no torch.
"""
import argparse
import json
import os
import signal
import subprocess
import sys

from disvae.utils.run_folder import CHECKPOINT_FILE, write_text
from utils.dataset_registry import USER_DATA_FLAGS, has_ground_truth

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = ("train", "metrics", "plots")
SWEEP_FILE = "sweep.json"
LOGS = "logs"
# options after -- that main_viz.py takes too
VIZ_OPTIONS = ("--data-dir", "--no-cuda")
# options after -- that only training takes: scoring reopens the data as the run recorded it
TRAINING_DATA_OPTIONS = tuple(USER_DATA_FLAGS.values())
EXIT_STOPPED = 128 + signal.SIGTERM

_child = {"process": None, "stopping": False}  # this process's running stage


class RunStopped(RuntimeError):
    """The run was stopped by a signal and saved its checkpoint: run it again to continue."""


def stage_path(sweep_dir, run_name, stage, kind):
    """SWEEP_DIR/logs/<run>/<stage>.<kind> (kind: log, done or failed)."""
    return os.path.join(sweep_dir, LOGS, run_name, f"{stage}.{kind}")


def read_sweep(sweep_dir):
    with open(os.path.join(sweep_dir, SWEEP_FILE)) as handle:
        return json.load(handle)


def viz_options(options):
    """The options of a list for main.py that main_viz.py takes too."""
    kept, words = [], list(options)
    for i, word in enumerate(words):
        if word in VIZ_OPTIONS:
            kept.append(word)
            if word == "--data-dir" and i + 1 < len(words):
                kept.append(words[i + 1])
        elif word.startswith("--data-dir="):
            kept.append(word)
    return kept


def metrics_options(options):
    """The options of a list for main.py without those only training takes (and their
    values)."""
    kept, skip = [], False
    for word in options:
        if skip:
            skip = False
        elif word in TRAINING_DATA_OPTIONS:
            skip = True
        elif word.split("=", 1)[0] not in TRAINING_DATA_OPTIONS:
            kept.append(word)
    return kept


def stage_command(sweep_dir, run, stage, python=sys.executable):
    """The argv of a stage of run (a record of sweep.json), or None when it does not apply."""
    folder = ["--results-dir", sweep_dir]
    main = [python, os.path.join(REPO, "main.py"), run["name"]]
    if stage == "train":
        resume = os.path.exists(os.path.join(sweep_dir, run["name"], CHECKPOINT_FILE))
        return main + run["train_options"] + folder + (["--resume"] if resume else [])
    if stage == "metrics":
        # the metrics need factors; the user's own data recorded whether it has them
        if not (run["ground_truth"] if "ground_truth" in run else
                has_ground_truth(run["dataset"])):
            return None
        return main + ["--is-eval-only", "--is-metrics", "--no-test", "--no-progress-bar",
                       *metrics_options(run["main_options"]), *folder]
    return [python, os.path.join(REPO, "main_viz.py"), run["name"], *run["plots"],
            *viz_options(run["main_options"]), *folder]


def ignore_usr2():
    """In the child: ignore SIGUSR2 (SLURM's time-limit signal is for submitit, and the
    ignored disposition survives exec)."""
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def on_sigterm(signum, frame):
    """The process group got SIGTERM: the stage's main.py got it too and is saving its
    checkpoint; start no further stage."""
    _child["stopping"] = True


def run_stage(sweep_dir, run, stage, python):
    """Run one stage unless done; its marker records the outcome. Returns its exit status."""
    done = stage_path(sweep_dir, run["name"], stage, "done")
    failed = stage_path(sweep_dir, run["name"], stage, "failed")
    argv = stage_command(sweep_dir, run, stage, python)
    if os.path.exists(done) or argv is None:
        return 0
    log = stage_path(sweep_dir, run["name"], stage, "log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    if os.path.exists(failed):
        os.remove(failed)
    print(f"{stage}: {' '.join(argv)}", flush=True)
    with open(log, "a") as handle:
        _child["process"] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=handle,
                                             stderr=subprocess.STDOUT, cwd=REPO,
                                             preexec_fn=ignore_usr2)
        status = _child["process"].wait()
        _child["process"] = None
    if status == 0:
        write_text(done, "")
    elif not _child["stopping"]:
        write_text(failed, f"{status}\n")
    return status


def run_stages(sweep_dir, run_name, stages=STAGES, python=sys.executable):
    """Run the stages of run_name in order; RunStopped after a signal, RuntimeError naming
    the log after a failure."""
    runs = {run["name"]: run for run in read_sweep(sweep_dir)["runs"]}
    run = runs[run_name]
    for stage in STAGES:
        if stage not in stages:
            continue
        status = run_stage(sweep_dir, run, stage, python)
        if _child["stopping"]:
            raise RunStopped(f"{run_name} stopped during {stage}; its checkpoint is kept: run "
                             f"the sweep again to continue")
        if status != 0:
            raise RuntimeError(f"{run_name}: {stage} failed with exit status {status} (see "
                               f"{stage_path(sweep_dir, run_name, stage, 'log')})")


def stop_child():
    """Stop the running stage with one SIGTERM (main.py saves its checkpoint) and wait for
    it to end. Called from a signal handler that interrupted Popen.wait, which holds the
    process's wait lock: so wait without reaping (WNOWAIT), leaving its status to that wait."""
    process = _child["process"]
    _child["stopping"] = True
    if process is not None and process.returncode is None:
        process.send_signal(signal.SIGTERM)
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)


try:
    from submitit.helpers import Checkpointable
except ImportError:  # only the SLURM launcher needs submitit
    Checkpointable = object


class RunStages(Checkpointable):
    """The task of a SLURM job array: run_stages of one run. Requeued by submitit after its
    time-limit signal (or preemption), it continues from the run's checkpoint."""

    def __init__(self, sweep_dir, stages=STAGES, python=sys.executable):
        self.sweep_dir, self.stages, self.python = sweep_dir, tuple(stages), python

    def __call__(self, run_name):
        signal.signal(signal.SIGTERM, on_sigterm)
        run_stages(self.sweep_dir, run_name, self.stages, self.python)
        return run_name

    def checkpoint(self, *args, **kwargs):
        stop_child()
        return super().checkpoint(*args, **kwargs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir")
    parser.add_argument("run")
    parser.add_argument("--stages", default=",".join(STAGES))
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        run_stages(args.sweep_dir, args.run, args.stages.split(","))
    except RunStopped as stop:
        print(f"stopped: {stop}", file=sys.stderr)
        sys.exit(EXIT_STOPPED)
    except RuntimeError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
