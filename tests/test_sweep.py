"""utils.sweep: resolving a definition into runs, refusing a changed one, --extend, the state
of runs (--status), and a local sweep of two seeds end to end; utils.spread: the statistics
over seeds per setting."""
import fcntl
import itertools
import json
import math
import os
import re
import statistics
import subprocess
import sys

import h5py
import numpy as np
import pytest

from training_runs import REPO, child_env, small_data_dir  # noqa: F401 (a fixture)
from utils import spread, sweep
from utils.dataset_registry import has_ground_truth
from utils.sweep_run import metrics_options, stage_command, stage_path, viz_options


def resolve(*argv):
    return sweep.resolve_runs(sweep.parse_arguments(["demo", *argv]))


def names(runs):
    return [run["name"] for run in runs]


def run_sweep(*argv, env=None):
    """(exit code, stdout, stderr) of python -m utils.sweep in a child process."""
    result = subprocess.run([sys.executable, "-m", "utils.sweep", *map(str, argv)], cwd=REPO,
                            capture_output=True, text=True, env=env or child_env(), timeout=600,
                            stdin=subprocess.DEVNULL)
    return result.returncode, result.stdout, result.stderr


# ----------------------------------------------------------------------------- resolving

def test_grid_keys_apply_to_the_objective_that_declares_them():
    runs = resolve("-l", "betaH,btcvae", "--seeds", "1-2", "--grid", "betaH_B=1,4,16",
                   "--grid", "btcvae_B=1,6")
    assert names(runs) == [f"betaH_dsprites_B{beta}_s{seed}" for beta in (1, 4, 16)
                           for seed in (1, 2)] + \
        [f"btcvae_dsprites_B{beta}_s{seed}" for beta in (1, 6) for seed in (1, 2)]
    first = runs[0]
    assert first["train_options"] == ["-x", "betaH_dsprites", "-s", "1", "--betaH-B", "1",
                                      "--no-progress-bar"]
    assert runs[-1]["hyperparameters"] == {"btcvae_B": 6.0}
    assert "--betaH-B" not in runs[-1]["train_options"]


def test_names_are_deterministic_and_sorted_by_key():
    a = resolve("-l", "betaB", "--grid", "betaB_G=10,100", "--grid", "betaB_finC=5")
    b = resolve("-l", "betaB", "--grid", "betaB_finC=5.0", "--grid", "betaB_G=10,100")
    assert names(a) == names(b) == ["betaB_dsprites_G10_finC5_s1", "betaB_dsprites_G100_finC5_s1"]


def test_presets_are_base_settings_and_options_after_the_dashes_reach_every_run():
    runs = resolve("-x", "best_dsprites,betaH_mnist", "--seeds", "3", "--", "--max-steps", "7")
    assert names(runs) == ["best_dsprites_s3", "betaH_mnist_s3"]
    assert [(run["loss"], run["dataset"]) for run in runs] == [("btcvae", "dsprites"),
                                                             ("betaH", "mnist")]
    assert all(run["train_options"][-2:] == ["--max-steps", "7"] for run in runs)


def test_scaled_annealing_compresses_each_presets_schedule_to_the_runs_length():
    # dSprites: 737,280 images, 30 epochs at batch 64 = 345,600 steps (FactorVAE's preset too:
    # its doubled batch is drawn by the objective); 3,456 steps are 1/100 of that.
    runs = resolve("-l", "VAE,betaB,factor", "--anneal", "scaled", "--", "--max-steps", "3456")
    anneals = {run["loss"]: run["train_options"][run["train_options"].index("--reg-anneal") + 1]
               for run in runs}
    assert anneals == {"VAE": "100", "betaB": "1000", "factor": "100"}
    assert "--reg-anneal" not in resolve("-l", "betaB", "--", "--max-steps", "5")[0][
        "train_options"]  # --anneal preset (the default) keeps the preset's value


