"""What main.py and main_viz.py share: option value types, the one-line-error parser, logging,
the errors reported to the user as one line."""
import argparse
import math
import logging
import sys

from disvae.objectives import ObjectiveError
from disvae.utils.run_folder import CheckpointError, RunFolderError
from utils.config import ConfigError
from utils.data_folder import DatasetUnavailable

# failures caused by the user's input or files: reported as "error: <what and the fix>"
USER_ERRORS = (ConfigError, DatasetUnavailable, CheckpointError, RunFolderError, ObjectiveError)


def _number(name, convert, accept, requirement):
    """An argparse type called `name` (argparse shows it in "invalid <name> value: 'x'"),
    converting with `convert` and accepting values where `accept` holds."""
    def parse(text):
        value = convert(text)
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
        return value
    parse.__name__ = name
    return parse


positive_int = _number("positive_int", int, lambda value: value >= 1, "a positive integer")
non_negative_int = _number("non_negative_int", int, lambda value: value >= 0, "0 or more")
positive_float = _number("positive_float", float, lambda value: 0 < value < math.inf,
                         "a positive finite number")
non_negative_float = _number("non_negative_float", float, lambda value: value >= 0, "0 or more")


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that ends with each option's default, unless its help already says what the
    default is ("(default: all)"), which a second "(default: None)" would contradict."""

    def _get_help_string(self, action):
        if "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse that reports a bad option as one line naming the fix, without the usage dump."""

    def error(self, message):
        sys.exit(f"error: {message} (see python {self.prog} --help)")


def setup_logging(level):
    """Log to stderr with times; returns the programs' logger."""
    logging.basicConfig(format="%(asctime)s %(levelname)s - %(name)s: %(message)s",
                        datefmt="%H:%M:%S", level=level.upper(), stream=sys.stderr, force=True)
    return logging.getLogger("main")
