"""The datasets by name: where each one's loader lives, with what arguments, and whether it has
a held-out split. Imports nothing heavy, so that the command line lists the datasets without
loading torch or any data; `utils.datasets.get_dataset` imports a loader on first use.
"""
import functools
import importlib

DATASETS = {  # name: (module under utils/, loader function, its keyword arguments)
    "dsprites": ("datasets", "load_dsprites", {}),
    "dsprites_color": ("dsprites_variants", "load_dsprites_variant", {"variant": "color"}),
    "dsprites_noisy": ("dsprites_variants", "load_dsprites_variant", {"variant": "noisy"}),
    "mnist": ("datasets_mnist", "load_mnist_family", {"name": "mnist"}),
    "fashion": ("datasets_mnist", "load_mnist_family", {"name": "fashion"}),
    "celeba": ("datasets_celeba", "load_celeba", {"resize": "crop"}),
    "celeba_squash": ("datasets_celeba", "load_celeba", {"resize": "squash"}),
    "chairs": ("datasets_chairs", "load_chairs", {}),
    "shapes3d": ("datasets_shapes3d", "load_shapes3d", {}),
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
