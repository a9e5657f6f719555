"""The datasets by name: where each one's loader lives, with what arguments, and whether it has
a held-out split; and the user's own data, named `folder:PATH`, `npz:PATH` or `h5:PATH`
(utils/datasets_user.py), with its preprocessing options. Imports nothing heavy, so that the
command line lists the datasets without loading torch or any data;
`utils.datasets.get_dataset` imports a loader on first use.
"""
import functools
import importlib
import zipfile

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
TRAINING_IMAGES = {  # images a training epoch passes over (for schedules scaled to a run)
    "dsprites": 737_280, "mnist": 60_000, "fashion": 60_000, "celeba": 202_599,
    "celeba_squash": 202_599, "chairs": 86_366, "shapes3d": 480_000,
    "dsprites_color": 737_280, "dsprites_noisy": 737_280,
}
TEST_SPLITS = {"mnist", "fashion"}  # datasets with an official held-out split
FACTOR_DATASETS = frozenset({"dsprites", "dsprites_color", "dsprites_noisy", "shapes3d"})


# The user's own data (docs/own-data.md): `-d <kind>:PATH`, preprocessed by these options
USER_DATA_KINDS = ("folder", "npz", "h5")
USER_DATA_OPTIONS = ("data_img_size", "data_channels", "data_crop")  # --img-size --channels --crop
USER_DATA_FLAGS = {key: "--" + key[len("data_"):].replace("_", "-") for key in USER_DATA_OPTIONS}
USER_IMG_SIZES, USER_CHANNELS, USER_CROPS = (32, 64), (1, 3), ("center", "none")
CUSTOM_PRESET_DATASET = "custom"  # `-x <loss>_custom`: the presets for the user's own data


def user_data_kind(name):
    """The kind of the user's own data `<kind>:PATH` (folder, npz or h5), else None."""
    kind, colon, path = name.partition(":")
    return kind if colon and path and kind in USER_DATA_KINDS else None


def is_dataset(name):
    """Whether `name` is a registered dataset or the user's own data."""
    return name in DATASETS or user_data_kind(name) is not None


def dataset_choices():
    """The accepted dataset names, for help texts and errors."""
    return ", ".join(sorted(DATASETS)) + ", " + ", ".join(f"{kind}:PATH"
                                                         for kind in USER_DATA_KINDS)


def data_options(options):
    """get_dataset's keyword arguments for the dataset of a run's options (main.py's or
    specs.json): the preprocessing of the user's own data and, once trained, its absolute
    path (data_source), so that a run reopens the data it was trained on; {} for the
    registered datasets."""
    if user_data_kind(options["dataset"]) is None:
        return {}
    path = {"path": options["data_source"]} if options.get("data_source") else {}
    return {"img_size": options.get("data_img_size"), "channels": options.get("data_channels"),
            "crop": options.get("data_crop"), **path}


def loader(name):
    """The function loading dataset `name`: f(root, split, allow_download) for a registered
    dataset, f(root, split, **data_options) for the user's own data."""
    if user_data_kind(name):
        user = importlib.import_module("utils.datasets_user")
        return functools.partial(user.load_user_data, name)
    module, function, keywords = DATASETS[name]
    return functools.partial(getattr(importlib.import_module(f"utils.{module}"), function),
                             **keywords)


def has_ground_truth(name):
    """Whether dataset `name` has ground-truth factors (which the metrics need): the
    registered datasets of FACTOR_DATASETS, and the user's npz or HDF5 file holding a
    `factor_classes` array (read without loading any array)."""
    kind = user_data_kind(name)
    if kind is None:
        return name in FACTOR_DATASETS
    if kind == "folder":
        return False
    path = name.partition(":")[2]
    try:
        if kind == "npz":
            import numpy
            archive = numpy.load(path, allow_pickle=False)
            if not isinstance(archive, numpy.lib.npyio.NpzFile):  # a .npy under another name
                return False
            with archive:
                return "factor_classes" in archive.files
        import h5py
        with h5py.File(path, "r") as archive:
            return "factor_classes" in archive
    except (OSError, ValueError, zipfile.BadZipFile):
        return False


def has_test_split(name):
    """Whether a dataset has a held-out split (else evaluation uses the training images)."""
    return name in TEST_SPLITS
