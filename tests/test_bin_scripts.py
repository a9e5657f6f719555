"""The batch scripts of bin/: the commands they print with -n, their job pool (run with a
stand-in for Python that records what it is asked), skipped runs, and the GIF grid."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from utils import gif_grid
from utils.dsprites_procedural import FACTOR_SIZES

REPO = Path(__file__).resolve().parents[1]
LOSSES = ["VAE", "betaH", "betaB", "factor", "btcvae"]
PYTHON = "python-under-test"
FULL_DSPRITES_STEPS = 30 * 737_280 // 64  # the dsprites preset: 30 epochs of batch 64
FAKE_PYTHON = """#!/usr/bin/env bash
# Stands in for Python: records its arguments and how many copies run at once.
echo "$OMP_NUM_THREADS $*" >> "$RECORD_DIR/calls"
touch "$RECORD_DIR/running.$$"
ls "$RECORD_DIR" | grep -c '^running' >> "$RECORD_DIR/concurrency"
sleep 0.4
rm "$RECORD_DIR/running.$$"
[[ " $* " != *" $FAIL_RUN "* ]] || { echo "a failure of $FAIL_RUN"; exit 3; }
"""


SLOW_FAKE_PYTHON = """
# Stands in for main.py training: catches SIGINT and SIGTERM as its trainer does, records
# each, and stops half a second after the first (the end of its step).
import os, signal, sys, time

stop_at = None
def on_signal(signum, frame):
    global stop_at
    with open(os.path.join(os.environ["RECORD_DIR"], "signals"), "a") as handle:
        handle.write(f"{signal.Signals(signum).name} {' '.join(sys.argv[1:])}\\n")
    stop_at = stop_at or time.monotonic() + 0.5

for signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(signum, on_signal)
with open(os.path.join(os.environ["RECORD_DIR"], "calls"), "a") as handle:
    handle.write(" ".join(sys.argv[1:]) + "\\n")
deadline = time.monotonic() + 30
while time.monotonic() < deadline and (stop_at is None or time.monotonic() < stop_at):
    time.sleep(0.02)
