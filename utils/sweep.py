"""A sweep, objectives x hyperparameters x datasets x seeds, as one command:

    python -m utils.sweep NAME -l betaH,btcvae -d dsprites --seeds 1-5 \\
        --grid betaH_B=1,4,16 --grid btcvae_B=1,6 -- --max-steps 3000

Locatello et al. (2019, "Challenging common assumptions in the unsupervised learning of
disentangled representations") found scores to vary as much across seeds as across
objectives, so each setting is trained with several seeds and reported with its spread
(utils/spread.py, written by utils.summary).

The runs are resolved into results/NAME/sweep.json (deterministic names such as
betaH_dsprites_B4_s1; a --grid key applies to the objective that declares it), then each run
goes through the stages train -> metrics -> plots (utils/sweep_run.py) on this machine
(--launcher local, -j runs at a time) or as one SLURM job array (--launcher slurm). Running the
command again skips finished runs and continues unfinished ones from their checkpoints; a
changed definition under an existing NAME is refused unless --extend (which adds runs and
never changes existing ones). `--status` lists finished, running, failed and pending runs.
Imports no torch for -h and --status.
"""
import argparse
import fcntl
import itertools
import json
import os
import re
import sys
from typing import NamedTuple, Optional

from disvae.utils.run_folder import (LOCK_FILE, RunFolderError, check_run_name, run_folder,
                                     write_json)
from utils import launchers
from utils.config import ConfigError, STANDALONE_PRESETS, get_section, read_config
from utils.dataset_registry import (CUSTOM_PRESET_DATASET, USER_DATA_FLAGS, has_ground_truth,
                                    user_data_kind)
from utils.sweep_run import (LOGS, REPO, STAGES, SWEEP_FILE, RunStages, read_sweep,
                             stage_command, stage_path)

DEFAULT_PLOTS = ("all",)


class SweepError(ValueError):
    """A sweep definition or state that cannot be used; the message names the fix."""


# ------------------------------------------------------------------- what can be swept

def main_declarations():
    """(losses, datasets, {grid key: (loss, flag, type)}) that main.py accepts: the
    registered objectives with the hyperparameters each declares (disvae.objectives), and the
    registered datasets. Imports no torch."""
    from disvae.objectives import registered
    from utils.dataset_registry import DATASETS
    objectives = registered()
    keys = {hyper.name: (name, hyper.flag, hyper.type)
            for name, objective in objectives.items() for hyper in objective.hyperparameters}
    return list(objectives), list(DATASETS), keys


# ---------------------------------------------------------------------- command line

def seed_list(text):
    """--seeds: comma-separated seeds and ranges A-B (inclusive), e.g. 1-5,10."""
    seeds = []
    try:
        for part in text.split(","):
            first, dash, last = part.strip().partition("-") if not part.strip().startswith(
                "-") else (part.strip(), "", "")
            seeds += list(range(int(first), int(last) + 1)) if dash else [int(first)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be seeds and ranges such as 1-5,10, got "
                                         f"{text}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"must name each seed once, got {text}")
    return seeds


def grid_entry(text):
    """--grid KEY=V1,V2,...: (key, [values as typed])."""
    key, equals, values = text.partition("=")
    words = [value.strip() for value in values.split(",") if value.strip()]
    if not equals or not key or not words:
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE[,VALUE...] such as betaH_B=1,4,16, "
                                         f"got {text}")
    return key.strip(), words


def name_list(text):
    return [word for word in text.replace(",", " ").split() if word]


