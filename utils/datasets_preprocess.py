"""Image files turned once into a uint8 array cached beside them (CelebA, 3D Chairs).

Decoding and resizing 10^5 JPEG or PNG files takes minutes, so it is done once: the images are
cropped, resized with an antialiasing filter, stacked as uint8 (N, C, H, W) and written beside
the originals (never over them): the images as a raw .npy, opened memory-mapped by every run
(utils/array_cache.py), and the names of the files they were made from in a small npz of the
cache's name. A later load whose file list differs rebuilds the cache; a cache of the former
layout (the images inside the npz) is converted once. One process at
a time builds a cache (see utils/data_folder.py); another waits and then reads it.
"""
import contextlib
import functools
import io
import itertools
import logging
import os
import zipfile
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from PIL import Image

from utils.array_cache import images_path, open_array, save_array, save_npz
from utils.data_folder import DatasetUnavailable, exclusive_lock

logger = logging.getLogger(__name__)

BLOCK_IMAGES = 4096  # images handed to the worker processes at a time (bounds memory in flight)
MIN_IMAGES_FOR_WORKERS = 2 * BLOCK_IMAGES
WORKER_CHUNK = 64


def centre_square_box(width, height, fraction=1.0):
    """(left, top, right, bottom) of the centred square whose side is `fraction` of the
    shorter side (1.0: the largest centred square)."""
    side = round(min(width, height) * fraction)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def as_rgb_on_white(image):
    """The image in RGB, transparent pixels made white (renders may carry an alpha channel)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")


def preprocess_image(source, side, mode, crop_fraction=None):
    """One image file (a path or its bytes) as a uint8 array (C, side, side).

    crop_fraction: cut the centred square of that fraction of the shorter side first (None:
    no crop, the image is squashed to a square). The resize uses the Lanczos filter, which is
    antialiased (PIL's former ANTIALIAS, the filter of the original toolkit). mode: "RGB" or
    "L" (grayscale, converted after the resize). An unreadable file is an OSError naming it
    when source is a path (PIL's own errors, e.g. for a truncated JPEG, do not).
    """
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            image = as_rgb_on_white(image)
    except OSError as error:  # PIL.UnidentifiedImageError is an OSError
        if isinstance(source, bytes):
            raise
        raise OSError(f"{source}: {error}") from None
    return crop_and_resize(image, side, mode, crop_fraction)


def crop_and_resize(image, side, mode, crop_fraction=None):
    """A decoded RGB or grayscale PIL image as a uint8 array (C, side, side): centred square
    crop (crop_fraction, see preprocess_image), Lanczos resize, conversion to mode."""
    if crop_fraction is not None:
        image = image.crop(centre_square_box(*image.size, crop_fraction))
    image = image.resize((side, side), Image.Resampling.LANCZOS).convert(mode)
    array = np.asarray(image, dtype=np.uint8)
    return array[np.newaxis] if array.ndim == 2 else array.transpose(2, 0, 1)


def preprocess_all(sources, n_images, function, workers=None, name="images"):
    """function applied to every source in order, stacked into a uint8 (N, C, H, W) array.

    sources: an iterable of n_images paths or file contents (read lazily, one block at a time).
    workers: processes to use (default: one per CPU for large datasets, none for small ones).
    """
    if workers is None:
        workers = (os.cpu_count() or 1) if n_images >= MIN_IMAGES_FOR_WORKERS else 1
    sources = iter(sources)
    images, done = None, 0
    with (ProcessPoolExecutor(workers) if workers > 1 else contextlib.nullcontext()) as pool:
        apply = functools.partial(pool.map, chunksize=WORKER_CHUNK) if pool else map
        while block := list(itertools.islice(sources, BLOCK_IMAGES)):
            arrays = np.stack(list(apply(function, block)))
            if images is None:
                images = np.empty((n_images, *arrays.shape[1:]), dtype=np.uint8)
            images[done:done + len(arrays)] = arrays
            done += len(arrays)
            logger.info("%s: preprocessed %d of %d images", name, done, n_images)
    assert done == n_images, f"expected {n_images} images, got {done}"
    return images


def read_metadata(path, log=True):
    """The members of the cache's metadata npz at path, or None when it is missing or
    unreadable (logged unless log is False)."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path) as cache:
            return {key: cache[key] for key in cache.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        if log:
            logger.warning("%s is unreadable (%s): preprocessing the images again", path, error)
    return None


def read_cache(path, names):
    """The images cached for path, memory-mapped read-only, if they were made from exactly
    these file names, else None (a missing, stale or unreadable cache, or one of the former
    layout, the images inside the npz, which build_cache converts)."""
    metadata = read_metadata(path)
    if metadata is None or not os.path.exists(images_path(path)):
        return None
    if "names" not in metadata or metadata["names"].tolist() != list(names):
        logger.warning("%s was made from other files: preprocessing them again", path)
        return None
    try:
        images = open_array(images_path(path))
    except DatasetUnavailable as error:
        logger.warning("%s: preprocessing the images again", error)
        return None
    return images if len(images) == len(names) else None


def former_layout_images(path, names):
    """The images inside the npz at path (the cache layout before the .npy files) if they were
    made from exactly these file names, else None."""
    metadata = read_metadata(path, log=False)
    if metadata and "images" in metadata and metadata["names"].tolist() == list(names):
        logger.warning("%s: converting the cache once: its images move to %s, which every run "
                       "then maps from the page cache", path, os.path.basename(images_path(path)))
        return metadata["images"]
    return None


def build_cache(path, names, build):
    """The images cached at path by another process meanwhile, else those of a cache of the
    former layout, else build(); written as the .npy of the images (array_cache.images_path)
    then the npz of the names, which marks a complete cache, and returned memory-mapped."""
    images = read_cache(path, names)
    if images is None:
        images = former_layout_images(path, names)
        save_array(images_path(path), build() if images is None else images)
        save_npz(path, names=np.array(names))
        images = open_array(images_path(path))
    return images


def cached_images(path, names, build):
    """The uint8 images cached for `path` if they were made from exactly these file names,
    else build() (the preprocessing), cached and returned; memory-mapped read-only either way
    (utils/array_cache.py), so that runs on one machine share them. The folder is checked
    writable before building, and one process at a time builds."""
    images = read_cache(path, names)
    if images is not None:
        return images
    with exclusive_lock(path, f"cache the preprocessed images as {os.path.basename(path)}"):
        return build_cache(path, names, build)
