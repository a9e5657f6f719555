"""Image caches as raw .npy files opened memory-mapped read-only: the arrays are maps of the
file, not private copies, two processes share their pages, writing raises, caches of the
former layout (images inside the npz) are converted once, damaged ones are named."""
import logging
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import random_dsprites_classes
from datasets_support import REPO, run_on_read_only_copy
from utils import dsprites_procedural
from utils.array_cache import images_path, open_array, save_array
from utils.data_folder import DatasetUnavailable
from utils.datasets import (DSPRITES_FILE, DSPRITES_PROCEDURAL_FILE, dsprites_dataset,
                            get_dataset, load_dsprites_arrays)
from utils.datasets_preprocess import cached_images

N_IMAGES = 4096  # 16 MiB of 64x64 images: enough pages to measure sharing


@pytest.fixture(scope="module")
def subset():
    """The arrays of a rendered dSprites subset (official npz layout, in memory)."""
    return dsprites_procedural.render_dsprites(random_dsprites_classes(N_IMAGES, seed=3))


def old_layout_folder(root, subset, name=DSPRITES_PROCEDURAL_FILE, save=np.savez):
    """A dSprites folder holding one npz with the images inside (the former cache layout, or
    the official file's layout)."""
    folder = root / "dsprites"
    folder.mkdir(parents=True)
    save(folder / name, **subset)
    return folder


def test_saved_arrays_open_as_read_only_maps_of_the_file(tmp_path):
    array = np.arange(3 * 64, dtype=np.uint8).reshape(3, 8, 8)
    path = tmp_path / "a.npy"
    save_array(str(path), array)
    assert [p.name for p in tmp_path.iterdir()] == ["a.npy"]  # no temporary file left
    mapped = open_array(str(path), (8, 8))
    assert isinstance(mapped, np.memmap) and mapped.filename == str(path)
    assert not mapped.flags.writeable and not mapped.flags.owndata
    assert np.array_equal(mapped, array)
    with pytest.raises(ValueError, match="read-only"):
        mapped[0, 0, 0] = 1
    assert np.array_equal(np.load(path), array)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "other shape"])
def test_a_damaged_image_file_is_a_one_line_error_naming_it(tmp_path, damage):
    path = tmp_path / "a.npy"
    save_array(str(path), np.zeros((4, 8, 8) if damage != "other shape" else (4, 9),
                                   dtype=np.uint8))
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    if damage == "garbage":
        path.write_bytes(b"garbage" * 50)
    with pytest.raises(DatasetUnavailable) as error:
        open_array(str(path), (8, 8))
    message = str(error.value)
    assert str(path) in message and "delete it" in message and "\n" not in message


def test_dsprites_images_are_the_cache_file_mapped_without_a_copy(tmp_path, subset):
    old_layout_folder(tmp_path, subset)
    arrays, _ = load_dsprites_arrays(str(tmp_path / "dsprites"), allow_download=False)
    images = arrays["imgs"]
    assert isinstance(images, np.memmap) and images.mode == "r"
    assert images.filename == str(tmp_path / "dsprites" / images_path(DSPRITES_PROCEDURAL_FILE))
    dataset = dsprites_dataset(arrays, "procedural")
    assert dataset.images.data_ptr() == images.ctypes.data  # the tensor is the map, no copy
    assert torch.equal(dataset.images[:, 0], torch.from_numpy(subset["imgs"]))
    with pytest.raises(ValueError, match="read-only"):
        images[0, 0, 0] = 1


