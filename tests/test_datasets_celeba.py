"""CelebA on 32 real images: preprocessed once beside the untouched originals, centre crop or
the original's squash, name order, downloads and unpacking, one-line errors, training."""
import hashlib
import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from datasets_support import (DEAD_URL, assert_one_line_error, copy_celeba_images,  # noqa: F401
                              file_server, run_main)
from utils import datasets_celeba
from utils.datasets import get_dataset, has_test_split
from utils.download import DatasetUnavailable


def md5s(folder):
    return {path.name: hashlib.md5(path.read_bytes()).hexdigest() for path in folder.iterdir()}


def write_face(path, rgb_rows):
    """A 178x218 PNG made of horizontal bands: rgb_rows is [(n_rows, (r, g, b)), ...]."""
    pixels = np.concatenate([np.full((rows, 178, 3), colour, dtype=np.uint8)
                             for rows, colour in rgb_rows])
    assert pixels.shape == (218, 178, 3)
    Image.fromarray(pixels).save(path)


@pytest.fixture
def no_google_drive(monkeypatch):
    """Google Drive unreachable (as without the gdown package), whatever this machine has."""
    def unreachable(file_id, root, filename=None, md5=None):
        raise RuntimeError("To download files from GDrive, 'gdown' is required")
    monkeypatch.setattr(datasets_celeba, "download_file_from_google_drive", unreachable)


def test_real_images_are_preprocessed_once_beside_the_untouched_originals(
        shared_data, tmp_path, monkeypatch):
    originals = copy_celeba_images(shared_data, tmp_path)
    before = md5s(originals)
    data = get_dataset("celeba", root=str(tmp_path))
    assert data.images.shape == (32, 3, 64, 64) and data.images.dtype == torch.uint8
    assert data.img_size == (3, 64, 64) and data.background_color == 1
    assert data.source == "official" and not has_test_split("celeba")
    batch = data.batch(torch.arange(32))
    assert batch.shape == (32, 3, 64, 64) and 0 <= batch.min() and batch.max() <= 1
    assert batch.std() > 0.1
    assert md5s(originals) == before
    assert (tmp_path / "celeba" / "img_align_celeba_64_crop.npz").exists()

    def preprocess_again(*args, **kwargs):
        raise AssertionError("the cache was not used")
    monkeypatch.setattr(datasets_celeba, "preprocess_all", preprocess_again)
    assert torch.equal(get_dataset("celeba", root=str(tmp_path)).images, data.images)


def test_crop_keeps_the_centre_square_and_squash_keeps_the_whole_frame(tmp_path):
    folder = tmp_path / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    write_face(folder / "000001.png", [(20, (255, 0, 0)), (178, (0, 255, 0)), (20, (0, 0, 255))])
    crop = get_dataset("celeba", root=str(tmp_path)).images[0].int()
    assert (crop - torch.tensor([0, 255, 0]).view(3, 1, 1)).abs().max() <= 1
    squash = get_dataset("celeba_squash", root=str(tmp_path))
    assert squash.name == "celeba_squash"
    top, bottom = squash.images[0, :, 0, 32].tolist(), squash.images[0, :, 63, 32].tolist()
    assert top[0] > 200 and top[1] < 50 and bottom[2] > 200 and bottom[1] < 50
    assert (tmp_path / "celeba" / "img_align_celeba_64_squash.npz").exists()


def test_images_are_ordered_by_file_name_and_the_cache_follows_the_files(tmp_path):
    folder = tmp_path / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    for name, grey in (("000003.png", 30), ("000001.png", 10), ("000002.png", 20)):
        write_face(folder / name, [(218, (grey, grey, grey))])
    data = get_dataset("celeba", root=str(tmp_path))
    assert data.images[:, 0, 32, 32].tolist() == [10, 20, 30]
    write_face(folder / "000000.png", [(218, (5, 5, 5))])
    data = get_dataset("celeba", root=str(tmp_path))
    assert data.images[:, 0, 32, 32].tolist() == [5, 10, 20, 30]


