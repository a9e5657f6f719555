"""hyperparam.ini presets, their resolution, and specs.json in and out.

Resolution order (one place, used by main.py): [Custom] defaults < Common_<dataset> <
Common_<loss> < <loss>_<dataset> (or the `debug`/`best_*` section alone) < options typed on
the command line. The original toolkit let presets override typed options; here the user wins.
"""
import ast
import configparser
import json
import os

from disvae.objectives import split_preset
from disvae.utils.run_folder import SPECS_FILE, write_json

CONFIG_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "hyperparam.ini")
STANDALONE_PRESETS = ("debug", "best_celeba", "best_dsprites")
# The ini key `model` is the argparse destination `model_type`, as in the original.
INI_TO_DEST = {"model": "model_type"}


class ConfigError(ValueError):
    """A preset file or preset name that cannot be used; the message names the fix."""


def read_config(path=CONFIG_FILE):
    """Parse the preset file (case-sensitive keys, ${section:key} interpolation)."""
    parser = configparser.ConfigParser(interpolation=configparser.ExtendedInterpolation())
    parser.optionxform = str
    try:
        with open(path) as handle:
            parser.read_file(handle)
    except (configparser.Error, OSError) as error:
        first_line = str(error).splitlines()[0]
        raise ConfigError(f"cannot read presets from {path} ({first_line}): "
                          f"fix the file or restore it from git") from None
    return parser


def get_section(parser, section):
    """One section as a dict of Python values, keys renamed to argparse destinations."""
    values = {}
    for key in parser[section]:
        try:
            raw = parser[section][key]
            values[INI_TO_DEST.get(key, key)] = ast.literal_eval(raw)
        except (ValueError, SyntaxError, configparser.Error) as error:
            raise ConfigError(f"bad value for {key} in [{section}] of the presets ({error}): "
                              f"write a Python literal, e.g. 'mnist' in quotes") from None
    return values


def check_custom(defaults, options):
    """ConfigError for a key of [Custom] that is no option (a typo, or the hyperparameter of
    an objective that is not registered); options: the command line's destinations. The
    objectives' hyperparameters may be left out of [Custom]: their declared defaults apply."""
    unknown = sorted(set(defaults) - set(options))
    if unknown:
        raise ConfigError(f"[Custom] of the presets sets {unknown[0]!r}, which is no option of "
                          f"main.py: fix its spelling or remove it")


def preset_sections(experiment, losses, datasets):
    """Names of the sections a preset applies, in order; ConfigError for an unknown preset.
    Loss and dataset names may contain `_`: the split is at a registered loss name."""
    if experiment == "custom":
        return []
    if experiment in STANDALONE_PRESETS:
        return [experiment]
    split = split_preset(experiment, datasets, losses)
    if split:
        loss, dataset = split
        return [f"Common_{dataset}", f"Common_{loss}", experiment]
    examples = ", ".join(STANDALONE_PRESETS)
    raise ConfigError(f"unknown preset {experiment!r}: use custom, {examples} or <loss>_<dataset> "
                      f"with a loss in {sorted(losses)} and a dataset in {sorted(datasets)}")


def resolve_options(options, explicit, losses, datasets, parser=None):
    """Apply the preset named by options['experiment'], then restore the typed options.

    options: dict of every option (defaults and typed values); explicit: set of the option
    names typed on the command line. Returns a new dict.
    """
    parser = parser or read_config()
    resolved = dict(options)
    split = split_preset(options["experiment"], datasets, losses)
    if split:  # the preset's name fixes its loss and dataset, with or without a Common_ section
        resolved["loss"], resolved["dataset"] = split
    for section in preset_sections(options["experiment"], losses, datasets):
        if section in parser:
            resolved.update(get_section(parser, section))
        elif section in STANDALONE_PRESETS:
            raise ConfigError(f"preset section [{section}] is missing from the presets file: "
                              f"restore hyperparam.ini from git")
    resolved.update({key: options[key] for key in explicit})
    return resolved


def save_specs(specs, directory, filename=SPECS_FILE):
    """Write the run's options and facts atomically (temporary file, then rename)."""
    return write_json(os.path.join(directory, filename), specs, sort_keys=True)


def load_specs(directory, filename=SPECS_FILE):
    """Read a run's specs.json; a one-line error when the run folder has none."""
    path = os.path.join(directory, filename)
    try:
        with open(path) as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"no {filename} in {directory}: train the run first "
                          f"(python main.py <name> ...) or check the run name") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not valid JSON ({error}): restore it from a backup") from None
