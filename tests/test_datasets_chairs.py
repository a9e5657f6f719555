"""3D Chairs on a small tar in the official layout: read without unpacking, centre crop
400x400 of the 600x600 renders, 64x64 grayscale, chair labels, one-line errors, training."""
import hashlib
import json
import tarfile

import numpy as np
import pytest
import torch

from datasets_support import DEAD_URL, assert_one_line_error, run_main, write_chairs_tar
from utils import datasets_chairs
from utils.datasets import get_dataset
from utils.download import DatasetUnavailable


@pytest.fixture
def chairs_root(tmp_path):
    """A data folder holding data/chairs/rendered_chairs.tar (3 chairs x 2 views)."""
    (tmp_path / "chairs").mkdir()
    write_chairs_tar(tmp_path / "chairs" / "rendered_chairs.tar")
    return tmp_path


def test_tar_is_read_without_unpacking_into_64x64_grayscale_with_chair_labels(chairs_root):
    tar = chairs_root / "chairs" / "rendered_chairs.tar"
    before = hashlib.md5(tar.read_bytes()).hexdigest()
    data = get_dataset("chairs", root=str(chairs_root))
    assert data.images.shape == (6, 1, 64, 64) and data.images.dtype == torch.uint8
    assert data.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert data.background_color == 1 and data.img_size == (1, 64, 64)
    assert sorted(path.name for path in (chairs_root / "chairs").iterdir()) == [
        "rendered_chairs.tar", "rendered_chairs_64.npz", "rendered_chairs_64_images.npy"]
    assert hashlib.md5(tar.read_bytes()).hexdigest() == before


def test_centre_crop_removes_the_frame_and_keeps_the_white_background(chairs_root):
    images = get_dataset("chairs", root=str(chairs_root)).images[:, 0].int()
    # the 600x600 render's block 250..350 x 200..400 becomes 24..40 x 16..48 of the crop
    assert images[:, :14, :].min() >= 250 and images[:, 50:, :].min() >= 250
    assert images[:, :, :20].min() >= 250 and images[:, :, 44:].min() >= 250
    assert images[:, 18:46, 26:38].float().mean(dim=(1, 2)).round().tolist() == \
        [20, 20, 60, 60, 100, 100]


def test_unpacked_folder_gives_the_same_images_as_the_tar(chairs_root, tmp_path_factory):
    unpacked_root = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(chairs_root / "chairs" / "rendered_chairs.tar") as tar:
        tar.extractall(unpacked_root / "chairs", filter="data")
    from_tar = get_dataset("chairs", root=str(chairs_root))
    from_folder = get_dataset("chairs", root=str(unpacked_root))
    assert torch.equal(from_tar.images, from_folder.images)
    assert np.array_equal(from_tar.labels, from_folder.labels)


def test_transparent_renders_are_flattened_on_white(tmp_path):
    (tmp_path / "chairs").mkdir()
    write_chairs_tar(tmp_path / "chairs" / "rendered_chairs.tar", n_chairs=1, rgba=True)
    images = get_dataset("chairs", root=str(tmp_path)).images[:, 0].int()
    assert images[:, :14].min() >= 250 and images[:, 18:46, 26:38].float().mean() < 30


def test_truncated_tar_is_a_one_line_error_and_no_cache_is_left(chairs_root):
    tar = chairs_root / "chairs" / "rendered_chairs.tar"
    tar.write_bytes(tar.read_bytes()[:len(tar.read_bytes()) // 2])
    with pytest.raises(DatasetUnavailable, match="cannot read the renders") as error:
        get_dataset("chairs", root=str(chairs_root))
    assert "\n" not in str(error.value) and str(tar) in str(error.value)
    assert not (chairs_root / "chairs" / "rendered_chairs_64.npz").exists()


def test_missing_chairs_is_one_line_naming_the_address_and_the_folder(tmp_path, capsys,
                                                                       monkeypatch):
    monkeypatch.setattr(datasets_chairs, "CHAIRS_URL", DEAD_URL + "rendered_chairs.tar")
    message, _ = run_main(capsys, "r", "-x", "betaH_chairs", "--max-steps", 3,
                          "--data-dir", tmp_path / "data", "--results-dir", tmp_path / "res")
    assert_one_line_error(message, "chairs:", DEAD_URL + "rendered_chairs.tar",
                          tmp_path / "data" / "chairs" / "rendered_chairs.tar")


def test_chairs_trains_through_main(chairs_root, tmp_path, capsys):
    message, _ = run_main(capsys, "r", "-x", "betaH_chairs", "--max-steps", 3, "-b", 2,
                          "--no-test", "--no-progress-bar", "--data-dir", chairs_root,
                          "--results-dir", tmp_path / "res")
    assert message is None
    specs = json.loads((tmp_path / "res" / "r" / "specs.json").read_text())
    assert specs["img_size"] == [1, 64, 64] and specs["n_train"] == 6 and specs["steps"] == 3
