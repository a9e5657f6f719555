"""3D Shapes on a small h5 file in the official layout: channels-first uint8 images, the
ground-truth interface of dSprites (names, sizes, classes, values), one-line errors, training."""
import json

import h5py
import numpy as np
import pytest
import torch

from datasets_support import DEAD_URL, assert_one_line_error, run_main, write_shapes3d_h5
from utils import datasets_shapes3d
from utils.datasets import get_dataset
from utils.download import DatasetUnavailable

OFFICIAL_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")


@pytest.fixture
def shapes_root(tmp_path):
    """(data folder, images, labels) of a 96-image sub-grid: 2x2x2x2x2 values x 3 orientations."""
    (tmp_path / "shapes3d").mkdir()
    images, labels = write_shapes3d_h5(tmp_path / "shapes3d" / "3dshapes.h5")
    return tmp_path, images, labels


def test_images_are_held_channels_first_and_batches_are_floats_in_0_1(shapes_root):
    root, images, _ = shapes_root
    data = get_dataset("shapes3d", root=str(root))
    assert data.images.shape == (96, 3, 64, 64) and data.images.dtype == torch.uint8
    assert torch.equal(data.images, torch.from_numpy(images).permute(0, 3, 1, 2))
    assert data.img_size == (3, 64, 64) and data.source == "official"
    batch = data.batch(torch.tensor([5, 0]))
    expected = torch.from_numpy(images[[5, 0]]).permute(0, 3, 1, 2).float() / 255
    assert torch.allclose(batch, expected)


def test_factors_follow_the_official_order_and_the_files_label_values(shapes_root):
    root, _, labels = shapes_root
    data = get_dataset("shapes3d", root=str(root))
    assert data.has_factors and data.factor_names == OFFICIAL_NAMES
    assert data.factor_sizes == (2, 2, 2, 2, 2, 3)
    assert data.factor_classes.dtype == np.int64 and data.factor_classes.shape == (96, 6)
    assert np.array_equal(data.factor_values, labels)
    assert data.factor_classes[:6, 5].tolist() == [0, 1, 2, 0, 1, 2]
    assert len(np.unique(data.factor_classes, axis=0)) == 96
    for column in range(6):
        per_class = [np.unique(labels[data.factor_classes[:, column] == k, column])
                     for k in range(data.factor_sizes[column])]
        assert all(len(values) == 1 for values in per_class)
        assert np.all(np.diff(np.concatenate(per_class)) > 0)


def test_reading_in_blocks_gives_the_same_images(shapes_root, monkeypatch):
    root, images, _ = shapes_root
    monkeypatch.setattr(datasets_shapes3d, "READ_BLOCK", 7)
    read, _ = datasets_shapes3d.read_shapes3d(str(root / "shapes3d" / "3dshapes.h5"))
    assert torch.equal(read, torch.from_numpy(images).permute(0, 3, 1, 2))


def test_file_in_another_layout_or_truncated_is_a_one_line_error(tmp_path):
    path = tmp_path / "shapes3d" / "3dshapes.h5"
    path.parent.mkdir()
    with h5py.File(path, "w") as handle:
        handle.create_dataset("images", data=np.zeros((4, 64, 64), dtype=np.uint8))
        handle.create_dataset("labels", data=np.zeros((4, 6)))
    with pytest.raises(DatasetUnavailable, match="not the official file"):
        get_dataset("shapes3d", root=str(tmp_path))
    write_shapes3d_h5(path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DatasetUnavailable, match="corrupt, truncated") as error:
        get_dataset("shapes3d", root=str(tmp_path))
    assert "\n" not in str(error.value)


def test_missing_file_is_one_line_naming_the_bucket_and_the_path(tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.setattr(datasets_shapes3d, "SHAPES3D_URL", DEAD_URL + "3dshapes.h5")
    message, _ = run_main(capsys, "r", "-x", "betaH_shapes3d", "--max-steps", 3,
                          "--data-dir", tmp_path / "data", "--results-dir", tmp_path / "res")
    assert_one_line_error(message, "shapes3d:", DEAD_URL + "3dshapes.h5",
                          tmp_path / "data" / "shapes3d" / "3dshapes.h5")


def test_shapes3d_trains_through_main(shapes_root, tmp_path, capsys):
    root, _, _ = shapes_root
    message, _ = run_main(capsys, "r", "-x", "betaH_shapes3d", "--max-steps", 3, "-b", 32,
                          "--no-test", "--no-progress-bar", "--data-dir", root,
                          "--results-dir", tmp_path / "res")
    assert message is None
    run = tmp_path / "res" / "r"
    specs = json.loads((run / "specs.json").read_text())
    assert specs["img_size"] == [3, 64, 64] and specs["n_train"] == 96 and specs["steps"] == 3
    assert specs["epochs"] == 40 and specs["dataset"] == "shapes3d"


@pytest.mark.parametrize("group", ["images", "labels"])
def test_a_group_where_the_images_or_labels_should_be_is_a_one_line_error(tmp_path, group):
    path = tmp_path / "shapes3d" / "3dshapes.h5"
    path.parent.mkdir()
    with h5py.File(path, "w") as handle:
        handle.create_group(group).create_dataset("inner", data=np.zeros(3))
        other = "labels" if group == "images" else "images"
        handle.create_dataset(other, data=np.zeros((4, 6) if other == "labels" else
                                                   (4, 64, 64, 3), dtype=np.uint8))
    with pytest.raises(DatasetUnavailable, match="not the official file") as error:
        get_dataset("shapes3d", root=str(tmp_path))
    message = str(error.value)
    assert f"'{group}' is an HDF5 group, not an array" in message
    assert "\n" not in message
