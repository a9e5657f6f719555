"""One dataset interface for images and, where they exist, their ground-truth factors.

Images are held as uint8 tensors (N, C, H, W) and batches are made by indexing them, with no
per-item transform: `dataset.batch(indices)` returns float images in [0, 1]. Cached images
(dSprites, CelebA, 3D Chairs, 3D Shapes) are tensors on a read-only memory map of their .npy
cache file (utils/array_cache.py), shared by every process on the machine. Datasets with
ground truth also carry `factor_names`, `factor_sizes` and per-image `factor_classes` (N, K)
int64 and `factor_values` (N, K) float64; the metrics ask only this interface.

Datasets are built by name through `get_dataset`, from the loaders named in
utils/dataset_registry.py.
dSprites lives here; the other families live in utils/datasets_<family>.py (MNIST and
Fashion-MNIST, CelebA, 3D Chairs, 3D Shapes) and are imported when first loaded.
"""
import logging
import os
import zipfile
import zlib

import numpy as np
import torch

from utils import dsprites_procedural
from utils.array_cache import as_tensor, images_path, open_array, save_array, save_npz
from utils.config import ConfigError
from utils.data_folder import DatasetUnavailable, FolderNotWritable, prepare_once
from utils.dataset_registry import (DATASETS, data_options, dataset_choices,  # noqa: F401
                                   has_test_split, is_dataset, loader, user_data_kind)
from utils.download import download

logger = logging.getLogger(__name__)

DATA_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")


class ImageDataset:
    """Images as a uint8 tensor plus the facts the toolkit needs about them.

    images: uint8 tensor (N, C, H, W), the stored images (a tensor on a read-only memory map
    for cached datasets: never write to it); everything that reads images (training,
    evaluation, metrics, plots) reads them through `batch`, which a dataset whose images are
    made from the stored ones (utils/dsprites_variants.py) overrides, with `img_size`;
    scale: factor turning stored values into [0, 1]
    (1 for binary {0, 1} images such as dSprites, 1/255 for 8-bit images);
    background_color: 0 (black) or 1 (white), used for grid padding in plots;
    source: where the images came from (e.g. "official", "procedural");
    version: the version of a source that has several (the procedural dSprites geometry), else
    None;
    variant: how the images are made from the stored ones, recorded in a run's specs.json
    (e.g. the colour draw of dsprites_color), None for stored images as they are.
    """

    variant = None

    def __init__(self, name, images, scale, background_color, source, factor_names=None,
                 factor_sizes=None, factor_classes=None, factor_values=None, labels=None,
                 version=None):
        self.name = name
        self.images = images
        self.scale = scale
        self.background_color = background_color
        self.source = source
        self.version = version
        self.factor_names = None if factor_names is None else tuple(factor_names)
        self.factor_sizes = None if factor_sizes is None else tuple(factor_sizes)
        self.factor_classes = factor_classes
        self.factor_values = factor_values
        self.labels = labels

    def __len__(self):
        return self.images.shape[0]

    @property
    def img_size(self):
        """(C, H, W) of the images `batch` returns."""
        return tuple(self.images.shape[1:])

    @property
    def device(self):
        """Where batches are made (the images' device): indices are best sent there first."""
        return self.images.device

    @property
    def has_factors(self):
        return self.factor_classes is not None

    def batch(self, indices):
        """Float images in [0, 1] for a tensor of indices, on the images' device."""
        return self.images[indices].float().mul_(self.scale)

    def to(self, device):
        """Move the uint8 images to a device (e.g. the GPU, so batches are drawn there)."""
        self.images = self.images.to(device)
        return self