@pytest.mark.parametrize("argv, message", [
    (["-l", "betaH", "--anneal", "scaled"], "give it after --, e.g. -- --max-steps 3500"),
    (["-l", "betaH", "--anneal", "scaled", "--", "--max-steps", "9", "--reg-anneal", "2"],
     "--reg-anneal after -- contradicts --anneal scaled"),
    (["-l", "betaH", "--grid", "betaH_Q=1"], "no objective declares 'betaH_Q'"),
    (["-l", "betaH", "--grid", "btcvae_B=1"], "--grid btcvae_B is for btcvae, which no run"),
    (["-l", "betaH", "--grid", "betaH_B=one"], "--grid betaH_B: bad value"),
    (["-l", "betaH", "--grid", "betaH_B=1,1"], "repeats a value"),
    (["-l", "betaX"], "unknown name 'betaX' for -l"),
    (["-x", "best_dsprites", "-l", "betaH"], "drop -l/-d, or drop -x"),
    (["-l", "betaH", "--", "-s", "3"], "-s after -- is set by the sweep"),
    (["-l", "betaH", "--", "--betaH-B", "3"], "use the sweep's --grid betaH_B"),
])
def test_bad_definitions_are_one_line_errors(argv, message):
    with pytest.raises(sweep.SweepError, match=message.replace("(", r"\(")):
        resolve(*argv)


def test_bad_seeds_and_grid_syntax_are_refused_by_the_parser():
    for argv in (["--seeds", "1-x"], ["--grid", "betaH_B"], ["--seeds", "1,1"]):
        with pytest.raises(SystemExit) as stop:
            sweep.parse_arguments(["demo", "-l", "betaH", *argv])
        assert stop.value.code.startswith("error: argument")
        assert stop.value.code.endswith("(see python -m utils.sweep --help)")
    assert sweep.seed_list("1-3,7") == [1, 2, 3, 7]
    assert sweep.seed_list("-2") == [-2]


def test_a_changed_definition_is_refused_unless_extended(tmp_path):
    sweep_dir = tmp_path / "demo"
    sweep_dir.mkdir()
    first = resolve("-l", "betaH", "--seeds", "1-2")
    (sweep_dir / "sweep.json").write_text(json.dumps({"runs": first}))
    assert sweep.merged_runs(str(sweep_dir), resolve("-l", "betaH", "--seeds", "1-2"),
                             False) == first
    more = resolve("-l", "betaH", "--seeds", "1-3")
    with pytest.raises(sweep.SweepError, match="another definition of this sweep .2 runs, "
                                               "this one 3.: rerun its own command, add"):
        sweep.merged_runs(str(sweep_dir), more, False)
    extended = sweep.merged_runs(str(sweep_dir), resolve("-l", "betaH", "--seeds", "3"), True)
    assert names(extended) == ["betaH_dsprites_s1", "betaH_dsprites_s2", "betaH_dsprites_s3"]
    assert extended[:2] == first
    changed = resolve("-l", "betaH", "--seeds", "2", "--", "--lr", "1e-3")
    with pytest.raises(sweep.SweepError, match="run betaH_dsprites_s2 is defined differently"):
        sweep.merged_runs(str(sweep_dir), changed, True)


