"""Continuing a stopped run (`main.py <name> --resume`): its options and its facts.

A resumed run takes its options from the run's specs.json. Options typed with --resume may
extend or watch the run (RESUME_SAFE_OPTIONS, e.g. --epochs, --max-steps, --lr after a
divergence); any other typed option must equal the stored value, since changing it would make
the checkpoint meaningless (another model, loss, batch order or batch size).
"""
import shlex

from utils.config import ConfigError

RESUME_SAFE_OPTIONS = frozenset({
    "epochs", "max_steps", "checkpoint_every", "lr", "no_progress_bar", "log_level", "no_cuda",
    "data_dir", "no_test", "is_metrics", "eval_batchsize", "metrics_images", "dci_trees",
    "no_channels_last", "amp", "compile", "tensorboard"})  # speed options: the same model, rounded otherwise
# Where the run is and what to do with it: always those of the current command line.
COMMAND_LINE_ONLY = frozenset({"name", "results_dir", "resume", "is_eval_only"})


def resumed_options(options, typed, stored):
    """The options of a resumed run: the stored ones, with the typed safe ones on top.

    options: every option of the current command line (defaults included), used for options
    the run's specs.json predates; typed: the values typed on the command line, in the units
    stored (FactorVAE's doubled batch size and epochs); stored: the run's specs.json.
    Raises ConfigError naming the first typed option that would change the run.
    """
    merged = dict(options)
    merged.update({key: value for key, value in stored.items()
                   if key in options and key not in COMMAND_LINE_ONLY})
    for key in sorted(set(typed) - COMMAND_LINE_ONLY):
        if typed[key] != merged[key] and key not in RESUME_SAFE_OPTIONS:
            flag = "--" + key.replace("_", "-")
            raise ConfigError(f"--resume cannot change {flag} (run {options['name']!r} has "
                              f"{merged[key]!r}, typed {typed[key]!r}): drop {flag}, or train "
                              f"a new run under another name")
        merged[key] = typed[key]
    return merged


def check_resumable(stored, checkpoint, current, has_model=True):
    """ConfigError unless the checkpoint can continue with this data, these processes and
    these limits (a finished run needs a raised --epochs or --max-steps). Returns True to
    train on, False for a run whose final checkpoint was written but whose model.pt was not
    (has_model False: a process killed in between), which resuming completes.

    stored: the run's specs.json; current: this invocation's options and data facts.
    """
    name = current["name"]
    stored = dict(stored)
    if stored.get("data_source") == "procedural":  # runs made before versions were recorded
        stored.setdefault("data_version", 1)
    for fact in ("n_train", "data_source", "data_version", "data_variant"):
        if fact in stored and stored[fact] != current.get(fact):
            fix = ("the images are made anew by this version of the toolkit, so train a new run"
                   if fact in ("data_version", "data_variant") else
                   "point --data-dir at the data it was trained on")
            raise ConfigError(f"run {name!r} was trained on data with {fact} {stored[fact]!r}, "
                              f"the data found now has {current.get(fact)!r}: {fix}")
    if checkpoint["world_size"] != current["world_size"]:
        launch = ("python main.py" if checkpoint["world_size"] == 1 else
                  f"torchrun --nproc_per_node={checkpoint['world_size']} main.py")
        raise ConfigError(f"run {name!r} was trained by {checkpoint['world_size']} process(es), "
                          f"this is {current['world_size']}: resume it with {launch} (the "
                          f"batches depend on it)")
    step, epoch = checkpoint["step"], checkpoint["epoch"]
    max_steps = current["max_steps"]
    finished = epoch >= current["epochs"] or (max_steps is not None and step >= max_steps)
    if finished and not has_model:
        return False
    if finished:
        raise ConfigError(f"run {name!r} already finished (epoch {epoch} of "
                          f"{current['epochs']}, step {step} of max-steps {max_steps}): raise "
                          f"--epochs or --max-steps to train further")
    return True


def resume_record(stored, options, step, commit):
    """What specs.json keeps about one resumption: the step, the changed options, the code."""
    changed = {key: options[key] for key in sorted(RESUME_SAFE_OPTIONS)
               if key in stored and stored[key] != options[key]}
    return {"step": step, "changed": changed, "git_commit": commit}


def resume_command(options, world_size=1):
    """The command line that continues this run (its other options are in specs.json)."""
    launch = (["python"] if world_size == 1 else
              ["torchrun", f"--nproc_per_node={world_size}"])
    return shlex.join([*launch, "main.py", options["name"], "--resume", "--results-dir",
                       options["results_dir"]])
