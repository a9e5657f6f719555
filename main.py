"""Train and/or evaluate a disentangled VAE: `python main.py <name> -x btcvae_dsprites`.

Writes the run folder results/<name>/: model.pt, specs.json, train_losses.log,
test_losses.log, metrics.log, model-<epoch>.pt snapshots and checkpoint.pt (the full training
state). `python main.py <name> --resume` continues a stopped run from checkpoint.pt;
`torchrun --nproc_per_node=N main.py <name> ...` trains on N processes (data parallel).
The presets file is hyperparam.ini beside this file, or the file named by $DISVAE_CONFIG.
"""
import argparse
import contextlib
import importlib.util
import json
import math
import os
import shlex
import signal
import sys

import torch

from disvae.evaluate import encode_posterior, random_order_test_losses
from disvae.models.losses import LOSSES, RECONSTRUCTION_DISTRIBUTIONS, get_loss_f
from disvae.models.vae import MODELS, init_specific_model
from disvae.training import Trainer, TrainingDiverged, TrainingInterrupted
from disvae.utils import distributed
from disvae.utils.modelIO import (CheckpointError, load_checkpoint, load_loss_state,
                                  load_model, save_loss_state, save_model)
from disvae.utils.run_folder import (CHECKPOINT_FILE, LOSS_STATE_FILE, METRICS_FILE, MODEL_FILE,
                                     SPECS_FILE, TEST_LOSSES_FILE, RunFolderError, RunLock,
                                     archive_run, check_run_name, check_writable, run_folder,
                                     write_json)
from disvae.utils.optim import adam
from disvae.utils.tensorboard_log import TensorBoardLog
from utils import config, resume
from utils.cli import (USER_ERRORS, DefaultsHelpFormatter, OneLineErrorParser,
                       non_negative_float, non_negative_int, positive_float, positive_int,
                       setup_logging)
from utils.datasets import (DATASETS, epoch_permutation, get_dataset,
                            has_test_split, iterate_batches, n_batches)
from utils.helpers import (available_memory, get_device, git_commit, package_versions,
                           set_seed)
from utils.performance import speed_up_model, tune_allocator
from utils.visualize import TrainingGif

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "notset")
CONFIG_ENV = "DISVAE_CONFIG"
FACTOR_DOUBLED_OPTIONS = ("batch_size", "epochs")
# memory of one training step per pixel of the batch (0.75 MB per 64x64 image, measured on the
# CPU from the peak resident memory at batch sizes 256 and 1,024)
TRAINING_BYTES_PER_PIXEL = 190
DEFAULT_GIF_EVERY_STEPS = 1000
EVALUATION_OPTIONS = ("no_test", "is_metrics", "metrics_images", "dci_trees", "eval_batchsize",
                      "seed", "data_dir", "no_cuda")