def test_stage_commands(tmp_path):
    [run] = resolve("-l", "betaH", "--plots", "reconstruct", "--", "--data-dir", "/d",
                    "--no-cuda", "--lr", "1e-3")
    folder = ["--results-dir", str(tmp_path)]
    train = stage_command(str(tmp_path), run, "train", "py")
    assert train == ["py", str(REPO / "main.py"), run["name"], *run["train_options"], *folder]
    (tmp_path / run["name"]).mkdir()
    (tmp_path / run["name"] / "checkpoint.pt").write_bytes(b"")
    assert stage_command(str(tmp_path), run, "train", "py") == train + ["--resume"]
    assert stage_command(str(tmp_path), run, "metrics", "py")[3:7] == [
        "--is-eval-only", "--is-metrics", "--no-test", "--no-progress-bar"]
    assert stage_command(str(tmp_path), run, "plots", "py") == [
        "py", str(REPO / "main_viz.py"), run["name"], "reconstruct", "--data-dir", "/d",
        "--no-cuda", *folder]
    [celeba] = resolve("-l", "VAE", "-d", "celeba")
    assert stage_command(str(tmp_path), celeba, "metrics") is None  # no factors
    assert viz_options(["--data-dir=/x", "-b", "4"]) == ["--data-dir=/x"]
    assert metrics_options(["--img-size", "32", "-b", "4", "--crop=none", "--channels", "1",
                            "--dci-trees", "2"]) == ["-b", "4", "--dci-trees", "2"]


# --------------------------------------------------------------------------------- state