def dataset_list(text):
    """-d: comma-separated datasets; the user's own data's paths may hold spaces."""
    return [word.strip() for word in text.split(",") if word.strip()]


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse reporting a bad option as one line (as utils.cli's parser, which imports
    torch: -h and --status must start fast)."""

    def error(self, message):
        sys.exit(f"error: {message} (see {self.prog} --help)")


def build_parser():
    parser = OneLineErrorParser(
        prog="python -m utils.sweep", description=__doc__,
        usage="%(prog)s NAME [options] [-- main.py options for every run]",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="the sweep: its runs go to <results-dir>/NAME/")
    what = parser.add_argument_group("What to run (the sweep's definition)")
    what.add_argument("-l", "--losses", type=name_list, help="objectives, e.g. betaH,btcvae; each "
                      "with its preset <loss>_<dataset> as base settings")
    what.add_argument("-d", "--datasets", type=dataset_list, default=None,
                      help="datasets, comma-separated, e.g. dsprites,shapes3d, or your own data "
                           "folder:PATH, npz:PATH or h5:PATH (a path without commas) with the "
                           "presets <loss>_custom, runs named <loss>_<file or folder name> "
                           "(default: dsprites)")
    what.add_argument("-x", "--presets", type=name_list, help="presets of hyperparam.ini as base "
                      "settings instead of -l/-d, e.g. best_dsprites,betaH_dsprites")
    what.add_argument("--seeds", type=seed_list, default=None, help="seeds, e.g. 1-5 (default: 1)")
    what.add_argument("--grid", type=grid_entry, action="append", default=[],
                      metavar="KEY=V1,V2", help="values of a hyperparameter of an objective, "
                      "e.g. betaH_B=1,4,16 (the option --betaH-B of main.py); repeatable")
    what.add_argument("--anneal", choices=("preset", "scaled"), default="preset",
                      help="reg_anneal of each run: its preset's (default), or scaled to the "
                           "run's --max-steps (given after --) as the preset's schedule "
                           "compressed (utils/anneal.py)")
    what.add_argument("--plots", type=name_list, default=None,
                      help="plots of main_viz.py in the plots stage (default: all)")

    how = parser.add_argument_group("How")
    how.add_argument("-r", "--results-dir", default="results", help="folder of the sweeps")
    how.add_argument("-n", "--dry-run", action="store_true",
                     help="print the runs and their commands; run and write nothing")
    how.add_argument("--status", action="store_true", help="list finished, running, failed and "
                     "pending runs")
    how.add_argument("--extend", action="store_true", help="add the runs of this definition to "
                     "an existing sweep (existing runs are kept as they are)")
    for stage in STAGES:
        how.add_argument(f"--no-{stage}", action="store_true", help=f"skip the {stage} stage")
    how.add_argument("--no-summary", action="store_true", help="do not write the sweep's "
                     "summary (utils.summary) at its end (local, or slurm with --wait)")
    how.add_argument("--launcher", choices=("local", "slurm"), default="local")
    how.add_argument("-j", "--jobs", type=int, default=1, help="local: runs at a time, each "
                     "with cores/N torch threads")

    slurm = parser.add_argument_group("SLURM (--launcher slurm: one job array through submitit)")
    slurm.add_argument("--slurm-partition", default=None)
    slurm.add_argument("--slurm-time", type=launchers.slurm_time_minutes, default=60,
                       help="time limit of each run: minutes or HH:MM:SS; a run stopped by it "
                            "is requeued and continues from its checkpoint")
    slurm.add_argument("--slurm-gpus", type=int, default=0, help="GPUs per run")
    slurm.add_argument("--slurm-cpus", type=int, default=1, help="CPU cores per run")
    slurm.add_argument("--slurm-mem", type=float, default=None, help="memory per run in GB")
    slurm.add_argument("--slurm-parallelism", type=int, default=256,
                       help="runs of the array running at once")
    slurm.add_argument("--slurm-signal-delay", type=int, default=120, help="seconds before the "
                       "time limit at which a run saves its checkpoint and is requeued")
    slurm.add_argument("--slurm-option", type=launchers.sbatch_option, action="append",
                       default=[], metavar="NAME=VALUE",
                       help="any other sbatch option, e.g. account=lab or qos=high; repeatable")
    slurm.add_argument("--wait", action="store_true", help="wait for the SLURM jobs to end")
    return parser


def parse_arguments(argv):
    """The sweep's options, and those after -- for main.py."""
    split = argv.index("--") if "--" in argv else len(argv)
    args = build_parser().parse_args(argv[:split])
    args.main_options = argv[split + 1:]
    return args