def build_parser(defaults):
    """The command line of the original toolkit (defaults from [Custom]) plus new options."""
    parser = OneLineErrorParser(description=__doc__, formatter_class=DefaultsHelpFormatter)
    parser.add_argument("name", help="run folder under the results folder (save and load)")

    general = parser.add_argument_group("General options")
    general.add_argument("-L", "--log-level", type=str.lower, choices=LOG_LEVELS,
                         default=defaults["log_level"], help="logging level")
    general.add_argument("--no-progress-bar", action="store_true",
                         default=defaults["no_progress_bar"], help="disable progress bars")
    general.add_argument("--no-cuda", action="store_true", default=defaults["no_cuda"],
                         help="run on the CPU even if a GPU is available")
    general.add_argument("-s", "--seed", type=int, default=defaults["seed"], help="random seed")
    general.add_argument("--results-dir", default="results", help="folder of the run folders")
    general.add_argument("--data-dir", default=None,
                         help="folder of the datasets (default: data/ of the toolkit)")
    general.add_argument("--tensorboard", action="store_true", default=False,
                         help="also write the logged terms per window, images/s, the learning "
                              "rate and the training GIF's frames into <run>/tensorboard/ "
                              "(tensorboard --logdir results)")
    general.add_argument("--resume", action="store_true", default=False,
                         help="continue the stopped run <name> from its checkpoint.pt, with its "
                              "stored options (--epochs, --max-steps, --lr and display options "
                              "may be changed)")

    training = parser.add_argument_group("Training specific options")
    training.add_argument("--checkpoint-every", type=non_negative_int,
                          default=defaults["checkpoint_every"],
                          help="save model-<epoch>.pt after every this many epochs (0: never)")
    training.add_argument("--log-every-steps", type=non_negative_int, default=100,
                          help="write the losses' means over every this many steps to "
                               "train_steps.log (0: only the per-epoch train_losses.log)")
    training.add_argument("--gif-every-steps", type=non_negative_int,
                          default=DEFAULT_GIF_EVERY_STEPS,
                          help="when an epoch has more steps than this, training.gif takes a "
                               "frame every this many steps instead of one per epoch (0: one "
                               "per epoch)")
    training.add_argument("-d", "--dataset", choices=sorted(DATASETS),
                          default=defaults["dataset"], help="dataset to train on")
    training.add_argument("-x", "--experiment", default=defaults["experiment"],
                          help="preset of hyperparam.ini: custom, debug, best_celeba, "
                               "best_dsprites or <loss>_<dataset>")
    training.add_argument("-e", "--epochs", type=positive_int, default=defaults["epochs"],
                          help="maximum number of epochs")
    training.add_argument("--max-steps", type=positive_int, default=None,
                          help="stop after this many optimisation steps (default: none, the epochs "
                               "decide)")
    training.add_argument("-b", "--batch-size", type=positive_int,
                          default=defaults["batch_size"], help="batch size for training")
    training.add_argument("--lr", type=positive_float, default=defaults["lr"],
                          help="learning rate")

    model = parser.add_argument_group("Model specific options")
    model.add_argument("-m", "--model-type", choices=sorted(MODELS), default=defaults["model_type"],
                       help="encoder and decoder architecture")
    model.add_argument("-z", "--latent-dim", type=positive_int, default=defaults["latent_dim"],
                       help="dimension of the latent variable")
    model.add_argument("-l", "--loss", choices=list(LOSSES), default=defaults["loss"],
                       help="training objective")
    model.add_argument("-r", "--rec-dist", choices=RECONSTRUCTION_DISTRIBUTIONS,
                       default=defaults["rec_dist"], help="reconstruction distribution")
    model.add_argument("-a", "--reg-anneal", type=non_negative_float,
                       default=defaults["reg_anneal"],
                       help="number of training steps over which the regulariser is annealed")

    losses = parser.add_argument_group("Loss specific options")
    losses.add_argument("--betaH-B", type=float, default=defaults["betaH_B"],
                        help="beta of beta-VAE (Higgins et al.)")
    losses.add_argument("--betaB-initC", type=float, default=defaults["betaB_initC"],
                        help="starting capacity C (nats) of beta-VAE (Burgess et al.)")
    losses.add_argument("--betaB-finC", type=float, default=defaults["betaB_finC"],
                        help="final capacity C (nats)")
    losses.add_argument("--betaB-G", type=float, default=defaults["betaB_G"],
                        help="gamma of beta-VAE (Burgess et al.)")
    losses.add_argument("--factor-G", type=float, default=defaults["factor_G"],
                        help="weight of the TC term of FactorVAE")
    losses.add_argument("--lr-disc", type=positive_float, default=defaults["lr_disc"],
                        help="learning rate of the FactorVAE discriminator")
    losses.add_argument("--btcvae-A", type=float, default=defaults["btcvae_A"],
                        help="weight of the MI term (alpha) of beta-TCVAE")
    losses.add_argument("--btcvae-G", type=float, default=defaults["btcvae_G"],
                        help="weight of the dimension-wise KL term (gamma) of beta-TCVAE")
    losses.add_argument("--btcvae-B", type=float, default=defaults["btcvae_B"],
                        help="weight of the TC term (beta) of beta-TCVAE")
    losses.add_argument("--btcvae-estimator", choices=("mss", "mws"),
                        default=defaults["btcvae_estimator"],
                        help="minibatch stratified or weighted sampling for log q(z)")

    evaluation = parser.add_argument_group("Evaluation specific options")
    evaluation.add_argument("--is-eval-only", action="store_true",
                            default=defaults["is_eval_only"],
                            help="only evaluate the trained model of the run folder")
    evaluation.add_argument("--is-metrics", action="store_true", default=defaults["is_metrics"],
                            help="compute the disentanglement metrics (needs factors)")
    evaluation.add_argument("--no-test", action="store_true", default=defaults["no_test"],
                            help="do not compute the test losses")
    evaluation.add_argument("--metrics-images", type=positive_int, default=None,
                            help="score a random subset of this many images (default: all)")
    evaluation.add_argument("--dci-trees", type=positive_int, default=None,
                            help="boosted trees per factor in DCI (default: the recipe's 100)")
    evaluation.add_argument("--eval-batchsize", type=positive_int,
                            default=defaults["eval_batchsize"], help="evaluation batch size")

    speed = parser.add_argument_group("Speed options (see bench/RESULTS.md)")
    speed.add_argument("--no-channels-last", action="store_true", default=False,
                       help="keep the convolutions in the contiguous NCHW layout instead of "
                            "channels-last (equal results within float rounding)")
    speed.add_argument("--amp", action="store_true", default=False,
                       help="train the encoder and decoder under bfloat16 autocast (mixed "
                            "precision; the losses stay float32): faster on GPUs")
    speed.add_argument("--compile", action="store_true", default=False,
                       help="torch.compile the model (the first steps are slow while it "
                            "compiles)")
    return parser


