"""A preset's annealing schedule compressed to a shorter run.

The presets anneal their regulariser over `reg_anneal` steps chosen for their full length
(`epochs` passes over the data set: 30 epochs of dSprites at batch 64 are 345,600 steps). A run
stopped after a few thousand steps would end long before its annealing does (beta-VAE_B's
capacity would reach a few nats of its 25), so a short run scales `reg_anneal` by
steps / full steps, which keeps the preset's schedule, compressed. Used by
`python -m utils.sweep --anneal scaled` and bin/reproduce_cpu.sh.

    python -m utils.anneal STEPS PRESET [PRESET ...]   # prints "PRESET REG_ANNEAL" lines

Imports no torch.
"""
import math
import os
import sys

from utils import config
from utils.dataset_registry import DATASETS, TRAINING_IMAGES


class AnnealError(ValueError):
    """A preset whose schedule cannot be scaled; the message names the fix."""


def preset_schedule(preset, ini=None):
    """(reg_anneal, steps of the preset's full length) of a preset of hyperparam.ini (or of
    the file named by $DISVAE_CONFIG, as for main.py)."""
    from disvae.objectives import registered
    ini = ini or config.read_config(os.environ.get("DISVAE_CONFIG", config.CONFIG_FILE))
    defaults = config.get_section(ini, "Custom")
    options = config.resolve_options(dict(defaults, experiment=preset), set(),
                                     list(registered()), list(DATASETS), ini)
    n_images = TRAINING_IMAGES.get(options["dataset"])
    if n_images is None:
        raise AnnealError(f"the size of data set {options['dataset']!r} of preset {preset} is "
                          f"not known: give --reg-anneal yourself instead of scaling it")
    return options["reg_anneal"], options["epochs"] * math.ceil(n_images / options["batch_size"])


def scaled_reg_anneal(preset, steps, ini=None):
    """The preset's reg_anneal for a run of `steps` steps: reg_anneal x steps / full steps,
    rounded (0 stays 0: no annealing)."""
    reg_anneal, full_steps = preset_schedule(preset, ini)
    return round(reg_anneal * steps / full_steps)


def main(argv):
    if len(argv) < 2 or not argv[0].isdigit() or int(argv[0]) < 1:
        sys.exit("usage: python -m utils.anneal STEPS PRESET [PRESET ...] (STEPS a positive "
                 "integer)")
    try:
        ini = config.read_config(os.environ.get("DISVAE_CONFIG", config.CONFIG_FILE))
        for preset in argv[1:]:
            print(preset, scaled_reg_anneal(preset, int(argv[0]), ini))
    except (config.ConfigError, AnnealError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main(sys.argv[1:])
