"""The user's own data: `-d folder:PATH`, `-d npz:PATH` or `-d h5:PATH` (docs/own-data.md).

A folder of image files (PNG, JPEG, BMP, TIFF, found recursively and sorted by their path
relative to PATH) is decoded, cropped and resized once into a uint8 (N, C, H, W) array cached
as an npz: beside the data in PATH/.disvae-cache/, or under `--data-dir` when one is given.
The cache is named by the preprocessing options and holds a fingerprint of the file list
(relative names, sizes, modification times) and of the options; a load whose fingerprint
differs (a file added, removed or edited) rebuilds it. Optional class labels come from
PATH/labels.csv. npz and HDF5 files hold arrays, and optionally ground-truth factors
(utils/datasets_user_arrays.py). Every problem with the user's files is a one-line
DatasetUnavailable naming the file and the fix.
"""
import csv
import functools
import hashlib
import json
import logging
import os

import numpy as np
import torch
from PIL import Image

from utils.data_folder import DatasetUnavailable
from utils.dataset_registry import user_data_kind
from utils.datasets import ImageDataset
from utils.datasets_preprocess import cached_images, preprocess_all, preprocess_image

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
CACHE_FOLDER = ".disvae-cache"  # beside the data; folders starting with "." are not scanned
CACHE_SUBFOLDER = "user"  # under --data-dir: <data-dir>/user/<folder name>-<path hash>/
LABELS_FILE = "labels.csv"
DEFAULT_IMG_SIZE = 64
DEFAULT_CROP = "center"
CACHE_VERSION = 1  # raise when the preprocessing changes, so that old caches are rebuilt


class UnreadableImage(Exception):
    """An image file that cannot be decoded: (path, reason). Plain arguments, so that it
    crosses from the worker processes of preprocess_all."""


def load_user_data(name, root=None, split="train", img_size=None, channels=None, crop=None,
                   path=None):
    """The ImageDataset of the user's data `name` (`<kind>:PATH`).

    root: cache folder (--data-dir; None: beside the data); split: ignored, the user's data has
    no held-out split; img_size, channels, crop: --img-size (32 or 64; default 64, or the size
    of square 32 or 64 pixel arrays), --channels (1 or 3; default from the data), --crop
    ("center" or "none"); path: the data's absolute path recorded by a run (default: the
    PATH of name, relative to the working directory).
    """
    kind = user_data_kind(name)
    path = os.path.abspath(path or name.partition(":")[2])
    crop = crop or DEFAULT_CROP
    if kind == "folder":
        return load_image_folder(name, path, root, img_size or DEFAULT_IMG_SIZE, channels, crop)
    from utils import datasets_user_arrays
    return datasets_user_arrays.load_arrays(name, kind, path, img_size, channels, crop)


# ------------------------------------------------------------------------ folder of images

def image_files(name, folder):
    """Paths of the image files under folder relative to it, sorted; one-line errors for a
    missing folder and for one without images."""
    if not os.path.isdir(folder):
        raise DatasetUnavailable(f"{name}: no folder {folder}: check the path after folder:")
    found = []
    for directory, subfolders, files in os.walk(folder):
        subfolders[:] = [sub for sub in subfolders if not sub.startswith(".")]
        found += [os.path.relpath(os.path.join(directory, file), folder) for file in files
                  if file.lower().endswith(IMAGE_EXTENSIONS) and not file.startswith(".")]
    if not found:
        raise DatasetUnavailable(f"{name}: no image files ({', '.join(IMAGE_EXTENSIONS)}) under "
                                 f"{folder}: put the images there (subfolders are searched "
                                 f"too) or point folder: at the folder that holds them")
    return sorted(found, key=lambda relative: relative.replace(os.sep, "/"))


