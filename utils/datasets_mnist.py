"""MNIST (LeCun et al. 1998) and Fashion-MNIST (Xiao et al. 2017) through torchvision's readers.

Both are 28x28 grayscale idx files: 60,000 training and 10,000 test images, light on a black
background (0). As in the original toolkit they are resized to 32x32 with a bilinear filter
(the original's torchvision Resize(32)), here once on load, for a whole split at a time.

Files: the four idx files of torchvision's `resources` list (gzipped as distributed, or
unpacked) in <root>/mnist/MNIST/raw/ and <root>/fashionMnist/FashionMNIST/raw/. Missing ones
are fetched from torchvision's mirrors and checked against its MD5s.
"""
import contextlib
import functools
import gzip
import math
import os
import shutil
import struct
import zlib

import torch
import torch.nn.functional as F
from torchvision import datasets as tv_datasets

from utils.data_folder import DatasetUnavailable, prepare_once
from utils.datasets import ImageDataset
from utils.download import download

IMG_SIDE = 32
# dataset name -> (torchvision class, folder under the data root as in the original toolkit)
FAMILIES = {"mnist": (tv_datasets.MNIST, "mnist"),
            "fashion": (tv_datasets.FashionMNIST, "fashionMnist")}
SPLITS = {"train": True, "test": False}
IDX_UBYTE_MAGIC = b"\x00\x00\x08"  # an idx file of unsigned bytes; the 4th byte: dimensions


def raw_folder(root, name):
    """Where torchvision's class reads the idx files of dataset `name`."""
    reader, folder = FAMILIES[name]
    return os.path.join(root, folder, reader.__name__, "raw")


def unpack_gzip(archive, target):
    """Decompress archive to target (written to target + '.part', then renamed); a failure
    removes the '.part' file and names the archive or the folder at fault."""
    partial = target + ".part"
    try:
        with gzip.open(archive, "rb") as source, open(partial, "wb") as handle:
            shutil.copyfileobj(source, handle)
    except (OSError, EOFError, zlib.error) as error:
        with contextlib.suppress(FileNotFoundError):
            os.remove(partial)
        if isinstance(error, (gzip.BadGzipFile, EOFError, zlib.error)):
            raise DatasetUnavailable(f"{archive} is corrupt or truncated ({error}): delete it "
                                     f"and run again") from None
        raise DatasetUnavailable(f"cannot unpack {archive} ({error}): free disk space or fix "
                                 f"the folder's permissions, or unpack it by hand") from None
    os.replace(partial, target)


def fetch_and_unpack(name, archive, md5, allow_download):
    """Unpack the idx file `archive` names (a .gz), downloading the archive first if missing."""
    reader, _ = FAMILIES[name]
    folder, filename = os.path.split(archive)
    if not os.path.exists(archive):
        if not allow_download:
            raise DatasetUnavailable(f"{filename} not found: place the idx files (.gz or "
                                     f"unpacked) by hand in {folder}")
        download([mirror + filename for mirror in reader.mirrors], archive, md5=md5)
    unpack_gzip(archive, archive[:-len(".gz")])


def ensure_idx_files(name, folder, allow_download):
    """Make sure the four unpacked idx files of dataset `name` are in folder (one process at a
    time unpacks or downloads each; a folder holding them all is only read)."""
    reader, _ = FAMILIES[name]
    for filename, md5 in reader.resources:
        archive = os.path.join(folder, filename)
        try:
            prepare_once(archive[:-len(".gz")],
                         functools.partial(fetch_and_unpack, name, archive, md5, allow_download),
                         f"unpack {filename}")
        except DatasetUnavailable as error:
            raise DatasetUnavailable(f"{name}: {error}") from None


def idx_problem(path):
    """What makes path no complete idx file of unsigned bytes (the MNIST format: the bytes
    0, 0, 8, the number of dimensions, each size as a big-endian uint32, then the data), as a
    phrase following the path; None for a good file."""
    with open(path, "rb") as handle:
        magic = handle.read(4)
        if len(magic) < 4 or magic[:3] != IDX_UBYTE_MAGIC or not 1 <= magic[3] <= 3:
            return (f"is not an idx file of bytes (it starts with {magic.hex(' ') or 'nothing'}; "
                    f"such a file starts with 00 00 08 then 01, 02 or 03, its dimensions)")
        sizes = handle.read(4 * magic[3])
    if len(sizes) < 4 * magic[3]:
        return "is truncated within its header"
    shape = struct.unpack(f">{magic[3]}I", sizes)
    expected, actual = 4 + len(sizes) + math.prod(shape), os.path.getsize(path)
    if actual != expected:
        return (f"has {actual} bytes where its header (shape {shape}) announces {expected}: "
                f"it is truncated or not an idx file")
    return None


def resize_to_32(images):
    """(N, 28, 28) uint8 -> (N, 1, 32, 32) uint8, bilinear with half-pixel centres.

    For upsampling this is the filter of PIL's bilinear resize (torchvision's Resize on PIL
    images, as in the original toolkit), up to rounding (at most 1 grey level).
    """
    resized = F.interpolate(images.unsqueeze(1).float(), size=(IMG_SIDE, IMG_SIDE),
                            mode="bilinear", align_corners=False)
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def load_mnist_family(root, split="train", allow_download=True, name="mnist"):
    """MNIST or Fashion-MNIST (name "mnist" or "fashion"): the official training or test split
    as 32x32 uint8 images, with the class labels in `labels`."""
    reader, folder = FAMILIES[name]
    raw = raw_folder(root, name)
    ensure_idx_files(name, raw, allow_download)
    for filename, _ in reader.resources:
        path = os.path.join(raw, filename[:-len(".gz")])
        problem = idx_problem(path)
        if problem is not None:
            raise DatasetUnavailable(f"{name}: cannot read the idx files in {raw}: {path} "
                                     f"{problem}: delete it and run again") from None
    try:
        data = reader(os.path.join(root, folder), train=SPLITS[split], download=False)
    except (RuntimeError, ValueError, AssertionError, OSError) as error:
        reason = str(error) or type(error).__name__
        raise DatasetUnavailable(f"{name}: cannot read the idx files in {raw} ({reason}): "
                                 f"delete them and run again") from None
    return ImageDataset(name, resize_to_32(data.data), scale=1 / 255, background_color=0,
                        source="official", labels=data.targets.numpy())
