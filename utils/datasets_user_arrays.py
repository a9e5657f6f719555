"""The user's own arrays: `-d npz:PATH` (numpy.savez) or `-d h5:PATH` (HDF5, read with h5py).

The file holds `images`, of shape (N, H, W), (N, H, W, C) or (N, C, H, W) with C 1 or 3,
dtype uint8 (0 to 255; an array of only 0 and 1 is taken as binary images, as dSprites' own
file stores them) or float in [0, 1]; and optionally ground truth for the metrics:
`factor_classes` (N, K) integers 0 or more, `factor_names` (K,) strings (default factor_0
...), `factor_sizes` (K,) (default: the largest class + 1), `factor_values` (N, K) numbers
(default: the classes). Every array is checked (shape, dtype, range, length) before the
images are read in full, each problem a one-line DatasetUnavailable naming the array, what
was found and what is expected. Images are kept as they are when square, 32 or 64 pixels and
of the asked size and channels; otherwise each is cropped and resized as a folder's images
(utils/datasets_preprocess.crop_and_resize). Floats become uint8 (x 255, rounded; binary
floats stay 0/1), since the toolkit holds every image set as uint8.
"""
import contextlib
import os
import zipfile

import numpy as np
import torch
from PIL import Image

from utils.data_folder import DatasetUnavailable
from utils.dataset_registry import USER_IMG_SIZES
from utils.datasets import ImageDataset
from utils.datasets_preprocess import crop_and_resize

FACTOR_ARRAYS = ("factor_classes", "factor_names", "factor_sizes", "factor_values")
CHUNK_IMAGES = 4096  # images converted at a time (bounds the memory of float files)


class ArrayError(DatasetUnavailable):
    """An array of the user's file that cannot be used; the message names it and the fix."""


@contextlib.contextmanager
def open_arrays(name, kind, path):
    """A mapping of array name to a lazily read array of the npz or HDF5 file at path."""
    if not os.path.isfile(path):
        raise DatasetUnavailable(f"{name}: no file {path}: check the path after {kind}:")
    try:
        if kind == "npz":
            archive = np.load(path, allow_pickle=False)
        else:
            import h5py
            archive = h5py.File(path, "r")
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        save = "numpy.savez" if kind == "npz" else "h5py"
        raise DatasetUnavailable(f"{name}: cannot read {path} as {kind} ({error}): write it "
                                 f"with {save}") from None
    with archive:
        yield archive


def image_layout(name, shape):
    """(N, C, H, W) of the images array's shape, or ArrayError."""
    expected = "expected (N, H, W), (N, H, W, C) or (N, C, H, W) with C 1 or 3"
    if len(shape) == 3:
        return shape[0], 1, shape[1], shape[2]
    if len(shape) == 4:
        last, second = shape[3] in (1, 3), shape[1] in (1, 3)
        if last and not second:
            return shape[0], shape[3], shape[1], shape[2]
        if second and not last:
            return shape
    raise ArrayError(f"{name}: images has shape {tuple(shape)}: {expected}")


def check_images(name, images):
    """(N, C, H, W) of the images array, after checking its shape and dtype and that it holds
    at least one image."""
    n, c, h, w = image_layout(name, tuple(images.shape))
    if not (images.dtype == np.uint8 or np.issubdtype(images.dtype, np.floating)):
        raise ArrayError(f"{name}: images has dtype {images.dtype}: expected uint8 (0 to 255) or "
                         f"float in [0, 1]; convert it, e.g. images.astype(np.uint8)")
    if n == 0 or h == 0 or w == 0:
        raise ArrayError(f"{name}: images has shape {tuple(images.shape)}, no image: expected "
                         f"one image or more")
    return n, c, h, w


def as_nchw(block, layout):
    """A block of the images array of layout (N, C, H, W), in (n, C, H, W) order."""
    if block.ndim == 3:
        return block[:, np.newaxis]
    return block if block.shape[1:] == tuple(layout[1:]) else block.transpose(0, 3, 1, 2)


def value_range(name, images):
    """(min, max) of the images array, read in chunks; ArrayError for NaN."""
    low, high = np.inf, -np.inf
    for start in range(0, images.shape[0], CHUNK_IMAGES):
        block = np.asarray(images[start:start + CHUNK_IMAGES])
        if np.issubdtype(block.dtype, np.floating) and np.isnan(block).any():
            raise ArrayError(f"{name}: images holds NaN values: expected numbers in [0, 1]")
        low, high = min(low, block.min()), max(high, block.max())
    return float(low), float(high)


def is_binary(images):
    """Whether every value of the images array is 0 or 1."""
    return all(np.isin(np.asarray(images[start:start + CHUNK_IMAGES]), (0, 1)).all()
               for start in range(0, images.shape[0], CHUNK_IMAGES))


def target_size(layout, img_size):
    """The side of the dataset's images: --img-size, else the arrays' own side when square
    and 32 or 64 pixels, else 64."""
    _, _, h, w = layout
    if img_size is not None:
        return img_size
    return h if h == w and h in USER_IMG_SIZES else max(USER_IMG_SIZES)


