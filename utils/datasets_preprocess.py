"""Image files turned once into a uint8 array cached beside them (CelebA, 3D Chairs).

Decoding and resizing 10^5 JPEG or PNG files takes minutes, so it is done once: the images are
cropped, resized with an antialiasing filter, stacked as uint8 (N, C, H, W) and written as an
uncompressed npz beside the originals (never over them), together with the names of the files
they were made from. A later load whose file list differs rebuilds the cache. One process at
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

from utils.data_folder import exclusive_lock

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


def read_cache(path, names):
    """The images cached at path if they were made from exactly these file names, else None
    (a missing, stale or unreadable cache)."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path) as cache:
            if cache["names"].tolist() == list(names):
                return cache["images"]
        logger.warning("%s was made from other files: preprocessing them again", path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        logger.warning("%s is unreadable (%s): preprocessing the images again", path, error)
    return None


def build_cache(path, names, build):
    """The images cached at path by another process meanwhile, else build() written there."""
    images = read_cache(path, names)
    if images is None:
        images = build()
        partial = path + ".part"
        with open(partial, "wb") as handle:
            np.savez(handle, images=images, names=np.array(names))
        os.replace(partial, path)
    return images


def cached_images(path, names, build):
    """The uint8 images cached at `path` if they were made from exactly these file names, else
    build() (the preprocessing), written to `path` atomically and returned. The folder is
    checked writable before building, and one process at a time builds."""
    images = read_cache(path, names)
    if images is not None:
        return images
    with exclusive_lock(path, f"cache the preprocessed images as {os.path.basename(path)}"):
        return build_cache(path, names, build)