def explicit_options(parser, argv):
    """Destinations of the options typed on the command line (their values win over presets)."""
    probe = argparse.ArgumentParser(add_help=False)
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            kwargs = dict(dest=action.dest, default=argparse.SUPPRESS)
            if action.nargs == 0:
                kwargs["action"] = "store_const"
                kwargs["const"] = action.const
            probe.add_argument(*action.option_strings, **kwargs)
    known, _ = probe.parse_known_args(argv)
    return set(vars(known))


def parse_arguments(argv):
    """Parse the command line and apply the preset (with --resume: the run's stored options);
    returns an argparse.Namespace."""
    ini = config.read_config(os.environ.get(CONFIG_ENV, config.CONFIG_FILE))
    defaults = config.get_section(ini, "Custom")
    parser = build_parser(defaults)
    args = parser.parse_args(argv)
    check_run_name(args.name)
    explicit = explicit_options(parser, argv)
    options = config.resolve_options(vars(args), explicit, LOSSES, DATASETS, ini)
    if options["loss"] not in LOSSES or options["dataset"] not in DATASETS:
        raise config.ConfigError(f"preset {options['experiment']!r} names an unknown loss or "
                                 f"dataset: fix hyperparam.ini")
    if options["resume"]:
        options = stored_options(options, explicit)
    check_options(options)
    return argparse.Namespace(**options)


def double_for_factor(options):
    """FactorVAE trains its discriminator on half of every batch, so the original toolkit
    doubles the batch size and the epochs; returns the doubled values present in options."""
    return {key: options[key] * 2 for key in FACTOR_DOUBLED_OPTIONS if key in options}


def stored_options(options, explicit):
    """The options of the run to resume (its specs.json) with the safe typed ones on top."""
    run_dir = os.path.join(options["results_dir"], options["name"])
    if not os.path.isdir(run_dir):
        raise config.ConfigError(f"no run folder {run_dir} to resume: train it first without "
                                 f"--resume, or check the name and --results-dir")
    stored = config.load_specs(run_dir)
    typed = {key: options[key] for key in explicit}
    if stored.get("loss") == "factor":
        typed.update(double_for_factor(typed))
    return resume.resumed_options(options, typed, stored)


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


