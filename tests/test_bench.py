"""bench/: the reduced CPU run of the GPU check (bench/gpu_check.sh --quick) reports every
loss, the evaluation and metric times and a passing mixed-precision check."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LOSSES = ["VAE", "betaH", "betaB", "factor", "btcvae"]  # those timed beside the original
RATE = r"[\d,]+ images/s \[[\d,]+-[\d,]+\] \(\d+% of bound, [\d,]+ faults/step\)"


@pytest.fixture(scope="module")
def quick_check():
    """(exit status, stdout) of bench/gpu_check.sh --quick on one CPU thread."""
    result = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh"), "--quick"],
                            env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True,
                            text=True, timeout=300)
    return result.returncode, result.stdout


def test_quick_check_succeeds(quick_check):
    returncode, stdout = quick_check
    assert returncode == 0, stdout


@pytest.mark.parametrize("loss", list(LOSSES))
def test_quick_check_reports_every_configuration_of_every_loss(quick_check, loss):
    line = re.search(rf"^train {loss} batch 16: (.*)$", quick_check[1], re.MULTILINE)
    assert line, quick_check[1]
    assert re.fullmatch(rf"original {RATE}, ours {RATE}, ours\+amp {RATE}; "
                        rf"ours/original [\d.]+x; ours\+amp/original [\d.]+x", line.group(1))


@pytest.mark.parametrize("loss", list(LOSSES))
def test_quick_check_passes_the_amp_check_of_every_loss(quick_check, loss):
    line = re.search(rf"^amp check {loss}: loss ([\d.]+) \(float32\) vs ([\d.]+) \(bfloat16 "
                     rf"autocast\), relative difference ([\d.e+-]+) \(limit 0.01\): ok$",
                     quick_check[1], re.MULTILINE)
    assert line, quick_check[1]
    plain, autocast, difference = map(float, line.groups())
    assert abs(autocast - plain) / plain == pytest.approx(difference, rel=0.1, abs=1e-5)


def test_quick_check_reports_bound_evaluation_and_metric(quick_check):
    stdout = quick_check[1]
    assert re.search(r"^compute bound: float32 2048\^3 matrix products at \d+ GFLOP/s",
                     stdout, re.MULTILINE)
    assert re.search(r"^flop per training image: VAE 7\d\.\d M", stdout, re.MULTILINE)
    assert re.search(r"^encode 512 images \(batch 256\): original [\d,]+ images/s", stdout,
                     re.MULTILINE)
    assert re.search(r"^metric: mig_sampled on 512 images .*: [\d.]+ s$", stdout, re.MULTILINE)


def test_gpu_check_rejects_an_unknown_option():
    result = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh"), "--fast"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "unknown option --fast" in result.stderr


def test_training_gif_bench_times_both_ways_of_writing_the_gif():
    result = subprocess.run([sys.executable, str(REPO / "bench" / "bench_training_gif.py"),
                             "--frames", "2"], env=dict(os.environ, OMP_NUM_THREADS="1"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("appended : frame 1 ") and lines[1].startswith("rewritten: ")
    assert re.fullmatch(r"rewritten / appended: \d+\.\dx over 2 frames", lines[2])
