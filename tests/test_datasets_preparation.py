"""Preparing dataset files: two processes at once make a file once and both use it, a killed
holder frees its lock, and a read-only data folder is named in one line before any work."""
import gzip
import hashlib
import signal
import subprocess
import sys

import pytest

from datasets_support import (REPO, child_script, file_server,  # noqa: F401 (a fixture)
                              lay_out_mnist_test_split, run_on_read_only_copy, run_together)
from utils.array_cache import images_path
from utils.data_folder import prepare_once
from utils.datasets import DSPRITES_PROCEDURAL_FILE, load_dsprites_arrays
from utils.download import DatasetUnavailable

RENDER_ONCE = """
from utils import datasets, dsprites_procedural
real_render = dsprites_procedural.render_dsprites

def small_and_slow(latents_classes=None):
    with open(LOG, "a") as log:
        log.write("render\\n")
    time.sleep(1.0)
    return real_render(dsprites_procedural.grid_classes()[:64])

dsprites_procedural.render_dsprites = small_and_slow
together()
arrays, source = datasets.load_dsprites_arrays(ROOT, allow_download=False)
print(source, len(arrays["imgs"]), int(arrays["imgs"].sum()))
"""


def assert_all_succeeded(results):
    for code, _, err in results:
        assert code == 0, err


def test_two_first_runs_render_dsprites_once_and_both_use_it(tmp_path):
    root, log = tmp_path / "data" / "dsprites", tmp_path / "renders.log"
    results = run_together(tmp_path, RENDER_ONCE, ROOT=str(root), LOG=str(log))
    assert_all_succeeded(results)
    assert log.read_text() == "render\n"
    outputs = {out for _, out, _ in results}
    assert len(outputs) == 1 and outputs.pop().startswith("procedural 64 ")
    assert sorted(path.name for path in root.iterdir()) == [
        DSPRITES_PROCEDURAL_FILE, images_path(DSPRITES_PROCEDURAL_FILE)]


DOWNLOAD_ONCE = """
from utils.download import download
together()
download(URL, TARGET, md5=MD5)
print(open(TARGET, "rb").read() == bytes(range(256)) * 4000)
"""


def test_two_processes_download_a_file_once_and_both_use_it(file_server, tmp_path):
    payload = bytes(range(256)) * 4000
    file_server.files["/data.bin"] = payload
    target = tmp_path / "data" / "data.bin"
    results = run_together(tmp_path, DOWNLOAD_ONCE, URL=file_server.url("/data.bin"),
                           TARGET=str(target), MD5=hashlib.md5(payload).hexdigest())
    assert_all_succeeded(results)
    assert [out for _, out, _ in results] == ["True\n", "True\n"]
    assert len(file_server.requests) == 1
    assert [path.name for path in target.parent.iterdir()] == ["data.bin"]


CACHE_ONCE = """
import numpy as np
from utils.datasets_preprocess import cached_images

def slow_build():
    with open(LOG, "a") as log:
        log.write("build\\n")
    time.sleep(1.0)
    return np.arange(24, dtype=np.uint8).reshape(2, 1, 3, 4)

together()
print(int(cached_images(CACHE, ["a.png", "b.png"], slow_build).sum()))
"""


def test_two_processes_build_a_preprocessed_cache_once_and_both_use_it(tmp_path):
    cache, log = tmp_path / "cache" / "images_64.npz", tmp_path / "builds.log"
    cache.parent.mkdir()
    results = run_together(tmp_path, CACHE_ONCE, CACHE=str(cache), LOG=str(log))
    assert_all_succeeded(results)
    assert [out for _, out, _ in results] == [f"{sum(range(24))}\n"] * 2
    assert log.read_text() == "build\n"
    assert sorted(path.name for path in cache.parent.iterdir()) == [
        cache.name, images_path(cache.name)]


HOLD_LOCK = """
from utils.data_folder import exclusive_lock
with exclusive_lock(TARGET, "test"):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_killed_holder_leaves_its_lock_free(tmp_path):
    target = tmp_path / "made.bin"
    script = child_script(tmp_path / "hold.py", HOLD_LOCK, TARGET=str(target))
    holder = subprocess.Popen([sys.executable, str(script)], cwd=REPO, text=True,
                              stdout=subprocess.PIPE)
    assert holder.stdout.readline() == "locked\n"
    assert (tmp_path / "made.bin.lock").read_text() == str(holder.pid)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    made = prepare_once(str(target), lambda: target.write_bytes(b"x") and "made", "test")
    assert made == "made" and target.read_bytes() == b"x"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hold.py", "made.bin"]
    assert prepare_once(str(target), lambda: pytest.fail("made twice"), "test") is None


READ_ONLY_DSPRITES = """
from utils import datasets, dsprites_procedural

def never(*args, **kwargs):
    raise AssertionError("rendered although the data folder is read-only")

dsprites_procedural.render_dsprites = never
try:
    datasets.get_dataset("dsprites", root=DATA, allow_download=False)
except datasets.DatasetUnavailable as error:
    print(error)
"""


def test_read_only_dsprites_folder_is_named_before_rendering(tmp_path):
    staged = tmp_path / "staged"
    (staged / "dsprites").mkdir(parents=True)
    code, out, err, data = run_on_read_only_copy(tmp_path, staged, READ_ONLY_DSPRITES)
    assert code == 0, err
    message = out.strip()
    assert "\n" not in message
    assert message.startswith(f"cannot write to {data / 'dsprites'} to fetch or render dSprites")
    assert "make the folder writable" in message and "--data-dir" in message


READ_MNIST = """
from utils.datasets import DatasetUnavailable, get_dataset
try:
    print(len(get_dataset("mnist", "test", root=DATA, allow_download=False)))
except DatasetUnavailable as error:
    print(error)
"""


def test_read_only_mnist_folder_names_the_real_problem_or_reads_the_files(shared_data,
                                                                          tmp_path):
    staged = tmp_path / "staged"
    raw = lay_out_mnist_test_split(shared_data, staged)
    code, out, err, data = run_on_read_only_copy(tmp_path / "gz", staged, READ_MNIST)
    assert code == 0, err
    message = out.strip()
    assert "corrupt" not in message and "\n" not in message
    folder = data / raw.relative_to(staged)
    assert message.startswith(f"mnist: cannot write to {folder} to unpack ")
    assert "make the folder writable" in message
    for archive in raw.glob("*.gz"):
        archive.with_suffix("").write_bytes(gzip.decompress(archive.read_bytes()))
    code, out, err, _ = run_on_read_only_copy(tmp_path / "unpacked", staged, READ_MNIST)
    assert (code, out) == (0, "10000\n"), err


@pytest.mark.parametrize("content, reason", [
    (b"garbage" * 100, "not a valid npz file"),
    (b"", "not a valid npz file"),
])
def test_a_file_that_is_no_npz_is_named_so(tmp_path, content, reason):
    folder = tmp_path / "dsprites"
    folder.mkdir()
    (folder / DSPRITES_PROCEDURAL_FILE).write_bytes(content)
    with pytest.raises(DatasetUnavailable) as error:
        load_dsprites_arrays(str(folder), allow_download=False)
    message = str(error.value)
    assert reason in message and "allow_pickle" not in message and "\n" not in message
    assert str(folder / DSPRITES_PROCEDURAL_FILE) in message and "delete it" in message
    assert [path.name for path in folder.iterdir()] == [DSPRITES_PROCEDURAL_FILE]