OPTION_RULES = {  # option: (test, what its value must be)
    "epochs": (lambda v: is_int(v) and v >= 1, "a positive integer"),
    "batch_size": (lambda v: is_int(v) and v >= 1, "a positive integer"),
    "latent_dim": (lambda v: is_int(v) and v >= 1, "a positive integer"),
    "eval_batchsize": (lambda v: is_int(v) and v >= 1, "a positive integer"),
    "max_steps": (lambda v: v is None or (is_int(v) and v >= 1), "a positive integer"),
    "checkpoint_every": (lambda v: is_int(v) and v >= 0, "an integer, 0 or more"),
    "seed": (is_int, "an integer"),
    "lr": (lambda v: is_number(v) and 0 < v < math.inf, "a positive finite number"),
    "lr_disc": (lambda v: is_number(v) and 0 < v < math.inf, "a positive finite number"),
    "reg_anneal": (lambda v: is_number(v) and v >= 0, "a number, 0 or more"),
}


def check_options(options):
    """One-line errors for values the command line's types cannot catch: those of presets
    in hyperparam.ini, and combinations of options."""
    for key, (test, what) in OPTION_RULES.items():
        if not test(options[key]):
            flag = "--" + key.replace("_", "-")
            raise config.ConfigError(f"{flag} must be {what}, got {options[key]!r}: fix the "
                                     f"command line or the preset in hyperparam.ini")
    if options["loss"] == "factor" and options["batch_size"] < 2:
        raise config.ConfigError(f"FactorVAE needs a batch size of 2 or more, got "
                                 f"{options['batch_size']}: each batch is doubled and split into "
                                 f"a VAE half and a discriminator half of at least 2 images")
    if options["tensorboard"] and importlib.util.find_spec("tensorboard") is None:
        raise config.ConfigError("--tensorboard needs the tensorboard package: pip install "
                                 "tensorboard, or drop --tensorboard")
    if options["resume"] and options["is_eval_only"]:
        raise config.ConfigError("--resume continues training but --is-eval-only skips it: "
                                 "drop one of them")


def build_loss(options, n_data, device):
    """The run's loss from its resolved options (those of the command line or specs.json)."""
    loss_options = {key: value for key, value in options.items()
                    if key not in ("loss", "latent_dim", "device")}
    loss_options["is_mss"] = options.get("btcvae_estimator", "mss") == "mss"
    return get_loss_f(options["loss"], options["latent_dim"], n_data=n_data, device=device,
                      **loss_options)