# ---------------------------------------------------------------------------- resolving

def format_value(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


class Base(NamedTuple):
    """A base setting of a sweep: the preset, its objective and dataset, the stem of its
    runs' names, and the options that select it on main.py's command line."""
    preset: str
    loss: str
    dataset: str
    stem: str
    options: tuple
    ground_truth: Optional[bool] = None  # the user's own data: whether it has factors

    def record(self):
        """What a run of this base records besides its name, options and seed: the user's own
        data also records whether it has ground truth (the metrics stage needs it), decided
        once when the sweep is defined, and not again when its stages run."""
        own = {} if self.ground_truth is None else {"ground_truth": self.ground_truth}
        return {"preset": self.preset, "loss": self.loss, "dataset": self.dataset, **own}


def preset_base(preset, loss, dataset):
    return Base(preset, loss, dataset, preset, ("-x", preset))


def user_data_base(loss, word):
    """The base setting of objective `loss` on the user's own data `<kind>:PATH`: the preset
    <loss>_custom with -d <kind>:<absolute path> (each run's main.py starts in the
    repository, so a relative path would move; links resolved, so that two names of one file
    are one dataset), runs named <loss>_<file or folder name>."""
    kind = user_data_kind(word)
    path = os.path.realpath(os.path.expanduser(word.partition(":")[2]))
    exists, what = (os.path.isdir, "folder") if kind == "folder" else (os.path.isfile, "file")
    if not exists(path):
        raise SweepError(f"-d {word}: there is no {what} {path}: check the path after {kind}:")
    name = os.path.basename(path) if kind == "folder" else os.path.splitext(
        os.path.basename(path))[0]
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or kind
    preset = f"{loss}_{CUSTOM_PRESET_DATASET}"
    dataset = f"{kind}:{path}"
    return Base(preset, loss, dataset, f"{loss}_{label}", ("-x", preset, "-d", dataset),
                has_ground_truth(dataset))


def base_settings(args, losses, datasets):
    """[Base] of the runs: presets -x, or every objective of -l on every dataset of -d
    (registered, or the user's own `<kind>:PATH`)."""
    if args.presets:
        if args.losses or args.datasets:
            raise SweepError("-x names presets, which set the loss and the dataset: drop -l/-d, "
                             "or drop -x")
        ini = read_config()
        custom = get_section(ini, "Custom")
        bases = []
        for preset in args.presets:
            if preset in STANDALONE_PRESETS or preset == "custom":
                section = dict(custom, **(get_section(ini, preset) if preset in ini else {}))
                bases.append(preset_base(preset, section["loss"], section["dataset"]))
                continue
            loss, _, dataset = preset.partition("_")
            if loss in losses and dataset == CUSTOM_PRESET_DATASET:
                raise SweepError(f"preset {preset} is for your own data: use -l {loss} "
                                 f"-d folder:PATH (or npz:PATH, h5:PATH) instead of -x")
            if loss not in losses or dataset not in datasets:
                raise SweepError(f"unknown preset {preset!r} for -x: use custom, "
                                 f"{', '.join(STANDALONE_PRESETS)} or <loss>_<dataset>")
            bases.append(preset_base(preset, loss, dataset))
        return bases
    if not args.losses:
        raise SweepError("name the objectives with -l (e.g. -l betaH,btcvae) or presets with -x")
    chosen_datasets = args.datasets or ["dsprites"]
    for option, chosen, allowed in (("-l", args.losses, losses),
                                    ("-d", chosen_datasets, datasets)):
        for word in chosen:
            if word not in allowed and not (option == "-d" and user_data_kind(word)):
                extra = ", or your own data as folder:PATH, npz:PATH or h5:PATH" * (option == "-d")
                raise SweepError(f"unknown name {word!r} for {option}: choose from "
                                 f"{', '.join(allowed)}{extra}")
    return [user_data_base(loss, dataset) if user_data_kind(dataset) else
            preset_base(f"{loss}_{dataset}", loss, dataset)
            for loss in args.losses for dataset in chosen_datasets]


def check_user_data_options(options, bases):
    """--img-size, --channels and --crop after -- preprocess the user's own data: refused
    when a run of the sweep trains on a registered dataset (main.py would refuse that run)."""
    flags = list(USER_DATA_FLAGS.values())
    given = [word.split("=", 1)[0] for word in options if word.split("=", 1)[0] in flags]
    registered_data = [base.dataset for base in bases if not user_data_kind(base.dataset)]
    if given and registered_data and len(registered_data) == len(bases):
        raise SweepError(f"{given[0]} after -- preprocesses your own data (-d folder:PATH, "
                         f"npz:PATH or h5:PATH), not -d {registered_data[0]}: drop {given[0]}")
    if given and registered_data:
        raise SweepError(f"{given[0]} after -- preprocesses your own data, but the sweep also "
                         f"trains on {registered_data[0]}: sweep your data and the registered "
                         f"datasets separately")


def grid_values(grid, keys, losses):
    """{key: [converted values]} of the --grid entries, checked against the declarations."""
    values = {}
    for key, words in grid:
        if key not in keys:
            known = ", ".join(sorted(keys))
            raise SweepError(f"--grid {key}: no objective declares {key!r}: use one of {known}")
        if key in values:
            raise SweepError(f"--grid {key} is given twice: list all its values in one --grid")
        convert = keys[key][2]
        try:
            values[key] = [convert(word) for word in words]
        except (ValueError, argparse.ArgumentTypeError) as error:
            raise SweepError(f"--grid {key}: bad value ({error}): give numbers such as "
                             f"{key}=1,4") from None
        if len(set(values[key])) != len(values[key]):
            raise SweepError(f"--grid {key} repeats a value: name each value once")
    return values


def spelled_out(options):
    """main.py options with abbreviated long flags written out (--img 32 -> --img-size 32):
    main.py's argparse takes any unambiguous prefix of a flag, and the sweep's checks and
    stages compare whole flags."""
    import main
    parser = main.build_parser(get_section(read_config(), "Custom"))
    flags = [flag for action in parser._actions for flag in action.option_strings
             if flag.startswith("--")]
    spelled = []
    for word in options:
        flag, equals, value = word.partition("=")
        matches = [known for known in flags if known.startswith(flag)]
        if flag.startswith("--") and flag not in flags and len(matches) == 1:
            word = matches[0] + equals + value
        spelled.append(word)
    return spelled


def check_main_options(options, keys):
    """Options after -- must not set what the sweep sets for each run."""
    flags = {"-s": "--seeds", "--seed": "--seeds", "--results-dir": "-r", "--resume": None,
             "-x": "-x", "--experiment": "-x", "-l": "-l", "--loss": "-l", "-d": "-d",
             "--dataset": "-d"}
    flags.update({flag: f"--grid {key}=..." for key, (_, flag, _) in keys.items()})
    for word in options:
        flag = word.split("=", 1)[0]
        if flag in flags:
            fix = (f"use the sweep's {flags[flag]}" if flags[flag] else
                   "rerun the sweep to continue its runs")
            raise SweepError(f"{flag} after -- is set by the sweep for each run: {fix}")


def max_steps_of(options):
    """The value of --max-steps among main.py options, else None."""
    for i, word in enumerate(options):
        if word == "--max-steps" and i + 1 < len(options):
            return options[i + 1]
        if word.startswith("--max-steps="):
            return word.split("=", 1)[1]
    return None


def anneal_options(args, base):
    """["--reg-anneal", N] scaling the base preset's schedule to the runs' --max-steps
    (--anneal scaled), else []."""
    if args.anneal == "preset":
        return []
    if user_data_kind(base.dataset):
        raise SweepError("--anneal scaled needs the size of each preset's dataset, which "
                         "your own data's preset does not know: give --reg-anneal after -- "
                         "instead")
    from utils.anneal import AnnealError, scaled_reg_anneal
    steps = max_steps_of(args.main_options)
    if steps is None or not steps.isdigit() or int(steps) < 1:
        raise SweepError("--anneal scaled compresses each preset's schedule to the runs' length: "
                         "give it after --, e.g. -- --max-steps 3500")
    if any(word.split("=", 1)[0] == "--reg-anneal" for word in args.main_options):
        raise SweepError("--reg-anneal after -- contradicts --anneal scaled: drop one of them")
    try:
        return ["--reg-anneal", str(scaled_reg_anneal(base.preset, int(steps)))]
    except AnnealError as error:
        raise SweepError(str(error)) from None


def resolve_runs(args):
    """The runs of the command line's definition, in order: bases x grid x seeds."""
    args.main_options = spelled_out(args.main_options)
    losses, datasets, keys = main_declarations()
    check_main_options(args.main_options, keys)
    bases = base_settings(args, losses, datasets)
    check_user_data_options(args.main_options, bases)
    grid = grid_values(args.grid, keys, losses)
    unused = [key for key in grid if all(keys[key][0] != base.loss for base in bases)]
    if unused:
        raise SweepError(f"--grid {unused[0]} is for {keys[unused[0]][0]}, which no run of the "
                         f"sweep trains: add it with -l or drop the --grid")
    runs = []
    for base in bases:
        own = [key for key in grid if keys[key][0] == base.loss]
        anneal = anneal_options(args, base)
        for combination in itertools.product(*(grid[key] for key in own)):
            setting = dict(zip(own, combination))
            label = "".join(f"_{key.split('_', 1)[1]}{format_value(setting[key])}"
                            for key in sorted(setting))
            for seed in args.seeds or [1]:
                name = check_run_name(f"{base.stem}{label}_s{seed}")
                options = [*base.options, "-s", str(seed)]
                for key in own:
                    options += [keys[key][1], format_value(setting[key])]
                options += anneal
                runs.append({"name": name, **base.record(), "seed": seed,
                             "hyperparameters": setting,
                             "train_options": options + ["--no-progress-bar",
                                                         *args.main_options],
                             "main_options": list(args.main_options),
                             "plots": list(args.plots or DEFAULT_PLOTS)})
    names = [run["name"] for run in runs]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate:
        raise SweepError(f"run {duplicate} comes twice from the definition: name each preset, "
                         f"dataset and value once (two data files or folders of one name: "
                         f"rename one)")
    return runs


def merged_runs(sweep_dir, runs, extend):
    """The runs to write to sweep.json: those of the definition when NAME is new or holds
    the same runs; with extend, the existing runs followed by the new ones."""
    path = os.path.join(sweep_dir, SWEEP_FILE)
    if not os.path.exists(path):
        return runs
    existing = read_sweep(sweep_dir)["runs"]
    by_name = {run["name"]: run for run in existing}
    changed = [run["name"] for run in runs if run["name"] in by_name
               and by_name[run["name"]] != run]
    if changed:
        raise SweepError(f"run {changed[0]} is defined differently in {path}: a sweep never "
                         f"changes its runs; choose another NAME for the new definition")
    added = [run for run in runs if run["name"] not in by_name]
    if extend:
        return existing + added
    if added or len(runs) != len(existing):
        raise SweepError(f"{path} holds another definition of this sweep ({len(existing)} runs, "
                         f"this one {len(runs)}): rerun its own command, add these runs with "
                         f"--extend, or choose another NAME")
    return existing


# ------------------------------------------------------------------------------ state

def is_locked(run_dir):
    """Whether a process holds the run folder's lock (tested without keeping it)."""
    try:
        handle = open(os.path.join(run_dir, LOCK_FILE))
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def last_error_line(log):
    """The last line of a log starting with 'error' (else its last non-empty line)."""
    try:
        with open(log, errors="replace") as handle:
            lines = [line.strip() for line in handle if line.strip()]
    except OSError:
        return "(no log)"
    errors = [line for line in lines if line.lower().startswith("error")]
    return (errors or lines or ["(empty log)"])[-1]


SLURM_JOBS_FILE = "slurm_jobs.json"  # {run: SLURM job id} of the last submissions


def submitted_jobs(sweep_dir):
    """{run name: SLURM job id} of the runs submitted by --launcher slurm (empty if none)."""
    try:
        with open(os.path.join(sweep_dir, SLURM_JOBS_FILE)) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}