def fingerprint(folder, files, options):
    """SHA-256 of the files' relative names, sizes and modification times and of the
    preprocessing options: a cache is reused only if this is unchanged."""
    digest = hashlib.sha256(json.dumps({"version": CACHE_VERSION, "options": options}).encode())
    for relative in files:
        stat = os.stat(os.path.join(folder, relative))
        digest.update(f"\0{relative}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def cache_folder(folder, root):
    """Where the cache of an image folder lives: folder/.disvae-cache, or, under the data
    folder root, a subfolder named by the folder's name and a hash of its absolute path."""
    if root is None:
        return os.path.join(folder, CACHE_FOLDER)
    path_hash = hashlib.sha256(folder.encode()).hexdigest()[:12]
    return os.path.join(root, CACHE_SUBFOLDER, f"{os.path.basename(folder)}-{path_hash}")


def read_image(path, side, mode, crop_fraction):
    """One image file as uint8 (C, side, side) (see preprocess_image); UnreadableImage when
    it cannot be decoded."""
    try:
        with open(path, "rb") as handle:
            return preprocess_image(handle.read(), side, mode, crop_fraction)
    except Image.UnidentifiedImageError:
        raise UnreadableImage(path, "not an image format that Pillow can decode") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise UnreadableImage(path, str(error) or type(error).__name__) from None


def all_grey(images):
    """Whether every pixel of the RGB images (N, 3, H, W) has R = G = B."""
    return bool(all((block[:, 0] == block[:, 1]).all() and (block[:, 0] == block[:, 2]).all()
                    for block in np.array_split(images, max(1, len(images) // 1024))))


def preprocess_folder(name, folder, files, side, channels, crop):
    """The images of files (relative to folder) as uint8 (N, C, side, side): centre square
    crop (crop "center") or none, Lanczos resize, then grayscale (channels 1), RGB
    (channels 3) or, for channels None, grayscale when every image is grey (R = G = B)."""
    read = functools.partial(read_image, side=side, mode="L" if channels == 1 else "RGB",
                             crop_fraction=1.0 if crop == "center" else None)
    try:
        images = preprocess_all((os.path.join(folder, file) for file in files), len(files),
                                read, name=name)
    except UnreadableImage as error:
        path, reason = error.args
        raise DatasetUnavailable(f"{name}: cannot read the image {path} ({reason}): replace "
                                 f"or delete that file, or move it out of {folder}") from None
    if channels is None and all_grey(images):
        images = np.ascontiguousarray(images[:, :1])
    return images


def read_labels(name, folder, files):
    """The labels of PATH/labels.csv (rows: file name relative to PATH, label; an optional
    header row) in the order of files, as int64 when every label is an integer, else as
    strings; None without the file. One-line errors for a file missing from it or unknown."""
    path = os.path.join(folder, LABELS_FILE)
    if not os.path.exists(path):
        return None
    with open(path, newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    index = {relative.replace(os.sep, "/"): position for position, relative in enumerate(files)}
    if rows and rows[0][0].strip().replace(os.sep, "/") not in index:
        rows = rows[1:]  # a header
    labels = [None] * len(files)
    for number, row in enumerate(rows, 1):
        key = row[0].strip().replace(os.sep, "/")
        if len(row) < 2 or key not in index:
            raise DatasetUnavailable(f"{name}: row {row!r} of {path} names no image of the "
                                     f"folder (or has no label): write rows 'file,label' with "
                                     f"file names relative to {folder}")
        labels[index[key]] = row[1].strip()
    missing = [files[i] for i, label in enumerate(labels) if label is None]
    if missing:
        raise DatasetUnavailable(f"{name}: {path} has no label for {missing[0]} (and "
                                 f"{len(missing) - 1} other images): add a row "
                                 f"'{missing[0]},<label>' for each, or delete {LABELS_FILE}")
    try:
        return np.array([int(label) for label in labels], dtype=np.int64)
    except ValueError:
        return np.array(labels)


def load_image_folder(name, folder, root, side, channels, crop):
    """An ImageDataset of the images under folder, preprocessed once into a cache."""
    files = image_files(name, folder)
    options = {"img_size": side, "channels": channels, "crop": crop}
    cache = os.path.join(cache_folder(folder, root),
                         f"images_{side}px_{channels or 'auto'}ch_{crop}.npz")
    images = cached_images(cache, [fingerprint(folder, files, options)],
                           lambda: preprocess_folder(name, folder, files, side, channels, crop))
    logger.info("%s: %d images %s from %s (cache %s)", name, len(images),
                "x".join(map(str, images.shape[1:])), folder, cache)
    return ImageDataset(name, torch.from_numpy(images), scale=1 / 255, background_color=0,
                        source=folder, labels=read_labels(name, folder, files))