def train(args, exp_dir, device, logger):
    """Train a new run into exp_dir, or continue it (--resume); returns the training dataset."""
    data_dir = args.data_dir or None
    with distributed.rank_zero_first():
        train_data = get_dataset(args.dataset, "train", **({"root": data_dir} if data_dir else {}))
    on_device(train_data, device)
    if args.is_metrics and not train_data.has_factors:
        raise config.ConfigError(f"dataset {args.dataset!r} has no ground-truth factors, so no "
                                 f"disentanglement metric: drop --is-metrics (checked before "
                                 f"training)")
    check_batch_memory(args.batch_size * (2 if args.loss == "factor" and not args.resume
                                          else 1), train_data.img_size, device)
    rank, world_size = distributed.rank(), distributed.world_size()
    if args.loss == "factor" and not args.resume:
        vars(args).update(double_for_factor(vars(args)))
        logger.info("FactorVAE: batch size and epochs doubled to %d and %d (half of every "
                    "batch trains the discriminator), as in the original toolkit.",
                    args.batch_size, args.epochs)
    specs = dict(vars(args), img_size=list(train_data.img_size), data_source=train_data.source,
                 n_train=len(train_data), world_size=world_size,
                 effective_batch_size=args.batch_size * world_size,
                 package_versions=package_versions(), git_commit=git_commit())
    checkpoint = None
    if args.resume:
        stored = config.load_specs(exp_dir)
        checkpoint = load_checkpoint(exp_dir)
        has_model = os.path.exists(os.path.join(exp_dir, MODEL_FILE))
        if not resume.check_resumable(stored, checkpoint, specs, has_model):
            logger.info("%s has a final checkpoint but no %s (its writing was stopped): "
                        "completing the run from the checkpoint.", exp_dir, MODEL_FILE)
        specs = dict(stored, **vars(args),
                     resumes=stored.get("resumes", []) + [resume.resume_record(
                         stored, vars(args), checkpoint["step"], git_commit())])
        logger.info("Resuming %s at epoch %d, batch %d (step %d).", exp_dir,
                    checkpoint["epoch"], checkpoint["batch"], checkpoint["step"])
    logger.info("Batch size %d per process x %d process(es): effective batch size %d.",
                args.batch_size, world_size, args.batch_size * world_size)
    if train_data.source == "procedural":
        logger.warning("Training on the procedural rendering of dSprites (recorded in "
                       "specs.json as data_source).")

    model = speed_up_model(
        init_specific_model(args.model_type, train_data.img_size, args.latent_dim).to(device),
        channels_last=not args.no_channels_last, amp=args.amp, compile=args.compile)
    optimizer = adam(model.parameters(), lr=args.lr)
    loss_f = build_loss(vars(args), len(train_data), device)
    steps_per_epoch = n_batches(len(train_data), args.batch_size, world_size,
                                loss_f.min_batch_size)
    gif_every_steps = args.gif_every_steps if steps_per_epoch > args.gif_every_steps else 0
    tensorboard = TensorBoardLog(exp_dir) if args.tensorboard else None
    training_gif = TrainingGif(exp_dir, train_data.background_color, every_steps=gif_every_steps,
                               on_frame=[tensorboard.image] if tensorboard else [])
    trainer = Trainer(model, optimizer, loss_f, exp_dir, device=device,
                      checkpoint_every=args.checkpoint_every,
                      log_every_steps=args.log_every_steps,
                      is_progress_bar=not args.no_progress_bar, logger=logger,
                      on_epoch_end=[training_gif], hooks_every_steps=gif_every_steps,
                      tensorboard=tensorboard)
    if checkpoint is not None:
        try:
            trainer.load_state_dict(checkpoint)
        except (RuntimeError, KeyError, ValueError, IndexError) as error:
            raise CheckpointError(f"the checkpoint in {exp_dir} does not fit its specs.json "
                                  f"({' '.join(str(error).split())[:160]}...): restore specs.json, or "
                                  f"start the run again without --resume") from None
        for group in optimizer.param_groups:
            group["lr"] = args.lr
    if rank == 0:
        config.save_specs(specs, exp_dir)
    order = lambda epoch: epoch_permutation(len(train_data), args.seed, epoch)
    min_batch = loss_f.min_batch_size
    batches = lambda epoch, start: iterate_batches(train_data, args.batch_size, order(epoch),
                                                   start, rank, world_size, min_batch)
    try:
        trainer(batches, steps_per_epoch, args.epochs, args.max_steps)
    except (CheckpointError, OSError) as error:  # e.g. a full disk
        reason = (error if isinstance(error, CheckpointError) else
                  f"could not write to {exp_dir} ({error.strerror or error}): free disk space")
        raise CheckpointError(f"{reason}; then continue with: "
                              f"{resume.resume_command(vars(args), world_size)}") from None
    if rank == 0:
        save_model(model, exp_dir)
        save_loss_state(loss_f.state_dict(), exp_dir)
        config.save_specs(dict(specs, steps=trainer.step), exp_dir)
    return train_data


