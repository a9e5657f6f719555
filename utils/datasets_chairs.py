"""3D Chairs (Aubry et al. 2014): 86,366 renders (1,393 chairs x 62 views), 600x600, as 64x64
grayscale.

Preprocessing, the one the original toolkit intended (its code discarded the crop): the centred
400x400 square of each render, an antialiased (Lanczos) resize to 64x64, then grayscale. Done
once and cached beside the originals in data/chairs/rendered_chairs_64_images.npy, with the
names of the renders in rendered_chairs_64.npz (utils/datasets_preprocess.py; the renders are
never modified). Images are ordered by path; the label of an image is the index of its chair's
folder in name order. Background white (1). No held-out split.

Files: data/chairs/rendered_chairs.tar, read directly (no need to unpack its 86,366 files), or
the unpacked folder data/chairs/rendered_chairs/<chair>/renders/*.png. The tar is fetched from
the authors' server when neither is there; no checksum is published, so it is checked by
reading it.
"""
import functools
import os
import re
import tarfile

import numpy as np

from utils.array_cache import as_tensor
from utils.datasets import ImageDataset
from utils.datasets_preprocess import cached_images, preprocess_all, preprocess_image
from utils.data_folder import DatasetUnavailable
from utils.download import download

CHAIRS_URL = "https://www.di.ens.fr/willow/research/seeing3Dchairs/data/rendered_chairs.tar"
CHAIRS_TAR = "rendered_chairs.tar"
CHAIRS_FOLDER = "rendered_chairs"
CACHE_FILE = "rendered_chairs_64.npz"
IMG_SIDE = 64
CROP_FRACTION = 400 / 600
RENDER_PATH = re.compile(r"(?:^|/)([^/]+)/renders/([^/]+\.png)$", re.IGNORECASE)


def render_name(path):
    """'<chair>/renders/<file>.png' for the path of a render, None for any other file."""
    match = RENDER_PATH.search(path.replace(os.sep, "/"))
    return f"{match[1]}/renders/{match[2]}" if match else None


def folder_renders(folder):
    """{render name: path} of the renders in the unpacked folder."""
    renders = {}
    for directory, _, files in os.walk(folder):
        for filename in files:
            path = os.path.join(directory, filename)
            name = render_name(os.path.relpath(path, folder))
            if name is not None:
                renders[name] = path
    return renders


def tar_renders(tar):
    """{render name: member} of the renders in the tar archive.

    tarfile takes a file cut at a member boundary for a shorter archive, so the end-of-archive
    block (512 zero bytes after the last member) is checked too.
    """
    members = [member for member in tar.getmembers() if member.isfile()]
    tar.fileobj.seek(tar.offset)
    if tar.fileobj.read(tarfile.BLOCKSIZE) != bytes(tarfile.BLOCKSIZE):
        raise tarfile.ReadError("no end-of-archive block, the file is truncated")
    return {render_name(member.name): member for member in members
            if render_name(member.name) is not None}


def unreadable(source, error):
    """The one-line error for renders that cannot be read from source (a tar or a folder)."""
    fix = ("replace the unreadable file" if os.path.isdir(source) else
           "delete it and run again to download it anew")
    return DatasetUnavailable(f"chairs: cannot read the renders in {source} ({error}): {fix}")


def list_renders(source):
    """{render name: path or tar member} of the renders in source (a folder or a tar)."""
    try:
        if os.path.isdir(source):
            return folder_renders(source)
        with tarfile.open(source) as tar:
            return tar_renders(tar)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise unreadable(source, error) from None


def read_renders(source, items):
    """The paths (folder) or file contents (tar) of the renders listed by list_renders."""
    if os.path.isdir(source):
        yield from items
        return
    with tarfile.open(source) as tar:
        for member in items:
            yield tar.extractfile(member).read()


def preprocess_renders(source, items):
    """The renders as uint8 (N, 1, 64, 64): centre crop 400x400, Lanczos resize, grayscale."""
    preprocess = functools.partial(preprocess_image, side=IMG_SIDE, mode="L",
                                   crop_fraction=CROP_FRACTION)
    try:
        return preprocess_all(read_renders(source, items), len(items), preprocess, name="chairs")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise unreadable(source, error) from None


def chair_labels(names):
    """The index of each render's chair folder among the sorted chair folders."""
    chairs = [name.split("/", 1)[0] for name in names]
    return np.unique(chairs, return_inverse=True)[1].astype(np.int64)


def load_chairs(root, split="train", allow_download=True):
    """3D Chairs as 64x64 grayscale uint8 images with chair labels (both splits: all renders)."""
    folder = os.path.join(root, "chairs")
    unpacked, archive = os.path.join(folder, CHAIRS_FOLDER), os.path.join(folder, CHAIRS_TAR)
    by_hand = (f"place {CHAIRS_TAR} (or its unpacked {CHAIRS_FOLDER}/ folder) by hand in "
               f"{os.path.abspath(folder)}")
    if not os.path.isdir(unpacked) and not os.path.exists(archive):
        if not allow_download:
            raise DatasetUnavailable(f"chairs: no renders found: {by_hand}")
        try:
            download(CHAIRS_URL, archive)
        except DatasetUnavailable as error:
            raise DatasetUnavailable(f"chairs: {error}") from None
    source = unpacked if os.path.isdir(unpacked) else archive
    renders = list_renders(source)
    names = sorted(renders)
    if not names:
        raise DatasetUnavailable(f"chairs: {source} holds no <chair>/renders/*.png files: "
                                 f"{by_hand}")
    images = cached_images(os.path.join(folder, CACHE_FILE), names,
                           lambda: preprocess_renders(source, [renders[name] for name in names]))
    return ImageDataset("chairs", as_tensor(images), scale=1 / 255, background_color=1,
                        source="official", labels=chair_labels(names))