def queued_runs(sweep_dir):
    """{run name: job id} of the runs whose SLURM job is still queued or running."""
    jobs = submitted_jobs(sweep_dir)
    queued = launchers.queued_jobs(list(jobs.values()))
    return {name: job_id for name, job_id in jobs.items() if job_id in queued}


def run_state(sweep_dir, run, stages, queued=None):
    """('finished' | 'running' | 'failed' | 'pending', detail) of a run; queued: {run name:
    job id} of the runs in SLURM's queue (pending there, or starting), which are pending with
    their job as detail."""
    if is_locked(os.path.join(sweep_dir, run["name"])):
        return "running", ""
    if run["name"] in (queued or {}):
        return "pending", f"queued as SLURM job {queued[run['name']]}"
    for stage in stages:
        failed = stage_path(sweep_dir, run["name"], stage, "failed")
        if os.path.exists(failed):
            log = stage_path(sweep_dir, run["name"], stage, "log")
            return "failed", f"{stage}, log {log}: {last_error_line(log)}"
    finished = all(os.path.exists(stage_path(sweep_dir, run["name"], stage, "done"))
                   or stage_command(sweep_dir, run, stage) is None for stage in stages)
    return ("finished", "") if finished else ("pending", "")


def requested_stages(args):
    return [stage for stage in STAGES if not getattr(args, f"no_{stage}")]


