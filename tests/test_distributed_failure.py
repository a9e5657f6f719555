"""A torchrun process that dies mid-training: the survivor says so in one line and names the
command that continues the run, instead of a gloo traceback."""
import os
import signal
import subprocess
import sys
import time

from test_distributed import free_port
from training_runs import REPO, child_env, common_options, small_data_dir  # noqa: F401


def worker_pids(launcher_pid):
    """{rank: pid} of the workers a torchrun process started (read from /proc)."""
    workers = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = dict(item.split(b"=", 1) for item in handle.read().split(b"\0")
                               if b"=" in item)
        except (OSError, ValueError, IndexError):
            continue
        if parent == launcher_pid and b"RANK" in environ:
            workers[int(environ[b"RANK"])] = int(entry)
    return workers


def test_a_killed_process_leaves_the_survivor_one_line_naming_the_resume(small_data_dir,
                                                                         tmp_path):
    results, logs = tmp_path / "results", tmp_path / "logs"
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
              f"--master_port={free_port()}", "--redirects", "3", "--log-dir", str(logs),
              str(REPO / "main.py"), "r", *map(str, common_options(small_data_dir, results)),
              "--epochs", "100000"]
    launcher = subprocess.Popen(launch, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=child_env(), cwd=REPO)
    try:
        steps_log = results / "r" / "train_steps.log"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not (
                steps_log.exists() and len(steps_log.read_text().splitlines()) > 3):
            time.sleep(0.5)
        workers = worker_pids(launcher.pid)
        assert set(workers) == {0, 1}, workers
        os.kill(workers[1], signal.SIGKILL)
        launcher.wait(timeout=120)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    errors = sorted(logs.rglob("stderr.log"))
    survivor = next(path for path in errors if path.parent.name == "0").read_text()
    last = survivor.strip().splitlines()[-1]
    assert last.startswith("error: another training process died"), survivor[-2000:]
    assert "torchrun --nproc_per_node=2 main.py r --resume" in last
    assert "Traceback" not in survivor, survivor[-2000:]
    assert (results / "r" / "checkpoint.pt").exists()
