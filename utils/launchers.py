"""Where the commands of a sweep or of a batch script run: on this machine N at a time
(`LocalPool`, also the job pool of the scripts of bin/), or as one SLURM job array submitted
through submitit (`submit_slurm`).

The local pool gives each command its own process group and log file, and on Ctrl-C or
SIGTERM sends one SIGTERM to each running command (main.py then saves its checkpoint; a
second signal would make it exit at once) and starts no other. Imports only the standard
library (submitit when submitting), so that the scripts of bin/ start it fast.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

EXIT_INTERRUPTED = 130


@dataclass
class Job:
    """One command of a pool: its display name, the file its output goes to, its argv, and
    its working folder (None: this process's)."""
    name: str
    log: str
    argv: list
    cwd: str = None


def threads_per_job(jobs):
    """Torch threads of each of `jobs` commands sharing this machine's cores (at least 1;
    $OMP_NUM_THREADS wins when set)."""
    return int(os.environ.get("OMP_NUM_THREADS") or max(1, (os.cpu_count() or 1) // jobs))


def last_lines(path, n):
    try:
        with open(path, errors="replace") as handle:
            return handle.read().splitlines()[-n:]
    except OSError:
        return []


class LocalPool:
    """Run jobs at most `jobs` at a time, reporting each start, end and failure on stdout."""

    def __init__(self, jobs, threads=None, out=sys.stdout):
        self.jobs = jobs
        self.threads = threads or threads_per_job(jobs)
        self.out = out
        self.running = {}  # Popen -> (Job, start time)
        self.done, self.failed = [], []
        self.stopping = False

    def say(self, text):
        print(text, file=self.out, flush=True)

    def start(self, job):
        os.makedirs(os.path.dirname(job.log) or ".", exist_ok=True)
        self.say(f"start: {job.name} (log: {job.log})")
        with open(job.log, "w") as log:
            process = subprocess.Popen(job.argv, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True,
                                       cwd=job.cwd,
                                       env=dict(os.environ, OMP_NUM_THREADS=str(self.threads)))
        self.running[process] = (job, time.monotonic())

    def reap(self):
        """Wait until one running job ends and report it."""
        while True:
            for process, (job, start) in list(self.running.items()):
                status = process.poll()
                if status is None:
                    continue
                del self.running[process]
                if status == 0:
                    self.done.append(job.name)
                    self.say(f"done: {job.name} ({time.monotonic() - start:.0f} s)")
                else:
                    self.failed.append(job.name)
                    code = status if status > 0 else 128 - status
                    self.say(f"FAILED (exit {code}): {job.name}; end of {job.log}:")
                    for line in last_lines(job.log, 3):
                        self.say(f"    {line}")
                return
            time.sleep(0.05)

    def stop(self, signum, frame):
        """Signal handler: one SIGTERM to each running job's process group."""
        if self.stopping:
            return
        self.stopping = True
        if self.running:
            print(f"stopping {len(self.running)} running command(s)...", file=sys.stderr,
                  flush=True)
        for process in self.running:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def run(self, jobs):
        """Run every job; returns 0 when all succeeded, 1 when some failed, EXIT_INTERRUPTED
        after Ctrl-C or SIGTERM (the running jobs are stopped and waited for)."""
        handlers = {signum: signal.signal(signum, self.stop)
                    for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            for job in jobs:
                while len(self.running) >= self.jobs and not self.stopping:
                    self.reap()
                if self.stopping:
                    break
                self.start(job)
            while self.running:
                self.reap()
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        if self.stopping:
            return EXIT_INTERRUPTED
        return 1 if self.failed else 0


# ------------------------------------------------------------------------------- SLURM

class LauncherError(RuntimeError):
    """A launcher that cannot run here; the message names the fix."""


@dataclass
class SlurmOptions:
    """The resources of each task of the job array (sbatch options)."""
    partition: str = None
    time_min: int = 60
    gpus: int = 0
    cpus: int = 1
    mem_gb: float = None
    parallelism: int = 256
    signal_delay_s: int = 120  # SIGUSR2 this long before the time limit: time to checkpoint
    extra: dict = None  # free-form sbatch options {name: value}


def slurm_time_minutes(text):
    """--slurm-time as minutes: MINUTES, HH:MM:SS or D-HH:MM:SS (sbatch's formats)."""
    days, _, clock = text.rpartition("-") if "-" in text else ("0", "", text)
    try:
        parts = [int(part) for part in clock.split(":")]
        if len(parts) == 1:
            minutes = parts[0]
        elif len(parts) == 3:
            minutes = parts[0] * 60 + parts[1] + (parts[2] > 0)
        else:
            raise ValueError
        minutes += int(days) * 24 * 60
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be minutes, HH:MM:SS or D-HH:MM:SS, got "
                                         f"{text}") from None
    if minutes < 1:
        raise argparse.ArgumentTypeError(f"must be at least one minute, got {text}")
    return minutes


def sbatch_option(text):
    """A free-form sbatch option NAME=VALUE (e.g. account=lab, qos=high, constraint=a100)."""
    name, equals, value = text.partition("=")
    if not equals or not name.strip("-"):
        raise argparse.ArgumentTypeError(f"must be NAME=VALUE (an sbatch option without its "
                                         f"dashes, e.g. account=lab), got {text}")
    return name.strip("-").replace("-", "_"), value


def slurm_executor(folder, options):
    """A submitit SlurmExecutor for `options`; LauncherError when sbatch or submitit is
    missing."""
    if shutil.which("sbatch") is None:
        raise LauncherError("sbatch not found: --launcher slurm submits to a SLURM cluster; run "
                            "on a machine with SLURM's commands (a login node), or use "
                            "--launcher local (bin/slurm_local.sh start runs a one-node SLURM "
                            "here)")
    try:
        import submitit
    except ImportError:
        raise LauncherError("--launcher slurm needs the submitit package: pip install submitit "
                            "(it is in requirements.txt)") from None
    # up to 100 requeues after the time limit per task (preemptions are not counted)
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=100)
    parameters = dict(time=options.time_min, cpus_per_task=options.cpus,
                      array_parallelism=options.parallelism,
                      signal_delay_s=options.signal_delay_s,
                      additional_parameters=dict(options.extra or {}),
                      # torch threads: the task's cores, unless the environment sets them
                      setup=["export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$SLURM_CPUS_PER_TASK}"])
    if options.gpus:
        parameters["gpus_per_node"] = options.gpus
    if options.partition:
        parameters["partition"] = options.partition
    if options.mem_gb:
        parameters["mem"] = f"{int(options.mem_gb * 1024)}MB"
    executor.update_parameters(**parameters)
    return executor


def submit_slurm(function, arguments, folder, options):
    """Submit function(argument) for each argument as one SLURM job array; returns the
    submitit jobs."""
    executor = slurm_executor(folder, options)
    return executor.map_array(function, arguments)


def queued_jobs(job_ids):
    """The ids among job_ids (array tasks such as 123_4) that SLURM still holds (pending,
    running, requeued), by squeue; empty where squeue is missing or fails (nothing is known
    to be queued)."""
    arrays = sorted({job_id.split("_")[0] for job_id in job_ids})
    if not arrays or shutil.which("squeue") is None:
        return set()
    try:
        result = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(arrays)],
                                capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    listed = set(result.stdout.split()) if result.returncode == 0 else set()
    return listed & set(job_ids)


# ------------------------------------------------------------------ the pool of bin/

def read_job_file(path):
    """The jobs of a file the scripts of bin/ write: per job its name, log, number of words
    and words, each ended by a NUL byte."""
    with open(path, "rb") as handle:
        fields = [field.decode() for field in handle.read().split(b"\0")[:-1]]
    jobs = []
    while fields:
        name, log, count = fields[:3]
        jobs.append(Job(name, log, fields[3:3 + int(count)]))
        fields = fields[3 + int(count):]
    return jobs


def main(argv=None):
    """`python -m utils.launchers JOB_FILE RESULT_FILE -j N`: run the jobs of JOB_FILE with
    the local pool; RESULT_FILE gets the number of jobs done then the failed names."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("job_file")
    parser.add_argument("result_file")
    parser.add_argument("-j", "--jobs", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args(argv)
    pool = LocalPool(args.jobs, args.threads)
    status = pool.run(read_job_file(args.job_file))
    with open(args.result_file, "w") as handle:
        handle.write("\n".join([str(len(pool.done)), *pool.failed]) + "\n")
    sys.exit(status)


if __name__ == "__main__":
    main()
