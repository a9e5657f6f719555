"""Train and/or evaluate a disentangled VAE: `python main.py <name> -x btcvae_dsprites`.

Writes the run folder results/<name>/: model.pt, specs.json, train_losses.log,
test_losses.log, metrics.log, model-<epoch>.pt snapshots and checkpoint.pt (the full training
state). `python main.py <name> --resume` continues a stopped run from checkpoint.pt;
`torchrun --nproc_per_node=N main.py <name> ...` trains on N processes (data parallel).
The presets file is hyperparam.ini beside this file, or the file named by $DISVAE_CONFIG.
"""
import argparse
import importlib.util
import math
import os
import sys

from disvae.models import MODEL_NAMES
from disvae.objectives import RECONSTRUCTION_DISTRIBUTIONS, registered
from disvae.utils.run_folder import check_run_name
from utils import config, resume
from utils.cli import (USER_ERRORS, DefaultsHelpFormatter, OneLineErrorParser,
                       non_negative_float, non_negative_int, positive_float, positive_int)
from utils.dataset_registry import (CUSTOM_PRESET_DATASET, DATASETS, USER_CHANNELS, USER_CROPS,
                                    USER_DATA_FLAGS, USER_DATA_KINDS, USER_DATA_OPTIONS,
                                    USER_IMG_SIZES, dataset_choices, is_dataset, user_data_kind)
from utils.options import double_for_discriminator, objective_of, trains_discriminator

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "notset")
CONFIG_ENV = "DISVAE_CONFIG"
DEFAULT_GIF_EVERY_STEPS = 1000


def build_parser(defaults, objectives=None):
    """The command line of the original toolkit (defaults from [Custom]) plus new options;
    the loss options are those the objectives declare (disvae.objectives)."""
    objectives = objectives or registered()
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
    training.add_argument("-d", "--dataset", type=dataset_name, default=defaults["dataset"],
                          metavar="DATASET",
                          help=f"dataset to train on: {', '.join(sorted(DATASETS))}, or your own "
                               f"data: {', '.join(f'{kind}:PATH' for kind in USER_DATA_KINDS)} "
                               f"(a folder of images, an npz or HDF5 file; docs/own-data.md)")
    training.add_argument("-x", "--experiment", default=defaults["experiment"],
                          help="preset of hyperparam.ini: custom, debug, best_celeba, "
                               "best_dsprites or <loss>_<dataset> (<loss>_custom for your own "
                               "data)")
    training.add_argument("-e", "--epochs", type=positive_int, default=defaults["epochs"],
                          help="maximum number of epochs")
    training.add_argument("--max-steps", type=positive_int, default=None,
                          help="stop after this many optimisation steps (default: none, the epochs "
                               "decide)")
    training.add_argument("--subset", type=positive_int, default=None,
                          help="train on this many images of the dataset, drawn at random with "
                               "the seed and recorded in specs.json (evaluation and plots reopen "
                               "the same images) (default: all)")
    training.add_argument("-b", "--batch-size", type=positive_int,
                          default=defaults["batch_size"], help="batch size for training")
    training.add_argument("--lr", type=positive_float, default=defaults["lr"],
                          help="learning rate")

    own = parser.add_argument_group("Your own data (-d folder:PATH, npz:PATH, h5:PATH)")
    own.add_argument("--img-size", dest="data_img_size", type=int, choices=USER_IMG_SIZES,
                     default=None, help="side of the images in pixels after cropping and "
                                        "resizing (default: 64, or the side of square 32 or 64 "
                                        "pixel arrays)")
    own.add_argument("--channels", dest="data_channels", type=int, choices=USER_CHANNELS,
                     default=None, help="1 (grayscale) or 3 (colour) (default: from the data: 1 "
                                        "for a folder whose images are all grey)")
    own.add_argument("--crop", dest="data_crop", choices=USER_CROPS, default=None,
                     help="center: crop the centred square, then resize; none: resize the whole "
                          "image (default: center)")

    model = parser.add_argument_group("Model specific options")
    model.add_argument("-m", "--model-type", choices=MODEL_NAMES, default=defaults["model_type"],
                       help="encoder and decoder architecture")
    model.add_argument("-z", "--latent-dim", type=positive_int, default=defaults["latent_dim"],
                       help="dimension of the latent variable")
    model.add_argument("-l", "--loss", choices=list(objectives), default=defaults["loss"],
                       help="training objective")
    model.add_argument("-r", "--rec-dist", choices=RECONSTRUCTION_DISTRIBUTIONS,
                       default=defaults["rec_dist"], help="reconstruction distribution")
    model.add_argument("-a", "--reg-anneal", type=non_negative_float,
                       default=defaults["reg_anneal"],
                       help="number of training steps over which the regulariser is annealed")

    losses = parser.add_argument_group("Loss specific options")
    for objective in objectives.values():
        for hyper in objective.hyperparameters:
            losses.add_argument(hyper.flag, dest=hyper.name, choices=hyper.choices,
                                type=positive_float if hyper.positive else hyper.type,
                                default=defaults.get(hyper.name, hyper.default), help=hyper.help)

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


