"""3D Shapes (Burgess & Kim 2018): 480,000 64x64 RGB scenes, every combination of 6 factors.

Factors, in the order of the file's label columns: floor_hue 10, wall_hue 10, object_hue 10,
scale 8, shape 4, orientation 15 (10*10*10*8*4*15 = 480,000). They are exposed through the same
ground-truth interface as dSprites: `factor_values` are the file's labels, `factor_classes` the
rank of each value among its column's distinct values, and `factor_sizes` the number of
distinct values per column (the official sizes for the official file; a file holding part of
the grid stays self-consistent).

The official file is gzip-compressed in chunks, so reading random batches from it would
decompress many chunks per batch. Its images are therefore decompressed once, in blocks, into
a channels-first uint8 cache beside it, data/shapes3d/3dshapes_64_images.npy (5.9 GB), with
the file's size and MD5 in 3dshapes_64.npz (utils/datasets_preprocess.py); every run then maps
the cache read-only (utils/array_cache.py), so that runs on one machine share one copy in the
page cache, and batches are plain tensor indexing (on the GPU when training there). A new h5
file (another size or MD5) rebuilds the cache.

File: data/shapes3d/3dshapes.h5 (keys `images` (N, 64, 64, 3) uint8 and `labels` (N, 6)
float64), fetched from DeepMind's bucket when missing and checked against its MD5.
"""
import hashlib
import logging
import os

import h5py
import numpy as np
import torch

from utils.array_cache import as_tensor
from utils.data_folder import DatasetUnavailable
from utils.datasets import ImageDataset
from utils.datasets_preprocess import cached_images
from utils.download import download

logger = logging.getLogger(__name__)

SHAPES3D_FILE = "3dshapes.h5"
SHAPES3D_URL = "https://storage.googleapis.com/3d-shapes/3dshapes.h5"
SHAPES3D_MD5 = "099a2078d58cec4daad0702c55d06868"
FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
IMAGE_SHAPE = (64, 64, 3)
READ_BLOCK = 10_000
CACHE_FILE = "3dshapes_64.npz"  # the images in 3dshapes_64_images.npy, channels first
VALUE_DECIMALS = 6  # distinct factor values are told apart at this precision


def checked_arrays(handle):
    """The (images, labels) h5py datasets of an open file; ValueError unless in the official
    layout."""
    stored, labels = handle["images"], handle["labels"]
    groups = [key for key, item in (("images", stored), ("labels", labels))
              if not isinstance(item, h5py.Dataset)]
    if groups:
        raise ValueError("; ".join(f"'{key}' is an HDF5 group, not an array" for key in groups))
    if (stored.dtype != np.uint8 or stored.shape[1:] != IMAGE_SHAPE or not len(stored)
            or labels.shape != (len(stored), len(FACTOR_NAMES))):
        raise ValueError(f"images {stored.dtype} {stored.shape} and labels {labels.shape}, "
                         f"expected uint8 (N, 64, 64, 3) and (N, 6)")
    return stored, labels


def read_h5(path, read):
    """read(images, labels) on the checked datasets of the h5 file at path; a one-line error
    if it is corrupt, truncated or laid out otherwise."""
    try:
        with h5py.File(path, "r") as handle:
            return read(*checked_arrays(handle))
    except (OSError, KeyError, ValueError) as error:
        raise DatasetUnavailable(f"shapes3d: {path} is corrupt, truncated or not the official "
                                 f"file ({error}): delete it and run again") from None


def channels_first(stored):
    """The h5 images (N, 64, 64, 3) as a uint8 tensor (N, 3, 64, 64), read in blocks."""
    images = torch.empty((len(stored), IMAGE_SHAPE[2], *IMAGE_SHAPE[:2]), dtype=torch.uint8)
    for start in range(0, len(stored), READ_BLOCK):
        block = torch.from_numpy(stored[start:start + READ_BLOCK])
        images[start:start + len(block)] = block.permute(0, 3, 1, 2)
    return images


def read_shapes3d(path):
    """(images uint8 tensor (N, 3, 64, 64), labels float64 (N, 6)) of an h5 file in the
    official layout; a one-line error if it is corrupt, truncated or laid out otherwise."""
    return read_h5(path, lambda stored, labels: (channels_first(stored),
                                                 labels[()].astype(np.float64)))


def file_fingerprint(path):
    """'<name>: <size> bytes, MD5 <digest>': what the image cache was made from."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 24):
            digest.update(chunk)
    return f"{os.path.basename(path)}: {os.path.getsize(path)} bytes, MD5 {digest.hexdigest()}"


def values_to_classes(values):
    """(N, K) int64: each value's rank among the distinct values of its column."""
    columns = [np.unique(column.round(VALUE_DECIMALS), return_inverse=True)[1].reshape(-1)
               for column in values.T]
    return np.stack(columns, axis=1).astype(np.int64)


def load_shapes3d(root, split="train", allow_download=True):
    """3D Shapes with its ground-truth factors (both splits: the whole grid)."""
    path = os.path.join(root, "shapes3d", SHAPES3D_FILE)
    if not os.path.exists(path):
        if not allow_download:
            raise DatasetUnavailable(f"shapes3d: {SHAPES3D_FILE} not found: place it by hand at "
                                     f"{os.path.abspath(path)}")
        try:
            download(SHAPES3D_URL, path, md5=SHAPES3D_MD5)
        except DatasetUnavailable as error:
            raise DatasetUnavailable(f"shapes3d: {error}") from None
    values = read_h5(path, lambda stored, labels: labels[()].astype(np.float64))
    images = cached_images(os.path.join(os.path.dirname(path), CACHE_FILE),
                           [file_fingerprint(path)], lambda: read_shapes3d(path)[0].numpy())
    classes = values_to_classes(values)
    sizes = tuple(int(size) for size in classes.max(axis=0) + 1)
    if sizes != FACTOR_SIZES or len(classes) != np.prod(FACTOR_SIZES):
        logger.warning("shapes3d: %s holds %d images over factor sizes %s, not the official "
                       "grid of %s", path, len(classes), sizes, FACTOR_SIZES)
    return ImageDataset("shapes3d", as_tensor(images), scale=1 / 255, background_color=0,
                        source="official", factor_names=FACTOR_NAMES, factor_sizes=sizes,
                        factor_classes=classes, factor_values=values)