def test_a_cache_of_the_former_layout_is_converted_once(tmp_path, subset, caplog):
    folder = old_layout_folder(tmp_path, subset)
    with caplog.at_level(logging.WARNING):
        first, _ = load_dsprites_arrays(str(folder), allow_download=False)
    assert sum("converting" in record.message for record in caplog.records) == 1
    assert sorted(p.name for p in folder.iterdir()) == [
        DSPRITES_PROCEDURAL_FILE, images_path(DSPRITES_PROCEDURAL_FILE)]
    with np.load(folder / DSPRITES_PROCEDURAL_FILE) as npz:  # the images left the npz
        assert sorted(npz.files) == ["latents_classes", "latents_values"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again, _ = load_dsprites_arrays(str(folder), allow_download=False)
    assert not any("converting" in record.message for record in caplog.records)
    for arrays in (first, again):
        for key, value in subset.items():
            assert np.array_equal(arrays[key], value), key


def test_the_official_file_is_kept_as_downloaded_and_its_images_extracted(tmp_path, subset):
    folder = old_layout_folder(tmp_path, subset, DSPRITES_FILE, np.savez_compressed)
    official = (folder / DSPRITES_FILE).read_bytes()
    arrays, source = load_dsprites_arrays(str(folder), allow_download=False)
    assert source == "official" and (folder / DSPRITES_FILE).read_bytes() == official
    assert isinstance(arrays["imgs"], np.memmap)
    assert arrays["imgs"].filename == str(folder / images_path(DSPRITES_FILE))
    assert np.array_equal(arrays["imgs"], subset["imgs"])


READ_ONLY_OFFICIAL = """
from utils.datasets import load_dsprites_arrays
arrays, source = load_dsprites_arrays(os.path.join(DATA, "dsprites"), allow_download=False)
print(source, type(arrays["imgs"]).__name__, int(arrays["imgs"].sum()))
"""


def test_a_read_only_folder_without_the_image_file_reads_the_npz_into_memory(tmp_path, subset):
    staged = tmp_path / "staged"
    old_layout_folder(staged, subset, DSPRITES_FILE, np.savez_compressed)
    code, out, err, _ = run_on_read_only_copy(tmp_path, staged, READ_ONLY_OFFICIAL)
    assert code == 0, err
    assert out == f"official ndarray {int(subset['imgs'].sum())}\n"
    assert "reading the images into memory instead" in err


def test_a_preprocessed_cache_of_the_former_layout_is_converted_without_rebuilding(tmp_path):
    images = np.arange(2 * 3 * 4 * 4, dtype=np.uint8).reshape(2, 3, 4, 4)
    path = tmp_path / "cache.npz"
    np.savez(path, images=images, names=np.array(["a.png", "b.png"]))

    def build():
        raise AssertionError("the cache was rebuilt")
    cached = cached_images(str(path), ["a.png", "b.png"], build)
    assert isinstance(cached, np.memmap) and not cached.flags.writeable
    assert np.array_equal(cached, images)
    with np.load(path) as npz:
        assert npz.files == ["names"]
    assert np.array_equal(cached_images(str(path), ["a.png", "b.png"], build), images)


HOLDER = """
import sys, torch
from utils.datasets import get_dataset
data = get_dataset("dsprites", root=sys.argv[1], allow_download=False)
data.batch(torch.arange(len(data)))  # read every image
print("ready", flush=True)
sys.stdin.read()
"""


def mapping_counters(pid, path):
    """{counter: kB} of the mapping of the file at path in /proc/<pid>/smaps."""
    counters, inside = {}, False
    with open(f"/proc/{pid}/smaps") as handle:
        for line in handle:
            fields = line.split()
            if "-" in fields[0] and len(fields[0].split("-")) == 2 and ":" not in fields[0]:
                inside = fields[-1] == path
            elif inside and fields[0].endswith(":") and fields[-1] == "kB":
                counters[fields[0][:-1]] = counters.get(fields[0][:-1], 0) + int(fields[1])
    return counters


def test_two_processes_share_one_copy_of_the_images(tmp_path, subset):
    old_layout_folder(tmp_path, subset)
    get_dataset("dsprites", root=str(tmp_path), allow_download=False)  # convert once
    path = str(tmp_path / "dsprites" / images_path(DSPRITES_PROCEDURAL_FILE))
    holders = [subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], cwd=REPO,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True) for _ in range(2)]
    try:
        for holder in holders:
            assert holder.stdout.readline() == "ready\n"
        time.sleep(0.1)
        size_kb = N_IMAGES * 64 * 64 // 1024
        for holder in holders:
            counters = mapping_counters(holder.pid, path)
            # every page of the images is mapped, shared with the other process, not private
            assert counters["Rss"] >= 0.95 * size_kb, counters
            # (shared pages of a file just written are dirty until written back)
            shared = counters["Shared_Clean"] + counters["Shared_Dirty"]
            assert shared >= 0.95 * size_kb, counters
            assert counters["Private_Dirty"] == 0 and counters["Anonymous"] == 0, counters
            assert counters["Pss"] <= 0.55 * size_kb, counters  # half of each shared page
    finally:
        for holder in holders:
            holder.stdin.close()
            holder.wait(timeout=60)