def dataset_name(text):
    """-d: a registered dataset or the user's own data `<kind>:PATH`."""
    if not is_dataset(text):
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from "
                                         f"{dataset_choices()})")
    return text


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
    objectives = registered()
    ini = config.read_config(os.environ.get(CONFIG_ENV, config.CONFIG_FILE))
    defaults = config.get_section(ini, "Custom")
    parser = build_parser(defaults, objectives)
    config.check_custom(defaults, {action.dest for action in parser._actions})
    args = parser.parse_args(argv)
    check_run_name(args.name)
    explicit = explicit_options(parser, argv)
    options = config.resolve_options(vars(args), explicit, objectives,
                                     (*DATASETS, CUSTOM_PRESET_DATASET), ini)
    if options["dataset"] == CUSTOM_PRESET_DATASET:
        raise config.ConfigError(f"preset {options['experiment']!r} is for your own data: pass "
                                 f"-d folder:PATH, -d npz:PATH or -d h5:PATH (docs/own-data.md)")
    if options["loss"] not in objectives or not is_dataset(options["dataset"]):
        raise config.ConfigError(f"preset {options['experiment']!r} names an unknown loss or "
                                 f"dataset: fix hyperparam.ini")
    if options["resume"]:
        options = stored_options(options, explicit)
    check_options(options)
    return argparse.Namespace(**options)


def stored_options(options, explicit):
    """The options of the run to resume (its specs.json) with the safe typed ones on top."""
    run_dir = os.path.join(options["results_dir"], options["name"])
    if not os.path.isdir(run_dir):
        raise config.ConfigError(f"no run folder {run_dir} to resume: train it first without "
                                 f"--resume, or check the name and --results-dir")
    stored = config.load_specs(run_dir)
    objective_of(stored, options["name"])
    typed = {key: options[key] for key in explicit}
    if trains_discriminator(stored["loss"]):
        typed.update(double_for_discriminator(typed))
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
    "reg_anneal": (lambda v: is_number(v) and v >= 0, "a number, 0 or more"),
    # disvae.metrics.suite.MIN_IMAGES: every score needs a training and a test image
    "metrics_images": (lambda v: v is None or (is_int(v) and v >= 2), "2 or more"),
    "subset": (lambda v: v is None or (is_int(v) and v >= 2), "2 or more"),
}


def hyperparameter_rules():
    """OPTION_RULES of the objectives' declared hyperparameters: numbers (positive where
    declared so) and choices."""
    rules = {}
    for objective in registered().values():
        for hyper in objective.hyperparameters:
            if hyper.choices:
                rules[hyper.name] = (lambda v, c=hyper.choices: v in c, f"one of {hyper.choices}")
            elif hyper.positive:
                rules[hyper.name] = (lambda v: is_number(v) and 0 < v < math.inf,
                                     "a positive finite number")
            elif hyper.type is float:
                rules[hyper.name] = (is_number, "a number")
    return rules


def check_options(options):
    """One-line errors for values the command line's types cannot catch: those of presets
    in hyperparam.ini, and combinations of options."""
    for key, (test, what) in {**OPTION_RULES, **hyperparameter_rules()}.items():
        if not test(options[key]):
            flag = "--" + key.replace("_", "-")
            raise config.ConfigError(f"{flag} must be {what}, got {options[key]!r}: fix the "
                                     f"command line or the preset in hyperparam.ini")
    if trains_discriminator(options["loss"]) and options["batch_size"] < 2:
        title = registered()[options["loss"]].title
        raise config.ConfigError(f"{title} needs a batch size of 2 or more, got "
                                 f"{options['batch_size']}: each batch is doubled and split into "
                                 f"a VAE half and a discriminator half of at least 2 images")
    if options["tensorboard"] and importlib.util.find_spec("tensorboard") is None:
        raise config.ConfigError("--tensorboard needs the tensorboard package: pip install "
                                 "tensorboard, or drop --tensorboard")
    typed_data_options = [key for key in USER_DATA_OPTIONS if options.get(key) is not None]
    if typed_data_options:
        flag = USER_DATA_FLAGS[typed_data_options[0]]
        if options["is_eval_only"]:
            raise config.ConfigError(f"{flag} preprocesses your own data for training; "
                                     f"--is-eval-only reopens the data as the run recorded it "
                                     f"in its specs.json: drop {flag}")
        if not user_data_kind(options["dataset"]):
            raise config.ConfigError(f"{flag} preprocesses your own data (-d folder:PATH, "
                                     f"npz:PATH or h5:PATH), not -d {options['dataset']}: "
                                     f"drop {flag}")
    if options["resume"] and options["is_eval_only"]:
        raise config.ConfigError("--resume continues training but --is-eval-only skips it: "
                                 "drop one of them")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse_arguments(argv)
        from utils import runner  # torch and the model load only once there is work to do
        runner.main(args)
    except USER_ERRORS as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