def random_indices(n_items, n_chosen, seed):
    """n_chosen distinct indices of range(n_items), drawn at random with the seed and sorted
    (a tensor): the same seed always chooses the same images."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randperm(n_items, generator=generator)[:n_chosen].sort().values


def subset(dataset, n_images, seed):
    """The dataset restricted to n_images of its images drawn at random with the seed
    (`random_indices`), with their factors and labels: the images a run trained with
    `--subset` sees, reopened identically from its specs.json. The factors keep their names
    and sizes; the metrics read the classes present (a subset is an incomplete grid)."""
    if n_images < 2:
        raise ConfigError(f"--subset must be 2 or more, got {n_images}: a batch of the "
                          f"minibatch estimators needs two images")
    if n_images > len(dataset):
        raise ConfigError(f"--subset {n_images} asks for more images than the "
                          f"{len(dataset):,} of dataset {dataset.name!r}: pass --subset "
                          f"{len(dataset)} or less")
    chosen = random_indices(len(dataset), n_images, seed)
    rows = chosen.numpy()
    pick = lambda array: None if array is None else array[rows]
    return ImageDataset(dataset.name, dataset.images[chosen.to(dataset.images.device)],
                        dataset.scale, dataset.background_color, dataset.source,
                        dataset.factor_names, dataset.factor_sizes,
                        pick(dataset.factor_classes), pick(dataset.factor_values),
                        pick(dataset.labels), dataset.version)


def epoch_permutation(n_items, seed, epoch):
    """The shuffled order of one epoch, a pure function of (seed, epoch) so runs can resume."""
    generator = torch.Generator().manual_seed(int(seed) * 100_003 + int(epoch))
    return torch.randperm(n_items, generator=generator)


def iterate_batches(dataset, batch_size, order=None, start_batch=0, rank=0, world_size=1,
                    min_batch=1):
    """Yield float batches of `dataset` following `order` (all indices in turn when None).

    With world_size > 1 every process takes its own contiguous share of each batch of
    batch_size * world_size indices, so the processes together see every image once. The
    last, smaller batch is kept; under several processes it is split into equal shares (its
    last len % world_size images are skipped) so that every process takes the same number
    of steps, as data-parallel training requires. A last share smaller than min_batch is
    dropped (FactorVAE cannot split fewer than 4 images into its two halves).
    """
    n_items = len(dataset)
    if order is None:
        order = torch.arange(n_items)
    order = order.to(dataset.device)
    global_batch = batch_size * world_size
    for start in range(start_batch * global_batch, n_items, global_batch):
        chunk = order[start:start + global_batch]
        share_size = min(batch_size, len(chunk) // world_size)
        if share_size >= min_batch:
            yield dataset.batch(chunk[rank * share_size:(rank + 1) * share_size])


def n_batches(n_items, batch_size, world_size=1, min_batch=1):
    """Number of batches per epoch of `iterate_batches` (the same for every process)."""
    full, rest = divmod(n_items, batch_size * world_size)
    return full + (rest // world_size >= max(min_batch, 1))


# ----------------------------------------------------------------------------------- dSprites

DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
DSPRITES_URL = ("https://github.com/deepmind/dsprites-dataset/raw/master/" + DSPRITES_FILE)
DSPRITES_MD5 = "7da33b31b13a06f4b04a70402ce90c2e"
# named by the rendering's version, so that a cache of other sprite sizes is never reused
DSPRITES_PROCEDURAL_FILE = f"dsprites_procedural_v{dsprites_procedural.GEOMETRY_VERSION}.npz"
FACTOR_KEYS = ("latents_values", "latents_classes")
DSPRITES_KEYS = ("imgs",) + FACTOR_KEYS
DSPRITES_SHAPE = (dsprites_procedural.IMAGE_SIZE, dsprites_procedural.IMAGE_SIZE)


def read_dsprites_npz(path, keys=DSPRITES_KEYS):
    """The arrays `keys` of a dSprites npz; a one-line error if the file is corrupt or truncated.

    Only the members asked for are read (the factor tables of the official file, 0.1 s,
    without decompressing its 3 GB of images)."""
    fix = "delete it and run again to fetch or render it anew"
    if not zipfile.is_zipfile(path):
        raise DatasetUnavailable(f"{path} is corrupt or truncated (not a valid npz file: an npz "
                                 f"is a zip archive and this is not one): {fix}")
    try:
        with np.load(path) as archive:
            missing = [key for key in keys if key not in archive.files]
            if missing:
                raise ValueError(f"missing keys {missing}")
            return {key: archive[key] for key in keys}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DatasetUnavailable(f"{path} is corrupt or truncated ({error}): {fix}") from None


def write_dsprites_cache(path, arrays):
    """Cache dSprites arrays (official npz layout) at path: the images as a raw .npy beside it
    (array_cache.images_path), mapped by every run, then the factor tables in path itself,
    written last so that its presence marks a complete cache."""
    save_array(images_path(path), arrays["imgs"])
    save_npz(path, **{key: arrays[key] for key in FACTOR_KEYS})


def render_and_cache_dsprites(path):
    """Render the whole grid procedurally and cache it (write_dsprites_cache)."""
    logger.warning("dSprites: using a procedural rendering of the dSprites grid, not "
                   "DeepMind's file (place %s in %s to use the official images)",
                   DSPRITES_FILE, os.path.dirname(path))
    write_dsprites_cache(path, dsprites_procedural.render_dsprites())


def fetch_or_render_dsprites(official, cached, allow_download):
    """Download the official file, else render and cache the grid."""
    if allow_download:
        try:
            download(DSPRITES_URL, official, md5=DSPRITES_MD5, timeout_s=30)
            return
        except DatasetUnavailable as error:
            logger.warning("dSprites: %s", error)
    render_and_cache_dsprites(cached)


def extract_images(path):
    """Write the images held inside the npz at path to the .npy beside it, once.

    The official file stays as downloaded (its MD5 is DeepMind's); a procedural cache of the
    former single-file layout (images inside the npz) is rewritten in the current layout.
    """
    arrays = read_dsprites_npz(path)
    target = images_path(path)
    if os.path.basename(path) == DSPRITES_FILE:
        logger.warning("dSprites: decompressing the images of %s once into %s, which every "
                       "run then maps from the page cache", path, os.path.basename(target))
        save_array(target, arrays["imgs"])
    else:
        logger.warning("dSprites: converting %s, of the former single-file layout, once: its "
                       "images move to %s, which every run then maps from the page cache",
                       path, os.path.basename(target))
        write_dsprites_cache(path, arrays)


def open_dsprites(path):
    """The arrays of the dSprites npz at path, 'imgs' memory-mapped from the .npy beside it
    (made first from the npz's own images when missing).

    In a folder that cannot be written and without the .npy, the images are read from the npz
    into this process's memory, as before there were .npy files, with a warning.
    """
    target = images_path(path)
    try:
        prepare_once(target, lambda: extract_images(path),
                     f"write the images of {os.path.basename(path)} as {os.path.basename(target)}")
    except FolderNotWritable as error:
        logger.warning("dSprites: %s; reading the images into memory instead (not shared "
                       "with other runs)", error)
        return read_dsprites_npz(path)
    arrays = read_dsprites_npz(path, FACTOR_KEYS)
    arrays["imgs"] = open_array(target, DSPRITES_SHAPE)
    if len(arrays["imgs"]) != len(arrays["latents_classes"]):
        raise DatasetUnavailable(f"{target} holds {len(arrays['imgs'])} images and {path} "
                                 f"{len(arrays['latents_classes'])} factor rows: delete both "
                                 f"and run again to fetch or render them anew")
    return arrays


def load_dsprites_arrays(root, allow_download=True):
    """(arrays, source): the official file, else a cached rendering, else a download, else
    a fresh rendering. A cached rendering is reused without trying the network again; delete
    it (or place the official file) to use DeepMind's images. One process at a time fetches
    or renders (see utils/data_folder.py); the others then read its file. arrays['imgs'] is
    memory-mapped read-only (utils/array_cache.py).
    """
    official = os.path.join(root, DSPRITES_FILE)
    cached = os.path.join(root, DSPRITES_PROCEDURAL_FILE)
    prepare_once(cached, lambda: fetch_or_render_dsprites(official, cached, allow_download),
                 "fetch or render dSprites",
                 ready=lambda: any(map(os.path.exists, (official, cached))))
    if os.path.exists(official):
        return open_dsprites(official), "official"
    logger.warning("dSprites: using the cached procedural rendering %s, not DeepMind's "
                   "file (place %s beside it to use the official images)", cached,
                   DSPRITES_FILE)
    return open_dsprites(cached), "procedural"


def dsprites_dataset(arrays, source):
    """Wrap dSprites arrays (official npz layout; imgs in memory or memory-mapped) in the
    dataset interface."""
    images = as_tensor(arrays["imgs"]).unsqueeze(1)
    version = dsprites_procedural.GEOMETRY_VERSION if source == "procedural" else None
    return ImageDataset("dsprites", images, scale=1.0, background_color=0, source=source,
                        version=version,
                        factor_names=dsprites_procedural.FACTOR_NAMES,
                        factor_sizes=dsprites_procedural.FACTOR_SIZES,
                        factor_classes=arrays["latents_classes"].astype(np.int64),
                        factor_values=arrays["latents_values"].astype(np.float64))


def load_dsprites(root, split="train", allow_download=True):
    """dSprites (Matthey et al. 2017): 737,280 binary 64x64 sprites over 6 factors.

    The dataset has no held-out split; both splits are the whole grid.
    """
    arrays, source = load_dsprites_arrays(os.path.join(root, "dsprites"), allow_download)
    return dsprites_dataset(arrays, source)


def get_dataset(name, split="train", root=None, allow_download=True, **options):
    """Load a registered dataset by name (root: its data folder, default DATA_ROOT), or the
    user's own data `folder:PATH`, `npz:PATH`, `h5:PATH` with its preprocessing options
    (utils/datasets_user.py; root: its cache folder, default beside the data); a one-line error
    for an unknown name."""
    if not is_dataset(name):
        raise ValueError(f"unknown dataset {name!r}: choose one of {dataset_choices()}")
    if user_data_kind(name):
        return loader(name)(root, split=split, **options)
    return loader(name)(root or DATA_ROOT, split=split, allow_download=allow_download)


def training_data(options, data_dir=None):
    """The images a run trains on, from its options (main.py's or its specs.json): its
    dataset's training split, or the seeded random `subset` of it that the run recorded."""
    dataset = get_dataset(options["dataset"], "train", root=data_dir, **data_options(options))
    n_images = options.get("subset")
    return dataset if n_images is None else subset(dataset, n_images, options["seed"])
