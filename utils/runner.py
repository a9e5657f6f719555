"""What `python main.py <name> ...` does once its options are parsed: train a run (or continue
it), evaluate it (test losses, metrics), under one process or torchrun, in a run folder this
process owns. main.py imports this module only when there is work, so that its command line
(and -h) answers without loading torch.
"""
import contextlib
import json
import logging
import math
import os
import shlex
import signal
import sys

from disvae.evaluate import encode_posterior, random_order_test_losses
from disvae.models.vae import init_specific_model
from disvae.training import Trainer, TrainingDiverged, TrainingInterrupted
from disvae.utils import distributed
from disvae.utils.modelIO import (CheckpointError, load_checkpoint, load_loss_state,
                                  load_model, save_loss_state, save_model)
from disvae.utils.optim import adam
from disvae.utils.tensorboard_log import TensorBoardLog
from disvae.utils.run_folder import (CHECKPOINT_FILE, LOSS_STATE_FILE, METRICS_FILE, MODEL_FILE,
                                     SPECS_FILE, TEST_LOSSES_FILE, RunFolderError, RunLock,
                                     archive_run, check_writable, run_folder, set_aside,
                                     write_json)
from utils import config, resume
from utils.cli import setup_logging
from utils.dataset_registry import data_options
from utils.datasets import (epoch_permutation, get_dataset, has_test_split, iterate_batches,
                            n_batches, random_indices, training_data)
from utils.helpers import (available_memory, get_device, git_commit, package_versions,
                           set_seed)
from utils.options import (Options, double_for_discriminator, objective_of,
                           trains_discriminator)
from utils.performance import speed_up_model, tune_allocator
from utils.visualize import TRAINING_GIF_KL_IMAGES, TrainingGif

# memory of one training step per pixel of the batch (0.75 MB per 64x64 image, measured on the
# CPU from the peak resident memory at batch sizes 256 and 1,024)
TRAINING_BYTES_PER_PIXEL = 190
EVALUATION_OPTIONS = ("no_test", "is_metrics", "metrics_images", "dci_trees", "eval_batchsize",
                      "seed", "data_dir", "no_cuda")


def build_loss(options, n_data, device):
    """The run's loss from its resolved options (those of the command line or specs.json):
    its objective receives its own hyperparameters, the latent dimension and the training
    group's reconstruction distribution and annealing."""
    typed = Options.from_flat(options)
    return objective_of(options, options.get("name")).build(
        typed.objective, typed.model.latent_dim, rec_dist=typed.training.rec_dist,
        reg_anneal=typed.training.reg_anneal, n_data=n_data, device=device)


def train(args, exp_dir, device, logger):
    """Train a new run into exp_dir, or continue it (--resume); returns the training dataset."""
    with distributed.rank_zero_first():
        train_data = training_data(vars(args), args.data_dir or None)
    on_device(train_data, device)
    if args.is_metrics and not train_data.has_factors:
        raise config.ConfigError(f"dataset {args.dataset!r} has no ground-truth factors, so no "
                                 f"disentanglement metric: drop --is-metrics (checked before "
                                 f"training)")
    rank, world_size = distributed.rank(), distributed.world_size()
    if trains_discriminator(args.loss) and not args.resume:
        vars(args).update(double_for_discriminator(vars(args)))
        logger.info("%s: batch size and epochs doubled to %d and %d (half of every batch "
                    "trains the discriminator), as in the original toolkit.",
                    objective_of(vars(args), args.name).title, args.batch_size, args.epochs)
    check_batch_memory(args.batch_size, train_data.img_size, device)
    specs = dict(vars(args), img_size=list(train_data.img_size), data_source=train_data.source,
                 data_version=train_data.version, data_variant=train_data.variant,
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
    kl_rows = random_indices(len(train_data), TRAINING_GIF_KL_IMAGES, args.seed)
    training_gif = TrainingGif(exp_dir, train_data.background_color, every_steps=gif_every_steps,
                               on_frame=[tensorboard.image] if tensorboard else [],
                               kl_images=train_data.batch(kl_rows.to(train_data.images.device)))
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
            reason = " ".join(str(error).split())[:160]
            raise CheckpointError(f"the checkpoint in {exp_dir} does not fit its specs.json "
                                  f"({reason}...): restore specs.json, or start the run again "
                                  f"without --resume") from None
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
        train_data = on_device(training_data(specs, args.data_dir or None), device)
    if not args.no_test:
        test_data = (on_device(get_dataset(specs["dataset"], "test", **root,
                                           **data_options(specs)), device)
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
        from disvae.metrics.suite import score_line
        metrics = compute_metrics(model, train_data, args, device)
        keep_other_recipe(os.path.join(exp_dir, METRICS_FILE), metrics, logger)
        write_json(os.path.join(exp_dir, METRICS_FILE), metrics)
        logger.info("Metrics: %s (written to %s)", score_line(metrics),
                    os.path.join(exp_dir, METRICS_FILE))


def scoring_recipe(metrics):
    """What decides a metrics record's scores besides the model: the images scored, the seed
    and every score's recipe (sample sizes, estimator, DCI's trees)."""
    recipes = {key: {name: setting for name, setting in value["recipe"].items()
                     if name != "elapsed_s"}  # its time, not its recipe
               for key, value in metrics.items() if isinstance(value, dict) and "recipe" in value}
    return (metrics.get("n_images"), metrics.get("images_scored"), metrics.get("seed"), recipes)


def keep_other_recipe(path, metrics, logger):
    """Set an earlier metrics.log aside (metrics-<date>-<time>.log) when it holds scores of
    another recipe than the new one, so that new scores never silently replace others; one of
    the same recipe (the same scores, the suite being seeded) is replaced."""
    if not os.path.exists(path):
        return
    try:
        with open(path) as handle:
            same = scoring_recipe(json.load(handle)) == scoring_recipe(
                json.loads(json.dumps(metrics)))
    except (OSError, ValueError):
        same = False
    if not same:
        logger.info("The earlier %s holds scores of another recipe: kept as %s.", path,
                    set_aside(path))


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
    from disvae.metrics.suite import MIN_IMAGES, largest_draw
    if not dataset.has_factors:
        raise config.ConfigError(f"dataset {dataset.name!r} has no ground-truth factors, so no "
                                 f"disentanglement metric: drop --is-metrics")
    n_images = len(dataset)
    subset = None
    if args.metrics_images and args.metrics_images < n_images:
        subset = random_indices(n_images, args.metrics_images, args.seed)
        n_images = len(subset)
    if n_images < MIN_IMAGES:
        raise config.ConfigError(f"the metrics need at least {MIN_IMAGES} images, "
                                 f"--metrics-images gives {n_images}: pass --metrics-images "
                                 f"{MIN_IMAGES} or more")
    name, draw = largest_draw()
    if n_images < draw:
        logging.getLogger("main").warning(
            "Scoring %d images, fewer than the %d that %s draws: its images repeat, so the "
            "scores that fit a classifier read high; use --metrics-images %d or more to "
            "compare with published numbers.", n_images, draw, name, draw)
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


def main(args):
    """Train and/or evaluate the run of the parsed options args; the stops and failures
    of training and evaluation become one line naming what to do next."""
    tune_allocator()
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