sys.exit(143 if stop_at else 0)
"""


def script_env(python, env=None):
    environment = dict(os.environ, **(env or {}))
    environment.pop("OMP_NUM_THREADS", None)
    if python:
        environment["PYTHON"] = python
    else:
        environment.pop("PYTHON", None)
    return environment


def run_script(name, *args, python=PYTHON, env=None):
    """(exit code, stdout, stderr) of bin/<name> with the arguments."""
    result = subprocess.run([str(REPO / "bin" / name), *map(str, args)], capture_output=True,
                            text=True, env=script_env(python, env), timeout=120)
    return result.returncode, result.stdout, result.stderr


def dry_run(name, *args, **kwargs):
    """The command lines bin/<name> -n prints."""
    code, out, err = run_script(name, "-n", *args, **kwargs)
    assert code == 0, err
    return out.splitlines()


def command(*words, python=PYTHON):
    return " ".join([python, *map(str, words)])


@pytest.fixture
def fake_python(tmp_path):
    """(path of the stand-in for Python, its record folder, environment)."""
    path = tmp_path / "fake_python"
    path.write_text(FAKE_PYTHON)
    path.chmod(0o755)
    record = tmp_path / "record"
    record.mkdir()
    return str(path), record, {"RECORD_DIR": str(record), "FAIL_RUN": "none"}


# ------------------------------------------------------------------------ train_all.sh

def test_train_all_trains_every_loss_on_every_dataset_with_its_preset():
    lines = dry_run("train_all.sh", "-d", "dsprites,mnist")
    expected = [command("main.py", f"{loss}_{data}", "-x", f"{loss}_{data}", "--no-progress-bar")
                for loss in LOSSES for data in ("dsprites", "mnist")]
    expected.append(command("main.py", "best_dsprites", "-x", "best_dsprites",
                            "--no-progress-bar"))
    assert lines == expected


def test_train_all_defaults_to_the_four_datasets_and_both_best_presets():
    lines = dry_run("train_all.sh")
    assert len(lines) == 5 * 4 + 2
    assert {line.split()[2] for line in lines[:20]} == {
        f"{loss}_{data}" for loss in LOSSES for data in ("dsprites", "celeba", "chairs", "mnist")}
    assert [line.split()[2] for line in lines[20:]] == ["best_celeba", "best_dsprites"]


def test_train_all_passes_options_after_the_double_dash_to_every_run():
    lines = dry_run("train_all.sh", "-l", "betaB factor", "-d", "chairs", "--no-best",
                    "--suffix", "_short", "-r", "/tmp/elsewhere", "--", "--max-steps", 100,
                    "--lr", "1e-3")
    assert lines == [command("main.py", f"{loss}_chairs_short", "-x", f"{loss}_chairs",
                             "--no-progress-bar", "--results-dir", "/tmp/elsewhere",
                             "--max-steps", 100, "--lr", "1e-3")
                     for loss in ("betaB", "factor")]


def test_scripts_run_the_virtualenv_python_unless_python_is_set():
    venv = REPO / ".venv" / "bin" / "python"
    default = ".venv/bin/python" if os.access(venv, os.X_OK) else "python3"
    assert dry_run("train_all.sh", "-l", "VAE", "-d", "mnist", python=None)[0].split()[0] == \
        default
    assert dry_run("train_all.sh", "-l", "VAE", "-d", "mnist")[0].split()[0] == PYTHON


@pytest.mark.parametrize("args, message", [
    (["-d", "dsprite"], "unknown name 'dsprite' for -d: choose from"),
    (["-l", "betaC"], "unknown name 'betaC' for -l"),
    (["-j", "0"], "-j must be a positive integer, got '0'"),
    (["--jobs"], "--jobs needs a value"),
    (["--bogus"], "unknown option '--bogus'"),
])
def test_bad_options_are_one_line_errors(args, message):
    code, out, err = run_script("train_all.sh", "-n", *args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1


def test_the_pool_runs_at_most_jobs_commands_at_once_with_shared_threads(fake_python, tmp_path):
    path, record, env = fake_python
    code, out, err = run_script("train_all.sh", "-l", "VAE betaH", "-d", "dsprites,mnist",
                                "--no-best", "-j", 2, "-r", tmp_path / "results", python=path,
                                env=env)
    assert code == 0, err
    calls = (record / "calls").read_text().splitlines()
    assert len(calls) == 4
    threads = max(1, os.cpu_count() // 2)
    assert all(call.startswith(f"{threads} main.py ") for call in calls)
    assert max(map(int, (record / "concurrency").read_text().split())) == 2
    assert "all 4 command(s) succeeded" in out
    assert (tmp_path / "results" / "logs" / "train" / "VAE_mnist.log").is_file()


def test_one_job_at_a_time_gets_every_core(fake_python):
    path, record, env = fake_python
    code, _, err = run_script("train_all.sh", "-l", "VAE betaH", "-d", "mnist", "--no-best",
                              "-j", 1, "-r", record.parent / "results", python=path, env=env)
    assert code == 0, err
    assert max(map(int, (record / "concurrency").read_text().split())) == 1
    calls = (record / "calls").read_text().splitlines()
    assert all(call.startswith(f"{os.cpu_count()} ") for call in calls)


def test_a_failed_command_is_reported_and_fails_the_script(fake_python, tmp_path):
    path, record, env = fake_python
    env["FAIL_RUN"] = "betaH_mnist"
    code, out, err = run_script("train_all.sh", "-l", "VAE betaH", "-d", "mnist", "--no-best",
                                "-r", tmp_path / "results", python=path, env=env)
    assert code == 1
    assert "FAILED (exit 3): betaH_mnist" in out and "a failure of betaH_mnist" in out
    assert "done: VAE_mnist" in out
    assert "1 command(s) failed: betaH_mnist" in err


def test_ctrl_c_stops_every_running_command_with_one_signal(tmp_path):
    """Ctrl-C (SIGINT to the script's process group) reaches the script only; it sends one
    SIGTERM to each running command (a second signal would make main.py exit at once)."""
    record = tmp_path / "record"
    record.mkdir()
    fake = tmp_path / "slow_python"
    fake.write_text(f"#!{sys.executable}\n{SLOW_FAKE_PYTHON}")
    fake.chmod(0o755)
    script = subprocess.Popen(
        [str(REPO / "bin" / "train_all.sh"), "-l", "VAE betaH betaB", "-d", "mnist", "-j", "2",
         "-r", str(tmp_path / "results")], env=script_env(str(fake), {"RECORD_DIR": str(record)}),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
            not (record / "calls").exists() or len((record / "calls").read_text().splitlines()) < 2):
        time.sleep(0.05)
    os.killpg(script.pid, signal.SIGINT)
    _, err = script.communicate(timeout=30)
    assert script.returncode == 130
    assert "stopping 2 running command(s)" in err
    signals = sorted((record / "signals").read_text().splitlines())
    assert [line.split()[:2] for line in signals] == [["SIGTERM", "main.py"], ["SIGTERM", "main.py"]]
    assert len((record / "calls").read_text().splitlines()) == 2  # the third never started


# -------------------------------------------------------------- train_mutual_info.sh

def test_train_mutual_info_sweeps_alpha_of_btcvae_on_dsprites_and_celeba():
    lines = dry_run("train_mutual_info.sh", "--", "--max-steps", 10)
    assert lines == [command("main.py", f"btcvae_{data}_a{alpha}", "-x", f"btcvae_{data}",
                             "--btcvae-A", alpha, "--no-progress-bar", "--max-steps", 10)
                     for data in ("dsprites", "celeba") for alpha in (-5, -1, 0, 1, 5)]


def test_train_mutual_info_takes_other_alphas_but_no_other_loss():
    lines = dry_run("train_mutual_info.sh", "-d", "dsprites", "--alphas", "-2,0.5")
    assert [line.split()[2] for line in lines] == ["btcvae_dsprites_a-2", "btcvae_dsprites_a0.5"]
    code, _, err = run_script("train_mutual_info.sh", "-n", "-l", "VAE")
    assert code == 2 and "this script trains btcvae only" in err


# ----------------------------------------------------------------------- metrics_all.sh

def test_metrics_all_evaluates_every_loss_on_dsprites():
    lines = dry_run("metrics_all.sh", "-j", 1, "--", "--eval-batchsize", 500)
    assert lines == [command("main.py", f"{loss}_dsprites", "--is-eval-only", "--is-metrics",
                             "--no-test", "--no-progress-bar", "--eval-batchsize", 500)
                     for loss in LOSSES]


def test_metrics_all_skips_runs_that_were_not_trained(fake_python, tmp_path):
    path, record, env = fake_python
    results = tmp_path / "results"
    (results / "betaH_dsprites").mkdir(parents=True)
    (results / "betaH_dsprites" / "specs.json").write_text("{}")
    (results / "VAE_dsprites").mkdir()  # no specs.json: not a trained run
    code, out, err = run_script("metrics_all.sh", "-r", results, python=path, env=env)
    assert code == 0, err
    calls = (record / "calls").read_text().splitlines()
    assert [call.split()[2] for call in calls] == ["betaH_dsprites"]
    assert f"skip: no trained run {results}/VAE_dsprites" in out
    assert out.count("skip: ") == 4


# -------------------------------------------------------------------------- plot_all.sh

def test_plot_all_makes_the_gif_grid_then_every_plot():
    lines = dry_run("plot_all.sh", "-d", "dsprites,mnist", "--no-sweep", "--", "--no-cuda")
    dsprites = ["-i", 92595, 339150, 656090]
    mnist = ["-i", 1, 40, 25, 7, 92, 41001, 90, 41002, 823, 41219]
    gif = ["gif-traversals", "-s", 1234, "-c", 3, "-r", 5, "-t", 2]
    every = ["all", "-s", 1234, "-c", 10, "-r", 10, "-t", 2, "--is-show-loss", "--is-posterior"]
    gifs = [f"results/{loss}_{data}/posterior_traversals.gif"
            for loss in LOSSES for data in ("dsprites", "mnist")]
    expected = [command("main_viz.py", f"{loss}_dsprites", *gif, *dsprites, "--no-cuda")
                if data == "dsprites" else
                command("main_viz.py", f"{loss}_mnist", *gif, "-u", 2, *mnist, "--no-cuda")
                for loss in LOSSES for data in ("dsprites", "mnist")]
    expected.append(command("-m", "utils.gif_grid", "results/grid_posteriors.gif", "--columns",
                            2, *gifs, "--row-labels", *LOSSES, "--column-labels", "dsprites",
                            "mnist"))
    expected += [command("main_viz.py", f"{loss}_{data}", *every,
                         *(dsprites if data == "dsprites" else mnist), "--no-cuda")
                 for loss in LOSSES for data in ("dsprites", "mnist")]
    expected.append(command("main_viz.py", "best_dsprites", *every, *dsprites, "--no-cuda"))
    assert lines == expected


def test_plot_all_shows_a_square_an_ellipse_and_a_heart_of_dsprites():
    line = dry_run("plot_all.sh", "-l", "VAE", "-d", "dsprites", "--no-best", "--no-sweep")[0]
    words = line.split()
    indices = [int(word) for word in words[words.index("-i") + 1:]]
    shapes = np.unravel_index(indices, FACTOR_SIZES)[1]
    assert list(shapes) == [0, 1, 2]  # square, ellipse, heart in the official grid order


def test_plot_all_tiles_the_alpha_sweep_by_alpha_and_dataset():
    lines = dry_run("plot_all.sh", "-l", "btcvae", "-d", "celeba,dsprites", "--no-best")
    sweep = lines[-11:]
    names = [f"btcvae_{data}_a{alpha}" for alpha in (-5, -1, 0, 1, 5)
             for data in ("dsprites", "celeba")]
    assert [line.split()[2] for line in sweep[:-1]] == names
    assert sweep[-1] == command(
        "-m", "utils.gif_grid", "results/grid_posteriors_mutual_info.gif", "--columns", 2,
        *[f"results/{name}/posterior_traversals.gif" for name in names], "--row-labels",
        *[f"alpha={alpha}" for alpha in (-5, -1, 0, 1, 5)], "--column-labels", "dsprites",
        "celeba")


def test_plot_all_skips_every_missing_run_and_grid(fake_python, tmp_path):
    path, record, env = fake_python
    code, out, err = run_script("plot_all.sh", "-d", "dsprites", "-r", tmp_path, python=path,
                                env=env)
    assert code == 0, err
    assert not (record / "calls").exists()
    assert f"skip: no trained run {tmp_path}/best_dsprites" in out
    assert f"skip: no GIF to tile into {tmp_path}/grid_posteriors.gif" in out
    assert f"skip: no GIF to tile into {tmp_path}/grid_posteriors_mutual_info.gif" in out


# -------------------------------------------------------------------- reproduce_cpu.sh

# reproduce_cpu.sh reads the presets with Python, so these tests run the real interpreter.

def test_reproduce_cpu_trains_metrics_plots_and_summarises_the_five_losses():
    steps = FULL_DSPRITES_STEPS // 100
    lines = dry_run("reproduce_cpu.sh", "--steps", steps, "--", "--data-dir", "/data",
                    "--lr", "1e-3", python=sys.executable)
    scaled = {"betaB": 1000}  # reg_anneal 100000 of 345,600 steps, compressed 100 times
    train = [command("main.py", f"{loss}_dsprites_cpu", "-x", f"{loss}_dsprites",
                     "--max-steps", steps, "--reg-anneal", scaled.get(loss, 100), "--no-test",
                     "--no-progress-bar", "--data-dir", "/data", "--lr", "1e-3",
                     python=sys.executable)
             for loss in LOSSES]
    metrics = [command("main.py", f"{loss}_dsprites_cpu", "--is-eval-only", "--is-metrics",
                       "--no-test", "--no-progress-bar", "--metrics-images", 100000,
                       "--dci-trees", 10, "--data-dir", "/data", "--lr", "1e-3",
                       python=sys.executable)
               for loss in LOSSES]
    assert lines[:10] == train + metrics
    plots = lines[10:-1]
    assert len(plots) == 5 + 1 + 5
    assert all(line.endswith("--data-dir /data") for line in plots if "main_viz.py" in line)
    assert [line.split()[2] for line in plots[6:]] == [f"{loss}_dsprites_cpu" for loss in LOSSES]
    assert lines[-1] == command("-m", "utils.summary", "--results-dir", "results",
                                python=sys.executable)


def test_reproduce_cpu_can_keep_the_presets_annealing():
    lines = dry_run("reproduce_cpu.sh", "-l", "VAE,betaB", "--anneal", "preset", "--steps", 50,
                    python=sys.executable)
    assert [line.split()[3:] for line in lines[:2]] == [
        ["-x", f"{loss}_dsprites", "--max-steps", "50", "--no-test", "--no-progress-bar"]
        for loss in ("VAE", "betaB")]  # no --reg-anneal: the preset's own applies


def test_reproduce_cpu_can_score_every_image_with_the_full_recipe():
    lines = dry_run("reproduce_cpu.sh", "-l", "VAE", "--full-metrics", python=sys.executable)
    assert lines[1] == command("main.py", "VAE_dsprites_cpu", "--is-eval-only", "--is-metrics",
                               "--no-test", "--no-progress-bar", python=sys.executable)


def test_reproduce_cpu_refuses_to_retrain_over_an_existing_run(tmp_path, fake_python):
    python, record, env = fake_python
    (tmp_path / "betaB_dsprites_cpu").mkdir()
    code, _, err = run_script("reproduce_cpu.sh", "-r", tmp_path, "-l", "VAE,betaB",
                              python=python, env=env)
    assert code == 2
    assert err == (f"error: {tmp_path}/betaB_dsprites_cpu exists: reproduce into another "
                   "folder with -r DIR (or --suffix TEXT), or move it away first\n")
    assert not list(record.iterdir())  # nothing ran


def test_reproduce_cpu_is_for_dsprites_only():
    code, _, err = run_script("reproduce_cpu.sh", "-n", "-d", "celeba")
    assert code == 2 and err.startswith("error: -d celeba does not apply")


# --------------------------------------------------------------------------- GIF grid

def write_gif(path, n_frames, size, value):
    """A GIF whose frame j is grey value + 10 j, with one black corner pixel (so that the GIF
    keeps its size and no frame repeats the one before: Pillow would merge them)."""
    frames = np.full((n_frames, size, size, 3), value, dtype=np.uint8)
    frames += (10 * np.arange(n_frames, dtype=np.uint8))[:, None, None, None]
    frames[:, 0, 0] = 0
    iio.imwrite(path, frames, extension=".gif", duration=80, loop=0)
    return str(path)


def test_tile_gifs_lays_out_cells_row_by_row_with_white_pads(tmp_path):
    pad = gif_grid.CELL_PADDING_PX
    paths = [write_gif(tmp_path / "a.gif", 3, 8, 60), str(tmp_path / "missing.gif"),
             write_gif(tmp_path / "c.gif", 5, 6, 120), write_gif(tmp_path / "d.gif", 2, 8, 180)]
    missing = gif_grid.tile_gifs(paths, 2, str(tmp_path / "grid.gif"))
    assert missing == [paths[1]]
    frames = iio.imread(tmp_path / "grid.gif", index=None)[..., :3]
    assert frames.shape == (5, 2 * (8 + pad) + pad, 2 * (8 + pad) + pad, 3)
    last = frames[-1].astype(int)
    cell = lambda row, col: last[pad + row * (8 + pad):(row + 1) * (8 + pad),
                                 pad + col * (8 + pad):(col + 1) * (8 + pad)]
    assert abs(cell(0, 0)[4, 4] - 80).max() <= 8  # a shorter GIF holds its last frame
    assert (cell(0, 1) >= 247).all()  # the missing GIF: a white cell
    assert abs(cell(1, 0)[4, 4] - 160).max() <= 8 and (cell(1, 0)[0] >= 247).all()  # centred
    assert abs(frames[0].astype(int)[pad + 8 + pad + 4, pad + 4] - 120).max() <= 8
    assert (last[:pad] >= 247).all()


def test_tile_gifs_drops_rows_and_columns_without_any_gif(tmp_path):
    paths = [write_gif(tmp_path / "a.gif", 2, 8, 60), str(tmp_path / "x.gif"),
             str(tmp_path / "y.gif"), str(tmp_path / "z.gif")]
    gif_grid.tile_gifs(paths, 2, str(tmp_path / "grid.gif"))
    pad = gif_grid.CELL_PADDING_PX
    assert iio.imread(tmp_path / "grid.gif", index=None).shape[1:3] == (8 + 2 * pad,) * 2


def test_tile_gifs_labels_the_kept_rows_and_columns(tmp_path, monkeypatch):
    calls = []
    original = gif_grid.label_picture

    def record(picture, rows, row_centres, columns, column_centres):
        calls.append((rows, columns, row_centres, column_centres))
        return original(picture, rows, row_centres, columns, column_centres)
    monkeypatch.setattr(gif_grid, "label_picture", record)
    paths = [write_gif(tmp_path / "a.gif", 2, 8, 60), str(tmp_path / "x.gif"),
             write_gif(tmp_path / "c.gif", 2, 8, 120), str(tmp_path / "z.gif")]
    gif_grid.tile_gifs(paths, 2, str(tmp_path / "grid.gif"), ["VAE", "btcvae"],
                       ["dsprites", "mnist"])
    pad = gif_grid.CELL_PADDING_PX
    assert calls[0] == (["VAE", "btcvae"], ["dsprites"], [pad + 4, 2 * pad + 12], [pad + 4])
    frames = iio.imread(tmp_path / "grid.gif", index=None)
    assert frames.shape[1] > 2 * (8 + pad) + pad and frames.shape[2] > 8 + 2 * pad
    with pytest.raises(gif_grid.GifGridError, match="--row-labels names 1 labels for 2 rows: pass one per row"):
        gif_grid.tile_gifs(paths, 2, str(tmp_path / "grid.gif"), ["VAE"])


def test_gif_grid_command_errors_name_the_fix(tmp_path, capsys):
    with pytest.raises(SystemExit, match="none of the 2 GIFs exists .* gif-traversals"):
        gif_grid.main([str(tmp_path / "grid.gif"), "--columns", "1", "a.gif", "b.gif"])
    with pytest.raises(SystemExit, match="3 GIFs cannot fill rows of 2"):
        gif_grid.main([str(tmp_path / "grid.gif"), "--columns", "2", "a", "b", "c"])
    assert not (tmp_path / "grid.gif").exists()