def print_status(sweep_dir):
    """List the runs by state, for the stages of the sweep's last launch."""
    if not os.path.exists(os.path.join(sweep_dir, SWEEP_FILE)):
        raise SweepError(f"no sweep in {sweep_dir} ({SWEEP_FILE} missing): start it first, or "
                         f"check NAME and -r")
    stored = read_sweep(sweep_dir)
    runs, stages = stored["runs"], stored.get("stages", STAGES)
    groups = {state: [] for state in ("finished", "running", "failed", "pending")}
    queued = queued_runs(sweep_dir)
    for run in runs:
        state, detail = run_state(sweep_dir, run, stages, queued)
        groups[state].append(f"{run['name']} ({detail})" if detail else run["name"])
    counts = ", ".join(f"{len(names)} {state}" for state, names in groups.items())
    print(f"sweep {os.path.basename(sweep_dir)}: {len(runs)} runs: {counts}")
    for state, names in groups.items():
        for name in names:
            print(f"{state}: {name}")
    return groups


# ---------------------------------------------------------------------------- running

def launch_local(sweep_dir, runs, stages, jobs):
    pool = launchers.LocalPool(jobs)
    argv = lambda run: [sys.executable, "-m", "utils.sweep_run", sweep_dir, run["name"],
                        "--stages", ",".join(stages)]
    status = pool.run([launchers.Job(run["name"], os.path.join(sweep_dir, LOGS,
                                                               f"{run['name']}.log"), argv(run),
                                     cwd=REPO) for run in runs])
    print(f"{len(pool.done)} run(s) done, {len(pool.failed)} failed"
          + (f": {', '.join(pool.failed)} (python -m utils.sweep {os.path.basename(sweep_dir)} "
             f"--status)" if pool.failed else ""))
    return status


