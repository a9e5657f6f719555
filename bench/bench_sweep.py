"""Models trained per hour by a local sweep at -j 1 and -j 2, and the memory the runs take.

    .venv/bin/python bench/bench_sweep.py                      # 4 runs of 500 steps per -j
    .venv/bin/python bench/bench_sweep.py --runs 4 --steps 500 --jobs 1 2

For each -j, `python -m utils.sweep` trains the same definition (betaH on procedural dSprites,
seeds 1..runs, no test losses, metrics or plots) into a fresh folder and is timed end to end
(start-up and data loading included, as a user's sweep pays them). While it runs, the summed
resident memory (RSS) and proportional set size (PSS, which splits a page shared by k processes
k ways) of its training processes are sampled from /proc: with the dataset memory-mapped, PSS
stays well under RSS because the runs share one copy of the images in the page cache.

Prints, per -j: wall time, models per hour (for runs of --steps steps) and images per second
over all runs, peak summed RSS and PSS; and the ratio of -j 2 to -j 1.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BATCH_SIZE = 64  # the betaH_dsprites preset's


def training_pids():
    """PIDs of the main.py processes training a run."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                words = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(word.endswith(b"main.py") for word in words):
                pids.append(int(entry.name))
    return pids


def memory_kib(pid):
    """(RSS, PSS) of a process in KiB, from /proc/PID/smaps_rollup (0, 0 once it is gone)."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                values[key] = int(rest.split()[0])
    except OSError:
        return 0, 0
    return values.get("Rss", 0), values.get("Pss", 0)


class MemorySampler(threading.Thread):
    """Peak summed RSS and PSS of the training processes, sampled every `period` seconds."""

    def __init__(self, period=0.5):
        super().__init__(daemon=True)
        self.period, self.peak_rss, self.peak_pss = period, 0, 0
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(self.period):
            totals = [memory_kib(pid) for pid in training_pids()]
            self.peak_rss = max(self.peak_rss, sum(rss for rss, _ in totals))
            self.peak_pss = max(self.peak_pss, sum(pss for _, pss in totals))


def time_sweep(jobs, runs, steps, data_dir):
    """(seconds, peak RSS GiB, peak PSS GiB) of a sweep of `runs` runs at -j jobs."""
    with tempfile.TemporaryDirectory() as results:
        command = [sys.executable, "-m", "utils.sweep", "bench", "-r", results, "-l", "betaH",
                   "--seeds", f"1-{runs}", "-j", str(jobs), "--no-metrics", "--no-plots",
                   "--no-summary", "--", "--max-steps", str(steps), "--no-test"]
        if data_dir:
            command += ["--data-dir", data_dir]
        sampler = MemorySampler()
        sampler.start()
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        sampler.stopped.set()
        sampler.join()
    return seconds, sampler.peak_rss / 2**20, sampler.peak_pss / 2**20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=4, help="runs per sweep (seeds)")
    parser.add_argument("--steps", type=int, default=500, help="training steps per run")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="-j values to time")
    parser.add_argument("--data-dir", default=None, help="data folder (default: data/)")
    args = parser.parse_args(argv)
    print(f"{args.runs} betaH runs of {args.steps} steps (batch {BATCH_SIZE}) on procedural "
          f"dSprites, {os.cpu_count()} cores")
    rates = {}
    for jobs in args.jobs:
        seconds, rss, pss = time_sweep(jobs, args.runs, args.steps, args.data_dir)
        rates[jobs] = args.runs * 3600 / seconds
        images = args.runs * args.steps * BATCH_SIZE / seconds
        print(f"-j {jobs}: {seconds:.0f} s, {rates[jobs]:.1f} models/hour, {images:.0f} img/s "
              f"in all; peak RSS {rss:.2f} GiB, PSS {pss:.2f} GiB (summed over the runs)")
    if 1 in rates and 2 in rates:
        print(f"-j 2 / -j 1: {rates[2] / rates[1]:.2f}x models per hour")


if __name__ == "__main__":
    main()
