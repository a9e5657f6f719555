"""CelebA (Liu et al. 2015): 202,599 aligned celebrity faces, 178x218 JPEG, as 64x64 RGB.

Two preprocessings, each done once and cached beside the originals in
data/celeba/img_align_celeba_64_<resize>_images.npy, with the names of the JPEGs in
img_align_celeba_64_<resize>.npz (utils/datasets_preprocess.py; the JPEGs are never modified):
- "crop" (dataset `celeba`): the centred 178x178 square, then an antialiased (Lanczos) resize
  to 64x64, so faces keep their proportions (the practice of most beta-VAE work);
- "squash" (dataset `celeba_squash`): the whole 178x218 image resized to 64x64 with the same
  filter, as the original toolkit did (faces squashed vertically by 218/178 = 1.22).
Images are ordered by file name. Background white (1) as in the original toolkit. There is no
held-out split: evaluation uses the training images.

Files: data/celeba/img_align_celeba/*.jpg, placed by hand or unpacked from
img_align_celeba.zip, which is fetched when missing from Google Drive (torchvision's file id;
needs the gdown package) or else from the mirror the original toolkit used, and checked
against torchvision's MD5 (both sources serve the same archive).
"""
import functools
import os

from torchvision.datasets.utils import download_file_from_google_drive

from utils.array_cache import as_tensor
from utils.data_folder import DatasetUnavailable, prepare_once
from utils.datasets import ImageDataset
from utils.datasets_preprocess import cached_images, preprocess_all, preprocess_image
from utils.download import download, unpack_zip_folder

CELEBA_FOLDER = "img_align_celeba"
CELEBA_ZIP = "img_align_celeba.zip"
CELEBA_MD5 = "00d2c5bc6d35e252742224ab0c1e8fcb"
CELEBA_GDRIVE_ID = "0B7EVK8r0v71pZjFTYXZWM3FlRnM"
CELEBA_MIRROR_URL = "https://s3-us-west-1.amazonaws.com/udacity-dlnfd/datasets/celeba.zip"
IMG_SIDE = 64
CROP_FRACTIONS = {"crop": 1.0, "squash": None}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def download_from_google_drive(archive):
    """Fetch the archive through torchvision's Google Drive helper into a temporary name,
    renamed when its MD5 matches; returns the reason of a failure, None on success."""
    partial = archive + ".gdrive.part"
    try:
        download_file_from_google_drive(CELEBA_GDRIVE_ID, os.path.dirname(archive),
                                        os.path.basename(partial), md5=CELEBA_MD5)
    except Exception as error:  # gdown missing, quota exceeded, no network: try the mirror
        if os.path.exists(partial):
            os.remove(partial)
        reason = " ".join(str(error).split())  # gdown's messages span several lines
        return f"Google Drive file {CELEBA_GDRIVE_ID} failed ({reason})"
    os.replace(partial, archive)
    return None


def fetch_images(folder, allow_download):
    """Unpack img_align_celeba/ from the archive in folder, downloading the archive first."""
    archive = os.path.join(folder, CELEBA_ZIP)
    image_dir = os.path.abspath(os.path.join(folder, CELEBA_FOLDER))
    by_hand = f"or place its JPEGs by hand in {image_dir}"
    if not os.path.exists(archive):
        if not allow_download:
            raise DatasetUnavailable(f"no images found: place {CELEBA_ZIP} by hand at "
                                     f"{os.path.abspath(archive)} {by_hand}")
        failure = download_from_google_drive(archive)
        if failure is not None:
            try:
                download(CELEBA_MIRROR_URL, archive, md5=CELEBA_MD5)
            except DatasetUnavailable as error:
                raise DatasetUnavailable(f"{failure}; {error}, {by_hand}") from None
    unpack_zip_folder(archive, CELEBA_FOLDER, folder)


def preprocess_celeba(paths, resize):
    """The images at paths as uint8 (N, 3, 64, 64) with the given resize ("crop"/"squash")."""
    preprocess = functools.partial(preprocess_image, side=IMG_SIDE, mode="RGB",
                                   crop_fraction=CROP_FRACTIONS[resize])
    try:
        return preprocess_all(paths, len(paths), preprocess, name="celeba")
    except OSError as error:  # names the file (see preprocess_image)
        raise DatasetUnavailable(f"celeba: an image cannot be read ({error}): replace it with "
                                 f"the original file") from None


def load_celeba(root, split="train", allow_download=True, resize="crop"):
    """CelebA as 64x64 RGB uint8 images; `resize` is "crop" or "squash" (see the module).

    Both splits are the whole set of images (CelebA is used here without a held-out split).
    """
    folder = os.path.join(root, "celeba")
    image_dir = os.path.join(folder, CELEBA_FOLDER)
    try:
        prepare_once(image_dir, lambda: fetch_images(folder, allow_download),
                     f"fetch and unpack {CELEBA_ZIP}")
    except DatasetUnavailable as error:
        raise DatasetUnavailable(f"celeba: {error}") from None
    names = sorted(name for name in os.listdir(image_dir)
                   if name.lower().endswith(IMAGE_SUFFIXES))
    if not names:
        raise DatasetUnavailable(f"celeba: no JPEG images in {os.path.abspath(image_dir)}: place "
                                 f"them there by hand, or delete the folder to download them")
    cache = os.path.join(folder, f"{CELEBA_FOLDER}_{IMG_SIDE}_{resize}.npz")
    paths = [os.path.join(image_dir, name) for name in names]
    images = cached_images(cache, names, lambda: preprocess_celeba(paths, resize))
    name = "celeba" if resize == "crop" else f"celeba_{resize}"
    return ImageDataset(name, as_tensor(images), scale=1 / 255, background_color=1,
                        source="official")
