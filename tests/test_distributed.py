"""torchrun with 2 CPU processes (gloo): identical replicas, one writer, exact resumption.

One torchrun launch runs three trainings in each process (straight to step 8; to step 4;
resumed to step 8) through a probe that saves every process's final state, so that the test
compares the replicas themselves, not only what rank 0 wrote. The first training meets the
other process through torchrun's store, as `torchrun main.py` does; the next ones through a
store of their own on a fresh port (a process group joined twice on one store is not
reliable, and main.py joins once).
"""
import json
import socket
import subprocess
import sys

import pytest

from training_runs import (REPO, assert_same_run, assert_same_tensors, child_env,  # noqa: F401
                           common_options, one_thread, read_weights, run_main, small_data_dir)

PROBE = """
import json, os, sys
sys.path.insert(0, {repo!r})
import torch
import main
from disvae import training

dump_dir, runs, ports = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
train = training.Trainer.__call__


def train_and_dump(self, *args, **kwargs):
    train(self, *args, **kwargs)
    name = os.path.basename(self.save_dir)
    torch.save({{"model": self.model.state_dict(), "loss": self.loss_f.state_dict(),
                "optimizer": self.optimizer.state_dict()}},
               os.path.join(dump_dir, f"{{name}}-rank{{os.environ['RANK']}}.pt"))


training.Trainer.__call__ = train_and_dump
for index, argv in enumerate(runs):
    if index:
        os.environ["MASTER_PORT"] = str(ports[index - 1])
        os.environ.pop("TORCHELASTIC_USE_AGENT_STORE", None)
    try:
        main.main(argv)
    except SystemExit as stop:
        if stop.code:
            raise
"""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def two_process_runs(small_data_dir, tmp_path_factory):
    """Results and per-process dumps of FactorVAE runs on 2 processes (batch 8 per process)."""
    root = tmp_path_factory.mktemp("distributed")
    results, dumps = root / "results", root / "dumps"
    dumps.mkdir()
    probe = root / "probe.py"
    probe.write_text(PROBE.format(repo=str(REPO)))
    common = [str(arg) for arg in common_options(small_data_dir, results, "factor", 4)]
    runs = [["straight", *common, "--max-steps", "8"],
            ["resumed", *common, "--max-steps", "4"],
            ["resumed", "--resume", "--max-steps", "8", "--results-dir", str(results)]]
    ports = [free_port() for _ in runs]
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
              f"--master_port={ports[-1]}", str(probe), str(dumps), json.dumps(runs),
              json.dumps(ports[:-1])]
    process = subprocess.Popen(launch, stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        _, log = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        process.terminate()  # torchrun passes SIGTERM on to its workers
        _, log = process.communicate()
    worker_errors = [line for line in log.splitlines() if line.startswith("[rank")]
    assert process.returncode == 0, "\n".join(worker_errors[-40:] or log.splitlines()[-40:])
    return results, dumps, log


def test_two_processes_hold_identical_replicas(two_process_runs):
    results, dumps, _ = two_process_runs
    for run in ("straight", "resumed"):
        rank0 = read_weights(dumps / f"{run}-rank0.pt")
        rank1 = read_weights(dumps / f"{run}-rank1.pt")
        assert_same_tensors(rank0, rank1)  # VAE, discriminator and both optimisers
        assert_same_tensors(rank0["model"], read_weights(results / run / "model.pt"))


def test_two_process_run_folder_states_the_effective_batch_size(two_process_runs):
    results, _, log = two_process_runs
    run = results / "straight"
    specs = json.loads((run / "specs.json").read_text())
    assert specs["world_size"] == 2 and specs["batch_size"] == 8
    assert specs["effective_batch_size"] == 16 and specs["steps"] == 8
    assert "effective batch size 16" in log
    # epoch 0 was trained by two runs (straight, and resumed before it stopped), each
    # logged by rank 0 alone
    assert log.count("Epoch: 0 Average loss") == 2
    lines = (run / "train_losses.log").read_text().splitlines()
    # 40 images in global batches of 16: 3 steps per epoch (the last one of 4 + 4 images)
    assert lines[0] == "Epoch,Loss,Value"
    assert sorted({line.split(",")[0] for line in lines[1:]}) == ["0", "1", "2"]
    assert sorted(p.name for p in run.iterdir() if p.suffix == ".pt") == [
        "checkpoint.pt", "loss_state.pt", "model-0.pt", "model.pt"]


def test_two_process_resume_matches_uninterrupted_run(two_process_runs):
    results, _, _ = two_process_runs
    assert_same_run(results / "straight", results / "resumed")


def test_resuming_a_two_process_run_in_one_process_is_refused(two_process_runs, capsys):
    results, _, _ = two_process_runs
    outcome, _ = run_main(capsys, "straight", "--resume", "--max-steps", 9,
                          "--results-dir", results)
    assert "trained by 2 process(es), this is 1" in outcome
    assert "torchrun --nproc_per_node=2 main.py" in outcome