def slurm_options(args):
    return launchers.SlurmOptions(
        partition=args.slurm_partition, time_min=args.slurm_time, gpus=args.slurm_gpus,
        cpus=args.slurm_cpus, mem_gb=args.slurm_mem, parallelism=args.slurm_parallelism,
        signal_delay_s=args.slurm_signal_delay, extra=dict(args.slurm_option))


def launch_slurm(sweep_dir, runs, stages, args):
    jobs = launchers.submit_slurm(RunStages(sweep_dir, stages), [run["name"] for run in runs],
                                  os.path.join(sweep_dir, "slurm", "%j"), slurm_options(args))
    write_json(os.path.join(sweep_dir, SLURM_JOBS_FILE),
               dict(submitted_jobs(sweep_dir), **{run["name"]: job.job_id
                                                  for run, job in zip(runs, jobs)}))
    array = jobs[0].job_id.split("_")[0]
    print(f"submitted job array {array} ({len(jobs)} runs); follow it with: "
          f"python -m utils.sweep {os.path.basename(sweep_dir)} --status")
    if not args.wait:
        return 0
    import logging
    logging.getLogger("submitit").setLevel(logging.ERROR)  # its polls of sacct warn without
    failed = []                                            # SLURM accounting; results are files
    for job, run in zip(jobs, runs):
        try:
            job.result()
        except Exception as error:  # the task's failure, as submitit reports it
            failed.append(run["name"])
            print(f"FAILED: {run['name']}: {str(error).strip().splitlines()[-1][:200]}")
    print(f"{len(jobs) - len(failed)} run(s) done, {len(failed)} failed")
    return 1 if failed else 0