def celeba_zip(n_images=3):
    """An img_align_celeba.zip holding n_images small faces in img_align_celeba/."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(n_images):
            face = io.BytesIO()
            Image.new("RGB", (178, 218), (index * 50, 100, 100)).save(face, format="JPEG")
            archive.writestr(f"img_align_celeba/{index + 1:06d}.jpg", face.getvalue())
    return buffer.getvalue()


def test_missing_archive_is_fetched_from_the_mirror_checked_and_unpacked(
        file_server, tmp_path, monkeypatch, no_google_drive):
    payload = celeba_zip()
    file_server.files["/celeba.zip"] = payload
    monkeypatch.setattr(datasets_celeba, "CELEBA_MIRROR_URL", file_server.url("/celeba.zip"))
    monkeypatch.setattr(datasets_celeba, "CELEBA_MD5", hashlib.md5(payload).hexdigest())
    assert len(get_dataset("celeba", root=str(tmp_path))) == 3
    folder = tmp_path / "celeba"
    assert sorted(path.name for path in folder.iterdir()) == [
        "img_align_celeba", "img_align_celeba.zip", "img_align_celeba_64_crop.npz",
        "img_align_celeba_64_crop_images.npy"]


def test_google_drive_is_tried_first(tmp_path, monkeypatch):
    payload, calls = celeba_zip(2), []

    def from_drive(file_id, root, filename=None, md5=None):
        calls.append(file_id)
        with open(f"{root}/{filename}", "wb") as handle:
            handle.write(payload)
    monkeypatch.setattr(datasets_celeba, "download_file_from_google_drive", from_drive)
    monkeypatch.setattr(datasets_celeba, "CELEBA_MIRROR_URL", DEAD_URL + "celeba.zip")
    assert len(get_dataset("celeba", root=str(tmp_path))) == 2
    assert calls == [datasets_celeba.CELEBA_GDRIVE_ID]


def test_unavailable_celeba_is_one_line_naming_both_sources_and_the_places(
        tmp_path, capsys, monkeypatch, no_google_drive):
    monkeypatch.setattr(datasets_celeba, "CELEBA_MIRROR_URL", DEAD_URL + "celeba.zip")
    message, _ = run_main(capsys, "r", "-x", "betaH_celeba", "--max-steps", 3,
                          "--data-dir", tmp_path / "data", "--results-dir", tmp_path / "res")
    folder = tmp_path / "data" / "celeba"
    assert_one_line_error(message, "celeba:", datasets_celeba.CELEBA_GDRIVE_ID, "gdown",
                          DEAD_URL + "celeba.zip", folder / "img_align_celeba.zip",
                          folder / "img_align_celeba")


def test_unreadable_image_is_a_one_line_error(tmp_path):
    folder = tmp_path / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    (folder / "000001.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetUnavailable, match="cannot be read"):
        get_dataset("celeba", root=str(tmp_path))
    assert not (tmp_path / "celeba" / "img_align_celeba_64_crop.npz").exists()


def test_celeba_trains_and_is_evaluated_on_its_training_images(shared_data, tmp_path, capsys):
    copy_celeba_images(shared_data, tmp_path / "data")
    message, _ = run_main(capsys, "r", "-x", "betaH_celeba", "--max-steps", 3, "-b", 8,
                          "--no-progress-bar", "--data-dir", tmp_path / "data",
                          "--results-dir", tmp_path / "res")
    assert message is None
    run = tmp_path / "res" / "r"
    specs = json.loads((run / "specs.json").read_text())
    assert specs["img_size"] == [3, 64, 64] and specs["n_train"] == 32 and specs["steps"] == 3
    assert specs["betaH_B"] == 10
    assert np.isfinite(json.loads((run / "test_losses.log").read_text())["loss"])


def test_truncated_jpeg_is_named_in_the_one_line_error(shared_data, tmp_path):
    folder = copy_celeba_images(shared_data, tmp_path)
    jpeg = folder / "000017.jpg"
    jpeg.write_bytes(jpeg.read_bytes()[:3000])
    with pytest.raises(DatasetUnavailable, match="cannot be read") as error:
        get_dataset("celeba", root=str(tmp_path))
    message = str(error.value)
    assert str(jpeg) in message and "truncated" in message and "\n" not in message
    assert not (tmp_path / "celeba" / "img_align_celeba_64_crop.npz").exists()
