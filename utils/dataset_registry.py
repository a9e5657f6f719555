"""The datasets by name: where each one's loader lives, with what arguments, and whether it has
a held-out split. Imports nothing heavy, so that the command line lists the datasets without
loading torch or any data; `utils.datasets.get_dataset` imports a loader on first use.
"""
import functools
import importlib

DATASETS = {  # name: (module under utils/, loader function, its keyword arguments)
    "dsprites": ("datasets", "load_dsprites", {}),
    "mnist": ("datasets_mnist", "load_mnist_family", {"name": "mnist"}),
    "fashion": ("datasets_mnist", "load_mnist_family", {"name": "fashion"}),
    "celeba": ("datasets_celeba", "load_celeba", {"resize": "crop"}),
    "celeba_squash": ("datasets_celeba", "load_celeba", {"resize": "squash"}),
    "chairs": ("datasets_chairs", "load_chairs", {}),
    "shapes3d": ("datasets_shapes3d", "load_shapes3d", {}),
}
TRAINING_IMAGES = {  # images a training epoch passes over (for schedules scaled to a run)
    "dsprites": 737_280, "mnist": 60_000, "fashion": 60_000, "celeba": 202_599,
    "celeba_squash": 202_599, "chairs": 86_366, "shapes3d": 480_000,
}
TEST_SPLITS = {"mnist", "fashion"}  # datasets with an official held-out split


def loader(name):
    """The function loading dataset `name`: f(root, split, allow_download)."""
    module, function, keywords = DATASETS[name]
    return functools.partial(getattr(importlib.import_module(f"utils.{module}"), function),
                             **keywords)


def has_test_split(name):
    """Whether a dataset has a held-out split (else evaluation uses the training images)."""
    return name in TEST_SPLITS
