"""MNIST (LeCun et al. 1998) and Fashion-MNIST (Xiao et al. 2017) through torchvision's readers.

Both are 28x28 grayscale idx files: 60,000 training and 10,000 test images, light on a black
background (0). As in the original toolkit they are resized to 32x32 with a bilinear filter
(the original's torchvision Resize(32)), here once on load, for a whole split at a time.

Files: the four idx files of torchvision's `resources` list (gzipped as distributed, or
unpacked) in <root>/mnist/MNIST/raw/ and <root>/fashionMnist/FashionMNIST/raw/. Missing ones
are fetched from torchvision's mirrors and checked against its MD5s.
"""
import gzip
import os
import shutil
import zlib

import torch
import torch.nn.functional as F
from torchvision import datasets as tv_datasets

from utils.datasets import ImageDataset
from utils.download import DatasetUnavailable, download

IMG_SIDE = 32
# dataset name -> (torchvision class, folder under the data root as in the original toolkit)
FAMILIES = {"mnist": (tv_datasets.MNIST, "mnist"),
            "fashion": (tv_datasets.FashionMNIST, "fashionMnist")}
SPLITS = {"train": True, "test": False}


def raw_folder(root, name):
    """Where torchvision's class reads the idx files of dataset `name`."""
    reader, folder = FAMILIES[name]
    return os.path.join(root, folder, reader.__name__, "raw")


def unpack_gzip(archive, target):
    """Decompress archive to target (written to target + '.part', then renamed)."""
    partial = target + ".part"
    try:
        with gzip.open(archive, "rb") as source, open(partial, "wb") as handle:
            shutil.copyfileobj(source, handle)
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetUnavailable(f"{archive} is corrupt or truncated ({error}): delete it and "
                                 f"run again") from None
    os.replace(partial, target)


def ensure_idx_files(name, folder, allow_download):
    """Make sure the four unpacked idx files of dataset `name` are in folder."""
    reader, _ = FAMILIES[name]
    for filename, md5 in reader.resources:
        archive = os.path.join(folder, filename)
        target = archive[:-len(".gz")]
        if os.path.exists(target):
            continue
        if not os.path.exists(archive):
            if not allow_download:
                raise DatasetUnavailable(f"{name}: {filename} not found: place the idx files "
                                         f"(.gz or unpacked) by hand in {folder}")
            try:
                download([mirror + filename for mirror in reader.mirrors], archive, md5=md5)
            except DatasetUnavailable as error:
                raise DatasetUnavailable(f"{name}: {error}") from None
        unpack_gzip(archive, target)


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
    try:
        data = reader(os.path.join(root, folder), train=SPLITS[split], download=False)
    except (RuntimeError, ValueError, AssertionError, OSError) as error:
        raise DatasetUnavailable(f"{name}: cannot read the idx files in {raw} ({error}): "
                                 f"delete them and run again") from None
    return ImageDataset(name, resize_to_32(data.data), scale=1 / 255, background_color=0,
                        source="official", labels=data.targets.numpy())