def write_sweep_summary(sweep_dir):
    from utils.summary import SummaryError, write_summary
    try:
        paths, n_runs = write_summary(sweep_dir)
    except SummaryError as error:
        print(f"warning: no summary: {error}", file=sys.stderr)
        return
    print(f"Summary of {n_runs} run(s): {', '.join(paths)}")


def sweep(args):
    if args.jobs < 1:
        raise SweepError(f"-j must be a positive integer, got {args.jobs}")
    results_dir = os.path.abspath(args.results_dir)
    sweep_dir = run_folder(results_dir, args.name)
    stages = requested_stages(args)
    if args.status:
        print_status(sweep_dir)
        return 0
    defined = args.losses or args.presets
    if not defined and not os.path.exists(os.path.join(sweep_dir, SWEEP_FILE)):
        raise SweepError(f"no sweep {args.name} yet: define it with -l (objectives) or -x "
                         f"(presets)")
    runs = merged_runs(sweep_dir, resolve_runs(args), args.extend) if defined else \
        read_sweep(sweep_dir)["runs"]
    if args.dry_run:
        for run in runs:
            print(f"{run['name']}: " + " ".join(stage_command(sweep_dir, run, "train")[1:]))
        print(f"{len(runs)} run(s), stages: {', '.join(stages)}")
        return 0
    os.makedirs(sweep_dir, exist_ok=True)
    write_json(os.path.join(sweep_dir, SWEEP_FILE), {"name": args.name, "stages": stages,
                                                       "runs": runs})
    todo = []
    queued = queued_runs(sweep_dir)
    for run in runs:
        state, detail = run_state(sweep_dir, run, stages, queued)
        if state == "finished":
            print(f"skip: {run['name']} is finished")
        elif state == "running":
            print(f"skip: {run['name']} is running (its run folder is locked)")
        elif run["name"] in queued:
            print(f"skip: {run['name']} is {detail}")
        else:
            todo.append(run)
    if not todo:
        print("nothing to run")
        status = 0
    elif args.launcher == "slurm":
        status = launch_slurm(sweep_dir, todo, stages, args)
        if not args.wait:
            return status
    else:
        status = launch_local(sweep_dir, todo, stages, args.jobs)
    if status != launchers.EXIT_INTERRUPTED and not args.no_summary:
        write_sweep_summary(sweep_dir)
    return status


def main(argv=None):
    args = parse_arguments(sys.argv[1:] if argv is None else list(argv))
    try:
        sys.exit(sweep(args))
    except (SweepError, ConfigError, RunFolderError, launchers.LauncherError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