def test_status_lists_finished_running_failed_and_pending_runs(tmp_path, capsys):
    sweep_dir = tmp_path / "demo"
    runs = resolve("-l", "betaH", "--seeds", "1-4")
    sweep_dir.mkdir()
    (sweep_dir / "sweep.json").write_text(json.dumps({"runs": runs, "stages": ["train"]}))
    done = stage_path(str(sweep_dir), runs[0]["name"], "train", "done")
    os.makedirs(os.path.dirname(done))
    open(done, "w").close()
    log = stage_path(str(sweep_dir), runs[2]["name"], "train", "log")
    os.makedirs(os.path.dirname(log))
    with open(log, "w") as handle:
        handle.write("step 1\nerror: the first\nerror: the last one\nTraceback\n")
    open(stage_path(str(sweep_dir), runs[2]["name"], "train", "failed"), "w").close()
    (sweep_dir / runs[1]["name"]).mkdir()
    with open(sweep_dir / runs[1]["name"] / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        groups = sweep.print_status(str(sweep_dir))
    assert groups == {"finished": [runs[0]["name"]], "running": [runs[1]["name"]],
                      "failed": [f"{runs[2]['name']} (train, log {log}: error: the last one)"],
                      "pending": [runs[3]["name"]]}
    assert capsys.readouterr().out.splitlines()[0] == \
        "sweep demo: 4 runs: 1 finished, 1 running, 1 failed, 1 pending"
    assert not sweep.is_locked(str(sweep_dir / runs[1]["name"]))  # released, and not taken


def test_status_and_help_start_without_torch():
    code = ("import sys, utils.sweep; sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_status_of_a_missing_sweep_is_one_line(tmp_path):
    code, _, err = run_sweep("nothing", "-r", tmp_path, "--status")
    assert code == 1 and err == (f"error: no sweep in {tmp_path}/nothing (sweep.json missing): "
                                 f"start it first, or check NAME and -r\n")


# ---------------------------------------------------------------------- local end to end

def test_a_local_sweep_of_two_seeds_trains_summarises_and_skips_finished_runs(
        small_data_dir, tmp_path):
    argv = ["demo", "-r", tmp_path, "-l", "btcvae", "--seeds", "1-2", "-j", "2",
            "--no-metrics", "--no-plots", "--", "-b", "8", "--max-steps", "3", "--no-test",
            "--data-dir", small_data_dir]
    code, out, err = run_sweep(*argv)
    assert code == 0, out + err
    assert "2 run(s) done, 0 failed" in out
    sweep_dir = tmp_path / "demo"
    stored = json.loads((sweep_dir / "sweep.json").read_text())
    assert names(stored["runs"]) == ["btcvae_dsprites_s1", "btcvae_dsprites_s2"]
    for run in ("btcvae_dsprites_s1", "btcvae_dsprites_s2"):
        specs = json.loads((sweep_dir / run / "specs.json").read_text())
        assert specs["steps"] == 3 and specs["seed"] == int(run[-1])
        assert (sweep_dir / "logs" / run / "train.done").exists()
    by_setting = (sweep_dir / "summary_by_setting.csv").read_text().splitlines()
    assert len(by_setting) == 2 and ",2," in by_setting[1]  # one setting of two runs

    code, out, _ = run_sweep(*argv)
    assert code == 0 and "skip: btcvae_dsprites_s1 is finished" in out
    assert "nothing to run" in out
    code, out, _ = run_sweep("demo", "-r", tmp_path, "--no-metrics", "--no-plots")  # name alone
    assert code == 0 and "skip: btcvae_dsprites_s2 is finished" in out
    assert "nothing to run" in out
    code, out, _ = run_sweep("demo", "-r", tmp_path, "--status")
    assert out.splitlines()[0] == "sweep demo: 2 runs: 2 finished, 0 running, 0 failed, " \
                                  "0 pending"
    code, _, err = run_sweep(*argv[:6], "1-3", *argv[7:])
    assert code == 1 and "--extend" in err and len(err.splitlines()) == 1


# ------------------------------------------------------------------------- your own data

def factor_npz(path, with_factors=True):
    """48 images 32x32 of a bright block at 4 positions x 3 brightness levels x 4 heights;
    with_factors: the ground truth (position, brightness) beside them."""
    images, classes = [], []
    for x, level, y in itertools.product(range(4), range(3), range(4)):
        image = np.zeros((32, 32), dtype=np.float32)
        image[8 + y:16 + y, 4 + 6 * x:12 + 6 * x] = (level + 1) / 3
        images.append(image)
        classes.append((x, level))
    arrays = {"images": np.array(images)}
    if with_factors:
        arrays.update(factor_classes=np.array(classes),
                      factor_names=np.array(["position", "brightness"]))
    np.savez(path, **arrays)
    return path


def test_own_data_runs_use_the_custom_presets_an_absolute_path_and_the_files_name(
        tmp_path, monkeypatch):
    folder = tmp_path / "my photos"
    folder.mkdir()
    factor_npz(tmp_path / "blocks.v2.npz")
    monkeypatch.chdir(tmp_path)  # relative paths: each run's main.py starts in the repository
    runs = resolve("-l", "betaH,btcvae", "-d", "folder:my photos, npz:blocks.v2.npz,dsprites",
                   "--seeds", "1", "--grid", "btcvae_B=2", "--", "--max-steps", "5")
    assert names(runs) == ["betaH_my-photos_s1", "betaH_blocks.v2_s1", "betaH_dsprites_s1",
                           "btcvae_my-photos_B2_s1", "btcvae_blocks.v2_B2_s1",
                           "btcvae_dsprites_B2_s1"]
    photos = runs[0]
    assert photos["preset"] == "betaH_custom"
    assert photos["dataset"] == f"folder:{folder}"
    assert photos["train_options"] == ["-x", "betaH_custom", "-d", f"folder:{folder}", "-s",
                                       "1", "--no-progress-bar", "--max-steps", "5"]
    assert runs[4]["train_options"][:8] == [
        "-x", "btcvae_custom", "-d", f"npz:{tmp_path / 'blocks.v2.npz'}", "-s", "1",
        "--btcvae-B", "2"]
    assert runs[2]["train_options"][:2] == ["-x", "betaH_dsprites"]


def test_the_metrics_stage_runs_where_the_data_has_ground_truth(tmp_path):
    factor_npz(tmp_path / "truth.npz")
    factor_npz(tmp_path / "plain.npz", with_factors=False)
    with h5py.File(tmp_path / "grid.h5", "w") as handle:
        handle["images"] = np.zeros((4, 32, 32), dtype=np.uint8)
        handle["factor_classes"] = np.zeros((4, 1), dtype=np.int64)
    runs = resolve("-l", "VAE", "-d", ",".join([f"npz:{tmp_path / 'truth.npz'}",
                                                f"npz:{tmp_path / 'plain.npz'}",
                                                f"h5:{tmp_path / 'grid.h5'}",
                                                f"folder:{tmp_path}", "shapes3d", "mnist"]))
    has_metrics = {run["name"]: stage_command(str(tmp_path), run, "metrics") is not None
                   for run in runs}
    assert has_metrics == {"VAE_truth_s1": True, "VAE_plain_s1": False, "VAE_grid_s1": True,
                           f"VAE_{tmp_path.name}_s1": False, "VAE_shapes3d_s1": True,
                           "VAE_mnist_s1": False}
    assert [run.get("ground_truth") for run in runs] == [True, False, True, False, None, None]
    # decided when the sweep is defined: a file moved later does not silently drop the
    # stage (main.py then says what is missing)
    (tmp_path / "truth.npz").rename(tmp_path / "moved.npz")
    assert stage_command(str(tmp_path), runs[0], "metrics") is not None
    assert not has_ground_truth(f"npz:{tmp_path / 'truth.npz'}")
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    np.save(tmp_path / "array.npy", np.zeros(3))
    (tmp_path / "array.npy").rename(tmp_path / "array.npz")
    assert not has_ground_truth(f"npz:{tmp_path / 'bad.npz'}")
    assert not has_ground_truth(f"npz:{tmp_path / 'array.npz'}")


def test_abbreviated_options_after_the_dashes_are_spelled_out(tmp_path):
    """main.py takes any unambiguous prefix of a long flag: the sweep writes it out, so that
    its checks and its metrics stage see the whole flag."""
    factor_npz(tmp_path / "blocks.npz")
    [run] = resolve("-l", "VAE", "-d", f"npz:{tmp_path / 'blocks.npz'}", "--", "--img", "32",
                    "--max-st=5", "--l", "x")
    assert run["main_options"] == ["--img-size", "32", "--max-steps=5", "--l", "x"]
    assert stage_command(str(tmp_path), run, "metrics")[-5:-2] == ["--max-steps=5", "--l", "x"]
    with pytest.raises(sweep.SweepError, match="--seed after -- is set by the sweep"):
        resolve("-l", "VAE", "--", "--see", "3")


@pytest.mark.parametrize("argv, message", [
    (["-l", "betaH", "-d", "folder:/no/such/folder"],
     "-d folder:/no/such/folder: there is no folder /no/such/folder: check the path after "
     "folder:"),
    (["-l", "betaH", "-d", "npz:/no/such.npz"], "there is no file /no/such.npz"),
    (["-l", "betaH", "-d", "photos"], "unknown name 'photos' for -d: choose from dsprites, "),
    (["-x", "betaH_custom"], "preset betaH_custom is for your own data: use -l betaH "
                             "-d folder:PATH"),
    (["-l", "betaH", "-d", "folder:{tmp}", "--anneal", "scaled", "--", "--max-steps", "9"],
     "give --reg-anneal after -- instead"),
    (["-l", "betaH", "-d", "folder:{tmp},dsprites", "--", "--img-size", "32"],
     "--img-size after -- preprocesses your own data, but the sweep also trains on dsprites"),
    (["-l", "betaH", "-d", "folder:{tmp}/a/x,folder:{tmp}/b/x"], "rename one"),
    (["-l", "betaH", "--", "--crop", "none"], "--crop after -- preprocesses your own data "
                                              "(-d folder:PATH, npz:PATH or h5:PATH), not -d "
                                              "dsprites: drop --crop"),
])
def test_bad_own_data_definitions_are_one_line_errors(tmp_path, argv, message):
    for sub in ("a/x", "b/x"):
        (tmp_path / sub).mkdir(parents=True)
    argv = [word.replace("{tmp}", str(tmp_path)) for word in argv]
    with pytest.raises(sweep.SweepError, match=re.escape(message)) as error:
        resolve(*argv)
    assert "\n" not in str(error.value)


def test_a_local_sweep_on_your_own_arrays_trains_scores_and_plots(tmp_path):
    """Two seeds on an npz with ground truth, given by a path relative to the caller's
    folder: every stage runs, the metrics read the file's factors."""
    factor_npz(tmp_path / "blocks.npz")
    env = child_env()
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-m", "utils.sweep", "mine", "-r", str(tmp_path / "results"), "-l",
         "btcvae", "-d", "npz:blocks.npz", "--seeds", "1-2", "--plots", "reconstruct", "--",
         "-b", "16", "--max-steps", "3", "--no-test", "--img-size", "32", "--dci-trees", "2",
         "--metrics-images", "48"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600,
        stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 run(s) done, 0 failed" in result.stdout
    sweep_dir = tmp_path / "results" / "mine"
    for run in ("btcvae_blocks_s1", "btcvae_blocks_s2"):
        specs = json.loads((sweep_dir / run / "specs.json").read_text())
        assert specs["data_source"] == str(tmp_path / "blocks.npz")
        assert specs["img_size"] == [1, 32, 32] and specs["seed"] == int(run[-1])
        metrics = json.loads((sweep_dir / run / "metrics.log").read_text())
        assert metrics["factor_names"] == ["position", "brightness"]
        assert (sweep_dir / run / "reconstruct.png").is_file()
    by_setting = (sweep_dir / "summary_by_setting.csv").read_text().splitlines()
    assert len(by_setting) == 2 and "btcvae_blocks" in by_setting[1]


# -------------------------------------------------------------------------------- spread

def test_spread_over_seeds_by_hand():
    none = {"ci95_low": None, "ci95_high": None}
    assert spread.spread([]) == {"n": 0, "mean": None, "std": None, "median": None, **none}
    assert spread.spread([2.0]) == {"n": 1, "mean": 2.0, "std": None, "median": 2.0, **none}
    result = spread.spread([1.0, 2.0, 6.0])
    assert result["mean"] == 3.0 and result["median"] == 2.0
    # sample variance: ((1-3)^2 + (2-3)^2 + (6-3)^2) / (3 - 1) = 7
    assert math.isclose(result["std"], math.sqrt(7))


def test_bootstrap_interval_matches_the_exact_bootstrap_distribution():
    """With 4 seeds the bootstrap distribution of the mean has 4^4 = 256 equally likely
    resamples: enumerate them and take the same quantiles; the seeded Monte Carlo interval
    lies within one step of the means' lattice (1/4 of the values' unit) of the exact one."""
    values = [1.0, 2.0, 6.0, 9.0]
    exact_means = [sum(values[i] for i in picks) / 4
                   for picks in itertools.product(range(4), repeat=4)]
    exact = np.quantile(exact_means, [0.025, 0.975])
    low, high = spread.bootstrap_interval(values)
    assert abs(low - exact[0]) <= 0.25 and abs(high - exact[1]) <= 0.25
    assert low < statistics.fmean(values) < high
    assert spread.bootstrap_interval(values) == (low, high)  # seeded: the table repeats
    assert spread.bootstrap_interval([5.0, 5.0]) == (5.0, 5.0)


def test_spread_table_groups_runs_that_differ_only_in_seed():
    rows = [{"name": "a_s1", "loss": "betaH", "beta": 4, "MIG": 0.1, "recon": 10.0},
            {"name": "a_s2", "loss": "betaH", "beta": 4, "MIG": 0.3, "recon": None},
            {"name": "b_s1", "loss": "betaH", "beta": 16, "MIG": 0.5, "recon": float("nan")}]
    columns, table = spread.spread_table(rows, ["loss", "beta"], ["MIG", "recon"])
    assert columns == ["loss", "beta", "runs", "MIG_n", "MIG_mean", "MIG_std", "MIG_median",
                       "MIG_ci95_low", "MIG_ci95_high", "recon_n", "recon_mean", "recon_std",
                       "recon_median", "recon_ci95_low", "recon_ci95_high", "run_names"]
    first, second = table
    assert (first["runs"], first["MIG_n"], first["recon_n"]) == (2, 2, 1)
    assert math.isclose(first["MIG_mean"], 0.2) and math.isclose(
        first["MIG_std"], statistics.stdev([0.1, 0.3])) and math.isclose(first["MIG_std"],
                                                                         math.sqrt(0.02))
    assert first["run_names"] == "a_s1 a_s2" and first["recon_std"] is None
    assert second["MIG_mean"] == 0.5 and "recon_n" not in second  # NaN is no value


# ------------------------------------------------------------------------------ launchers

def test_missing_sbatch_or_submitit_is_one_line_naming_the_fix(monkeypatch, tmp_path):
    from utils import launchers
    monkeypatch.setattr(launchers.shutil, "which", lambda name: None)
    with pytest.raises(launchers.LauncherError, match="^sbatch not found: .* --launcher local"):
        launchers.slurm_executor(str(tmp_path), launchers.SlurmOptions())
    monkeypatch.setattr(launchers.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setitem(sys.modules, "submitit", None)  # import fails
    with pytest.raises(launchers.LauncherError, match="pip install submitit"):
        launchers.slurm_executor(str(tmp_path), launchers.SlurmOptions())


def test_slurm_times_and_free_form_options():
    from utils.launchers import sbatch_option, slurm_time_minutes
    assert [slurm_time_minutes(text) for text in ("90", "1:30:00", "0:00:30", "1-02:00:00")] == \
        [90, 90, 1, 26 * 60]
    assert sbatch_option("--qos=high") == ("qos", "high")
    assert sbatch_option("mail-type=END") == ("mail_type", "END")
    for bad in ("1:2", "0", "x"):
        with pytest.raises(Exception, match="must be"):
            slurm_time_minutes(bad)


def test_spread_figures_show_every_run_and_the_rank_correlations(monkeypatch, tmp_path):
    from utils import spread_figures
    figures = {}
    monkeypatch.setattr(spread_figures, "save_figure",
                        lambda figure, path: figures.setdefault(os.path.basename(path), figure)
                        and path)
    rows = [{"name": f"{loss}_s{seed}", "loss": loss, "MIG": mig, "SAP": sap, "IRS": irs}
            for loss, seed, mig, sap, irs in (
                ("betaH", 1, 1.0, 4.0, 1.0), ("betaH", 2, 2.0, 3.0, 3.0),
                ("btcvae", 1, 3.0, 2.0, 2.0), ("btcvae", 2, 4.0, 1.0, 4.0))]
    spread_figures.plot_by_objective(rows, ["VAE", "betaH", "btcvae"],
                                     str(tmp_path / "by_objective.png"), scores=("MIG", "SAP"))
    by_objective = figures["by_objective.png"]
    for ax, score in zip(by_objective.axes, ("MIG", "SAP")):
        assert ax.get_title() == score and ax.get_xlabel() == "objective"
        assert [label.get_text() for label in ax.get_xticklabels()] == ["betaH", "btcvae"]
        points = sorted(float(y) for line in ax.get_lines() if line.get_marker() == "o"
                        for y in line.get_ydata())
        assert points == sorted(row[score] for row in rows)  # one point per run
    # Spearman: MIG and SAP reverse each other (-1); MIG and IRS ranks 1,3,2,4 vs 1,2,3,4:
    # 1 - 6 * (0 + 1 + 1 + 0) / (4 * 15) = 0.8
    kept, matrix = spread_figures.score_correlations(rows, ["MIG", "SAP", "IRS"])
    assert kept == ["MIG", "SAP", "IRS"]
    np.testing.assert_allclose(matrix[0], [1.0, -1.0, 0.8])
    spread_figures.plot_score_correlations(rows, ["MIG", "SAP", "IRS"],
                                           str(tmp_path / "correlations.png"))
    ax = figures["correlations.png"].axes[0]
    assert [label.get_text() for label in ax.get_yticklabels()] == kept
    assert "0.80" in [text.get_text() for text in ax.texts]


def test_scores_against_a_swept_hyperparameter_show_the_mean_and_interval_over_seeds(
        monkeypatch, tmp_path):
    from utils import spread_figures
    figures = {}
    monkeypatch.setattr(spread_figures, "save_figure",
                        lambda figure, path: figures.setdefault(os.path.basename(path), figure)
                        and path)
    mig = {(1.0, 1): 0.1, (1.0, 2): 0.3, (4.0, 1): 0.2, (4.0, 2): 0.4, (16.0, 1): 0.5,
           (16.0, 2): 0.5}
    rows = [{"name": f"betaH_B{beta:g}_s{seed}", "loss": "betaH", "dataset": "dsprites",
             "beta": beta, "MIG": value} for (beta, seed), value in mig.items()]
    rows.append({"name": "VAE_s1", "loss": "VAE", "dataset": "dsprites", "MIG": 0.05})
    _, settings = spread.spread_table(rows, ["loss", "dataset", "beta"], ["MIG"])
    symbols = {"VAE": [], "betaH": ["beta"], "btcvae": ["alpha", "beta", "gamma"]}
    assert spread_figures.swept_hyperparameters(settings, symbols) == [("betaH", "beta")]
    spread_figures.plot_by_hyperparameter(settings, symbols, str(tmp_path / "h.png"),
                                          scores=("MIG", "SAP"))
    (ax,) = figures["h.png"].axes  # SAP: no setting has it, no panel
    assert ax.get_xlabel() == "betaH beta" and ax.get_xscale() == "log"  # 1 to 16
    assert ax.get_ylabel() == "MIG (mean over seeds)"
    (bars,) = ax.containers
    data_line, _, (vertical,) = bars.lines
    np.testing.assert_allclose(np.asarray(data_line.get_xdata(), dtype=float), [1, 4, 16])
    np.testing.assert_allclose(np.asarray(data_line.get_ydata(), dtype=float), [0.2, 0.3, 0.5])
    # the bars span each setting's bootstrap interval; two distinct seeds: their two values
    expected = [spread.bootstrap_interval([mig[beta, 1], mig[beta, 2]]) for beta in (1., 4., 16.)]
    np.testing.assert_allclose([segment[:, 1] for segment in vertical.get_segments()], expected)
    assert spread_figures.plot_by_hyperparameter(settings[-1:], symbols, "unused.png") is None


def test_the_compact_table_gives_mean_and_std_over_seeds_by_setting():
    rows = [{"name": f"betaH_dsprites_B4_s{seed}", "loss": "betaH", "MIG": mig,
             "final_kl_loss": kl} for seed, mig, kl in ((1, 0.1, 10.0), (2, 0.3, 12.0))]
    rows.append({"name": "VAE_dsprites_s1", "loss": "VAE", "MIG": 0.05})
    _, settings = spread.spread_table(rows, ["loss"], ["final_kl_loss", "MIG"])
    columns, table = spread.mean_std_table(settings)
    assert columns == ["setting", "runs", "final_kl_loss", "MIG"]  # those some setting has
    # mean 0.2, sample std sqrt(0.02) = 0.1414; KL 11 +- sqrt(2) = 1.414: three significant
    # digits of the mean, the std to the same decimals
    assert table == [{"setting": "betaH_dsprites_B4", "runs": 2, "final_kl_loss": "11.0 ± 1.4",
                      "MIG": "0.200 ± 0.141"},
                     {"setting": "VAE_dsprites", "runs": 1, "final_kl_loss": "",
                      "MIG": "0.0500"}]
    assert spread.mean_std({"AAM_mean": 0.0, "AAM_std": 0.0}, "AAM") == "0.000 ± 0.000"
