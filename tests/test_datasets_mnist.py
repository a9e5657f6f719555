"""MNIST on its real test split and Fashion-MNIST on small idx files: torchvision's readers,
32x32 uint8 images, official labels and splits, downloads, and one-line errors."""
import gzip
import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import datasets as tv_datasets

from datasets_support import (DEAD_URL, MNIST_TEST_COUNTS, MNIST_TEST_LABELS,  # noqa: F401
                              assert_one_line_error, file_server,
                              lay_out_mnist_test_split, run_main, write_idx_split)
from utils.datasets import get_dataset, has_test_split
from utils.datasets_mnist import resize_to_32
from utils.download import DatasetUnavailable


def test_real_mnist_test_split_loads_as_32x32_uint8_with_official_labels(shared_data, tmp_path):
    lay_out_mnist_test_split(shared_data, tmp_path)
    for split in ("train", "test"):
        data = get_dataset("mnist", split, root=str(tmp_path))
        assert data.images.shape == (10000, 1, 32, 32) and data.images.dtype == torch.uint8
        assert data.labels[:10].tolist() == MNIST_TEST_LABELS
        assert np.bincount(data.labels).tolist() == MNIST_TEST_COUNTS
        batch = data.batch(torch.tensor([0, 9999]))
        assert batch.shape == (2, 1, 32, 32) and batch.dtype == torch.float32
        assert batch.min() == 0 and 0.9 < batch.max() <= 1
        assert data.images.max() == 255 and data.batch(torch.arange(10000)).max() == 1
    assert data.background_color == 0 and data.img_size == (1, 32, 32)
    assert data.images[:, :, 0, :].max() == 0  # black background: empty top rows
    assert has_test_split("mnist") and has_test_split("fashion")


def test_resize_matches_the_bilinear_pil_resize_of_the_original_within_one_level(shared_data):
    with gzip.open(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz") as handle:
        digits = np.frombuffer(handle.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)[:50]
    ours = resize_to_32(torch.from_numpy(digits.copy()))[:, 0].numpy().astype(int)
    pil = np.stack([np.asarray(Image.fromarray(digit).resize((32, 32), Image.BILINEAR))
                    for digit in digits]).astype(int)
    assert np.abs(ours - pil).max() <= 1 and (ours != pil).mean() < 0.05


def write_fashion(data_dir, n_train=12, n_test=5):
    """Fashion-MNIST idx files where train and test differ (sizes and pixel values)."""
    raw = data_dir / "fashionMnist" / "FashionMNIST" / "raw"
    for prefix, n_images, value in (("train", n_train, 200), ("t10k", n_test, 100)):
        images = np.zeros((n_images, 28, 28), dtype=np.uint8)
        images[:, 4:24, 10:18] = value
        write_idx_split(raw, prefix, images, np.arange(n_images) % 10)
    return raw


def test_fashion_reads_the_official_train_and_test_files(tmp_path):
    write_fashion(tmp_path)
    train = get_dataset("fashion", "train", root=str(tmp_path))
    test = get_dataset("fashion", "test", root=str(tmp_path))
    assert (len(train), len(test)) == (12, 5) and train.name == "fashion"
    assert train.labels.tolist() == [i % 10 for i in range(12)]
    assert train.images.max() == 200 and test.images.max() == 100
    assert train.images.shape[1:] == (1, 32, 32)


def test_missing_files_are_downloaded_from_torchvisions_mirrors_with_its_md5s(
        file_server, tmp_path, monkeypatch):
    source = write_fashion(tmp_path / "served")
    resources = []
    for path in sorted(source.iterdir()):
        file_server.files[f"/fm/{path.name}"] = path.read_bytes()
        resources.append((path.name, hashlib.md5(path.read_bytes()).hexdigest()))
    monkeypatch.setattr(tv_datasets.FashionMNIST, "resources", resources)
    monkeypatch.setattr(tv_datasets.FashionMNIST, "mirrors", [DEAD_URL, file_server.url("/fm/")])
    data = get_dataset("fashion", "test", root=str(tmp_path / "data"))
    assert len(data) == 5
    raw = tmp_path / "data" / "fashionMnist" / "FashionMNIST" / "raw"
    assert not list(raw.glob("*.part"))
    monkeypatch.setattr(tv_datasets.FashionMNIST, "resources", [(resources[0][0], "0" * 32)])
    (raw / resources[0][0]).unlink()
    (raw / resources[0][0][:-3]).unlink()
    with pytest.raises(DatasetUnavailable, match="wrong MD5"):
        get_dataset("fashion", "test", root=str(tmp_path / "data"))


def test_missing_mnist_is_one_line_naming_the_mirrors_and_the_folder(tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.setattr(tv_datasets.MNIST, "mirrors", [DEAD_URL])
    message, _ = run_main(capsys, "r", "-x", "betaH_mnist", "--max-steps", 3,
                          "--data-dir", tmp_path / "data", "--results-dir", tmp_path / "res")
    raw = tmp_path / "data" / "mnist" / "MNIST" / "raw"
    assert_one_line_error(message, "mnist:", DEAD_URL + "train-images-idx3-ubyte.gz", raw)
    with pytest.raises(DatasetUnavailable, match="place the idx files"):
        get_dataset("mnist", root=str(tmp_path / "data"), allow_download=False)


def test_truncated_idx_file_is_a_one_line_error(tmp_path):
    raw = write_fashion(tmp_path)
    images = gzip.decompress((raw / "train-images-idx3-ubyte.gz").read_bytes())
    (raw / "train-images-idx3-ubyte").write_bytes(images[:1000])
    with pytest.raises(DatasetUnavailable, match="cannot read the idx files") as error:
        get_dataset("fashion", root=str(tmp_path))
    assert "\n" not in str(error.value)


def test_mnist_trains_and_is_evaluated_on_its_test_split(shared_data, tmp_path, capsys):
    lay_out_mnist_test_split(shared_data, tmp_path / "data")
    message, _ = run_main(capsys, "r", "-x", "betaH_mnist", "--max-steps", 3, "-b", 32,
                          "--no-progress-bar", "--eval-batchsize", 2000,
                          "--data-dir", tmp_path / "data", "--results-dir", tmp_path / "res")
    assert message is None
    run = tmp_path / "res" / "r"
    specs = json.loads((run / "specs.json").read_text())
    assert specs["img_size"] == [1, 32, 32] and specs["n_train"] == 10000
    assert specs["steps"] == 3 and specs["data_source"] == "official"
    assert np.isfinite(json.loads((run / "test_losses.log").read_text())["loss"])


def test_random_bytes_in_an_idx_file_give_a_reason_naming_the_file(tmp_path):
    raw = write_fashion(tmp_path)
    target = raw / "train-images-idx3-ubyte"
    target.write_bytes(np.random.default_rng(0).integers(1, 256, 5000, dtype=np.uint8)
                       .tobytes())
    with pytest.raises(DatasetUnavailable, match="cannot read the idx files") as error:
        get_dataset("fashion", root=str(tmp_path))
    message = str(error.value)
    assert str(target) in message and "is not an idx file" in message
    assert "()" not in message and "\n" not in message


def test_a_failed_gunzip_leaves_no_part_file(tmp_path):
    raw = write_fashion(tmp_path)
    archive = raw / "t10k-images-idx3-ubyte.gz"
    archive.write_bytes(archive.read_bytes()[:-20])
    with pytest.raises(DatasetUnavailable, match="corrupt or truncated") as error:
        get_dataset("fashion", "test", root=str(tmp_path))
    assert str(archive) in str(error.value)
    assert not list(raw.glob("*.part")) and not list(raw.glob("*.lock"))