def convert_block(block, layout, side, channels, crop, binary):
    """uint8 (n, channels, side, side) of a block of images in (n, C, H, W): floats scaled
    to 0-255 (binary ones kept 0/1 unless resized), then each image cropped and resized only
    when its size or channels differ."""
    _, c, h, w = layout
    if block.dtype != np.uint8:
        block = np.rint(block * (1 if binary else 255)).astype(np.uint8)
    if (h, w, c) == (side, side, channels):
        return block
    if binary:
        block = block * np.uint8(255)
    mode = "L" if channels == 1 else "RGB"
    crop_fraction = 1.0 if crop == "center" else None
    pictures = (Image.fromarray(image[0] if c == 1 else image.transpose(1, 2, 0))
                for image in block)
    return np.stack([crop_and_resize(picture, side, mode, crop_fraction)
                     for picture in pictures])


def read_images(name, images, layout, side, channels, crop):
    """(uint8 images (N, channels, side, side), scale to [0, 1]) of the images array of
    checked layout (N, C, H, W), converted chunk by chunk."""
    low, high = value_range(name, images)
    if images.dtype != np.uint8 and not (0 <= low and high <= 1):
        raise ArrayError(f"{name}: images holds floats in [{low:g}, {high:g}]: expected floats "
                         f"in [0, 1]; divide by 255 or rescale them")
    binary = is_binary(images)
    n, c, h, w = layout
    channels = channels or c
    resized = (h, w, c) != (side, side, channels)
    out = np.empty((n, channels, side, side), dtype=np.uint8)
    for start in range(0, n, CHUNK_IMAGES):
        block = as_nchw(np.asarray(images[start:start + CHUNK_IMAGES]), layout)
        out[start:start + len(block)] = convert_block(block, layout, side, channels, crop, binary)
    return out, 1.0 if binary and not resized else 1 / 255


def read_factors(name, archive, n_images):
    """(names, sizes, classes (N, K) int64, values (N, K) float64) of the file's ground
    truth, or None without factor_classes; ArrayError for any inconsistent array."""
    present = [key for key in FACTOR_ARRAYS if key in archive]
    if "factor_classes" not in archive:
        if present:
            raise ArrayError(f"{name}: {present[0]} without factor_classes: add factor_classes "
                             f"(N, K) integers, or remove {', '.join(present)}")
        return None
    classes = np.asarray(archive["factor_classes"])
    if (classes.ndim != 2 or not classes.shape[1]
            or not np.issubdtype(classes.dtype, np.integer)):
        raise ArrayError(f"{name}: factor_classes has shape {classes.shape} and dtype "
                         f"{classes.dtype}: expected (N, K) integers, one row per image")
    if len(classes) != n_images:
        raise ArrayError(f"{name}: factor_classes has {len(classes)} rows but images has "
                         f"{n_images} images: expected one row per image")
    if classes.min() < 0:
        raise ArrayError(f"{name}: factor_classes holds {classes.min()}: expected classes 0 or "
                         f"more (0, 1, ... for the values of each factor)")
    n_factors = classes.shape[1]
    largest = classes.max(axis=0)
    sizes = (largest + 1 if "factor_sizes" not in archive else
             check_vector(name, archive, "factor_sizes", n_factors))
    if "factor_sizes" in archive:
        if not np.issubdtype(sizes.dtype, np.integer) or (sizes <= largest).any():
            raise ArrayError(f"{name}: factor_sizes {sizes.tolist()} do not exceed the largest "
                             f"classes {largest.tolist()}: expected integers above each "
                             f"factor's largest class, or drop factor_sizes")
    names = ([f"factor_{k}" for k in range(n_factors)] if "factor_names" not in archive else
             [text.decode() if isinstance(text, bytes) else str(text)
              for text in check_vector(name, archive, "factor_names", n_factors)])
    values = classes.astype(np.float64)
    if "factor_values" in archive:
        values = np.asarray(archive["factor_values"])
        if values.shape != classes.shape or not np.issubdtype(values.dtype, np.number):
            raise ArrayError(f"{name}: factor_values has shape {values.shape} and dtype "
                             f"{values.dtype}: expected numbers of the shape of factor_classes "
                             f"{classes.shape}")
    return names, sizes.astype(np.int64).tolist(), classes.astype(np.int64), values.astype(
        np.float64)


def check_vector(name, archive, key, length):
    """The 1-D array key of the file, of the given length, or ArrayError."""
    vector = np.asarray(archive[key])
    if vector.shape != (length,):
        raise ArrayError(f"{name}: {key} has shape {vector.shape}: expected ({length},), one "
                         f"entry per column of factor_classes")
    return vector


def load_arrays(name, kind, path, img_size, channels, crop):
    """An ImageDataset of the npz or HDF5 file at path (see the module's docstring)."""
    with open_arrays(name, kind, path) as archive:
        if "images" not in archive:
            raise ArrayError(f"{name}: {path} has no array 'images' (it has "
                             f"{', '.join(sorted(archive)) or 'none'}): store the images under "
                             f"the name images")
        images = archive["images"]
        layout = check_images(name, images)
        factors = read_factors(name, archive, layout[0])
        images, scale = read_images(name, images, layout,
                                    target_size(layout, img_size), channels, crop)
    names, sizes, classes, values = factors or (None,) * 4
    return ImageDataset(name, torch.from_numpy(images), scale=scale, background_color=0,
                        source=path, factor_names=names, factor_sizes=sizes,
                        factor_classes=classes, factor_values=values)