def check_batch_memory(batch_size, img_size, device):
    """ConfigError when one training step at this batch size needs more memory than the
    device has free (the activations of the Burgess model: TRAINING_BYTES_PER_PIXEL per pixel
    of the batch's images, measured)."""
    needed = batch_size * math.prod(img_size[1:]) * TRAINING_BYTES_PER_PIXEL
    free = available_memory(device)
    if free is not None and needed > free:
        most = int(free // (math.prod(img_size[1:]) * TRAINING_BYTES_PER_PIXEL))
        raise config.ConfigError(f"-b {batch_size} needs about {needed / 1e9:.1f} GB for one "
                                 f"training step but {device.type} has {free / 1e9:.1f} GB free: "
                                 f"pass -b {most} or less")


def on_device(dataset, device):
    """The dataset with its uint8 images on the GPU when training or evaluating there, so
    that batches are drawn on the device."""
    return dataset.to(device) if device.type == "cuda" else dataset


def evaluate(args, exp_dir, device, logger, train_data=None):
    """Test losses and metrics of the run in exp_dir, rebuilt from its specs.json."""
    specs = config.load_specs(exp_dir)
    model = speed_up_model(load_model(exp_dir, specs["img_size"], specs["latent_dim"],
                                      specs["model_type"], device),
                           channels_last=not args.no_channels_last)
    root = {"root": args.data_dir} if args.data_dir else {}
    if train_data is None:
        train_data = on_device(get_dataset(specs["dataset"], "train", **root), device)
    if not args.no_test:
        test_data = (on_device(get_dataset(specs["dataset"], "test", **root), device)
                     if has_test_split(specs["dataset"]) else train_data)
        loss_f = build_loss(specs, specs.get("n_train", len(train_data)), device)
        untrained_terms = load_trained_state(loss_f, exp_dir, device, logger)
        seed = specs["seed"]
        losses = random_order_test_losses(model, loss_f, test_data, args.eval_batchsize, seed,
                                          device, not args.no_progress_bar)
        losses = {key: value for key, value in losses.items() if key not in untrained_terms}
        write_json(os.path.join(exp_dir, TEST_LOSSES_FILE), dict(losses, order_seed=seed))
        logger.info("Test losses: %s", {k: round(v, 4) for k, v in losses.items()
                                        if not k.startswith("kl_loss_")})
    if args.is_metrics:
        metrics = compute_metrics(model, train_data, args, device)
        write_json(os.path.join(exp_dir, METRICS_FILE), metrics)
        logger.info("Metrics (every score and its recipe in %s): %s",
                    os.path.join(exp_dir, METRICS_FILE), score_summary(metrics))


def score_summary(metrics):
    """`MIG 0.2063, AAM 0.4558, dci.disentanglement 0.31, ...`: every score of a metrics
    record (its floating-point numbers, nested ones named <metric>.<score>), no matrices."""
    scores = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            scores += [(f"{key}.{name}", score) for name, score in value.items()
                       if isinstance(score, float)]
        elif isinstance(value, float):
            scores.append((key, value))
    return ", ".join(f"{name} {value:.4g}" for name, value in scores)


def load_trained_state(loss_f, exp_dir, device, logger):
    """Load the objective's trained state (FactorVAE's discriminator) into loss_f; returns
    the names of the terms that cannot be computed without it when the run has none saved."""
    if not loss_f.state_dict():
        return ()
    state = load_loss_state(exp_dir, device)
    if state is None:
        logger.warning("%s holds no trained state of the %s objective (%s, saved by runs of "
                       "this version): test losses without %s.", exp_dir,
                       type(loss_f).__name__, LOSS_STATE_FILE, ", ".join(loss_f.state_terms))
        return loss_f.state_terms
    loss_f.load_state_dict(state)
    return ()


def compute_metrics(model, dataset, args, device):
    """Encode the dataset (or a random subset of --metrics-images) and score it."""
    from disvae.metrics import compute_all_metrics
    if not dataset.has_factors:
        raise config.ConfigError(f"dataset {dataset.name!r} has no ground-truth factors, so no "
                                 f"disentanglement metric: drop --is-metrics")
    n_images = len(dataset)
    subset = None
    if args.metrics_images and args.metrics_images < n_images:
        generator = torch.Generator().manual_seed(args.seed)
        subset = torch.randperm(n_images, generator=generator)[:args.metrics_images].sort().values
        n_images = len(subset)
    batches = iterate_batches(dataset, args.eval_batchsize, subset)
    mean, logvar = encode_posterior(model, batches, device, not args.no_progress_bar,
                                    n_batches(n_images, args.eval_batchsize))
    factors = dataset.factor_classes if subset is None else dataset.factor_classes[subset.numpy()]
    metrics = compute_all_metrics(mean.numpy(), logvar.numpy(), factors, dataset.factor_names,
                                  seed=args.seed, progress=not args.no_progress_bar,
                                  device=device, dci_trees=args.dci_trees)
    metrics["images_scored"] = "all" if subset is None else f"random subset of {n_images}"
    return metrics


def run(args, device):
    """Train (unless --is-eval-only) and evaluate one run; under torchrun only rank 0 writes
    files, logs below errors and evaluates."""
    is_main = distributed.rank() == 0
    logger = setup_logging(args.log_level if is_main else "error")
    set_seed(args.seed + distributed.rank())
    check_writable(args.results_dir)
    exp_dir = run_folder(args.results_dir, args.name)
    if (args.is_eval_only or args.resume) and not os.path.isdir(exp_dir):
        raise RunFolderError(f"no run folder {exp_dir}: train it first without "
                             f"{'--resume' if args.resume else '--is-eval-only'}, or check the "
                             f"name and --results-dir")
    if args.is_eval_only:  # the run's own options, not the command line's defaults
        logger.info("Options of the run (%s): %s", os.path.join(exp_dir, SPECS_FILE),
                    json.dumps(config.load_specs(exp_dir), sort_keys=True))
        logger.info("Evaluation options: %s", json.dumps(
            {key: vars(args)[key] for key in EVALUATION_OPTIONS}, sort_keys=True))
    else:
        logger.info("Options: %s", json.dumps(vars(args), sort_keys=True))
    # one process at a time per run folder; rank 0 holds it for all of a torchrun
    with RunLock(exp_dir) if is_main else contextlib.nullcontext():
        train_and_evaluate(args, exp_dir, device, logger)


def train_and_evaluate(args, exp_dir, device, logger):
    """The work of `run` in a run folder this process owns."""
    is_main = distributed.rank() == 0
    train_data = None
    if not args.is_eval_only:
        if args.resume:
            check_writable(exp_dir)
        elif is_main:
            archived = archive_run(exp_dir)
            if archived:
                logger.info("The earlier run in %s was archived to %s.", exp_dir, archived)
        train_data = train(args, exp_dir, device, logger)
    distributed.stop(wait=True)  # the other processes are done; rank 0 evaluates alone
    if not is_main:
        return
    if args.is_metrics or not args.no_test:
        evaluate(args, exp_dir, device, logger, train_data)
    logger.info("Results are in %s", exp_dir)


def interrupted_message(args):
    """What Ctrl-C outside training (loading data, evaluating) leaves, and what to do next."""
    exp_dir = os.path.join(args.results_dir, args.name)
    if os.path.exists(os.path.join(exp_dir, MODEL_FILE)):
        command = shlex.join(["python", "main.py", args.name, "--is-eval-only",
                              "--results-dir", args.results_dir])
        return (f"interrupted; the trained model and the files written so far in {exp_dir} "
                f"are kept: evaluate again with {command} (and the evaluation options)")
    if os.path.exists(os.path.join(exp_dir, CHECKPOINT_FILE)):
        return (f"interrupted; the checkpoint in {exp_dir} is kept: continue with "
                f"{resume.resume_command(vars(args), distributed.world_size())}")
    return "interrupted before training started; nothing was trained: run the command again"


def main(argv=None):
    tune_allocator()
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse_arguments(argv)
        device = distributed.start(get_device(args.no_cuda))
        command = resume.resume_command(vars(args), distributed.world_size())
        try:
            run(args, device)
        except TrainingInterrupted as stop:
            if distributed.rank() == 0:
                print(f"{stop}. Resume with: {command}", file=sys.stderr)
            raise SystemExit(128 + stop.signum) from None
        except KeyboardInterrupt:  # outside training, whose stops are TrainingInterrupted
            if distributed.rank() == 0:
                print(f"\nerror: {interrupted_message(args)}", file=sys.stderr)
            raise SystemExit(128 + signal.SIGINT) from None
        except RuntimeError as error:
            if distributed.world_size() <= 1 or not distributed.is_peer_failure(error):
                raise
            reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else "?"
            sys.exit(f"error: another training process died ({reason}); the last checkpoint "
                     f"is kept: once every process has ended, continue with: {command}")
        except TrainingDiverged as error:
            lower = f"{args.lr / 10:g}"
            sys.exit(f"error: {error}: lower the learning rate (now {args.lr:g}) and continue "
                     f"from that checkpoint with: {command} --lr {lower}")
        finally:
            distributed.stop()
    except USER_ERRORS as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
