"""Helpers of the dataset tests: small files in the official on-disk formats, the real test
data laid out where the loaders look, a local HTTP server, main.main as a function, and fresh
interpreters run side by side or on a read-only data folder."""
import gzip
import http.server
import io
import os
import shlex
import shutil
import struct
import subprocess
import sys
import tarfile
import textwrap
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

import main

# Nothing listens on port 1 of the loopback: a download there fails at once, offline.
DEAD_URL = "http://127.0.0.1:1/"
MNIST_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
SHAPES3D_VALUES = (np.linspace(0, 1, 10, endpoint=False),) * 3 + (
    np.linspace(0.75, 1.25, 8), np.arange(4.0), np.linspace(-30, 30, 15))


def run_main(capsys, *argv):
    """Run main.main; returns (exit message or None, captured stderr)."""
    try:
        main.main([str(arg) for arg in argv])
        message = None
    except SystemExit as stop:
        message = str(stop.code)
    return message, capsys.readouterr().err


def assert_one_line_error(message, *parts):
    """The message is one `error: ...` line containing every part."""
    assert message is not None and message.startswith("error: ") and "\n" not in message
    for part in parts:
        assert str(part) in message, (part, message)


# ------------------------------------------------------------------------------ MNIST formats

def idx_bytes(array):
    """An array in the idx format of MNIST (big-endian header, unsigned bytes)."""
    header = struct.pack(">I", 0x0800 | array.ndim)
    header += b"".join(struct.pack(">I", size) for size in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx_split(folder, prefix, images, labels):
    """Write <prefix>-images-idx3-ubyte.gz and <prefix>-labels-idx1-ubyte.gz in folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
        (folder / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(idx_bytes(array)))


def lay_out_mnist_test_split(shared_data, data_dir):
    """The real MNIST test split under both the train and the test names, where
    torchvision's class looks (data_dir/mnist/MNIST/raw)."""
    raw = data_dir / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for kind in ("images-idx3", "labels-idx1"):
        for prefix in ("train", "t10k"):
            shutil.copyfile(shared_data / "mnist" / f"t10k-{kind}-ubyte.gz",
                            raw / f"{prefix}-{kind}-ubyte.gz")
    return raw


def copy_celeba_images(shared_data, data_dir):
    """The 32 real CelebA images in data_dir/celeba/img_align_celeba (writable copies)."""
    target = data_dir / "celeba" / "img_align_celeba"
    shutil.copytree(shared_data / "celeba" / "img_align_celeba", target,
                    copy_function=shutil.copyfile)
    return target


# ----------------------------------------------------------------------- 3D Chairs format

def chair_render(shade, rgba=False):
    """A 600x600 render: white background, a chair-like block of grey `shade` in the centre,
    and black marks in the outer 100-pixel frame that the 400x400 centre crop must remove."""
    pixels = np.full((600, 600, 4), 255, dtype=np.uint8)
    pixels[200:400, 250:350, :3] = shade
    pixels[:100, :100, :3] = 0
    pixels[520:, 300:, :3] = 0
    if rgba:
        pixels[..., 3] = 0
        pixels[200:400, 250:350, 3] = 255
    image = Image.fromarray(pixels, "RGBA")
    buffer = io.BytesIO()
    (image if rgba else image.convert("RGB")).save(buffer, format="PNG")
    return buffer.getvalue()


def write_chairs_tar(path, n_chairs=3, n_views=2, rgba=False):
    """rendered_chairs.tar in the official layout; returns the render names in name order.

    Chair c is drawn in grey 40 * c + 20 so images can be told apart.
    """
    names = []
    with tarfile.open(path, "w") as tar:
        add_member(tar, "rendered_chairs/all_chair_names.mat", b"not a render")
        for chair in range(n_chairs):
            render = chair_render(40 * chair + 20, rgba)
            for view in range(n_views):
                name = f"chair{chair:02d}/renders/image_{view:03d}_p020_t000_r096.png"
                add_member(tar, f"rendered_chairs/{name}", render)
                names.append(name)
    return sorted(names)


def add_member(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


# ---------------------------------------------------------------------- 3D Shapes format

def write_shapes3d_h5(path, picks=((0, 5), (0, 9), (3, 4), (0, 7), (0, 3), (0, 7, 14)), seed=0):
    """3dshapes.h5 with the official keys over a sub-grid of the official factor values
    (picks: the indices of the values kept per factor, orientation varying fastest).

    Returns (images (N, 64, 64, 3) uint8, labels (N, 6) float64) as written.
    """
    grid = np.stack(np.meshgrid(*[values[list(pick)] for values, pick in
                                  zip(SHAPES3D_VALUES, picks)], indexing="ij"), axis=-1)
    labels = grid.reshape(-1, len(picks))
    images = np.random.default_rng(seed).integers(0, 256, (len(labels), 64, 64, 3),
                                                  dtype=np.uint8)
    with h5py.File(path, "w") as handle:
        handle.create_dataset("images", data=images, compression="gzip", chunks=(8, 64, 64, 3))
        handle.create_dataset("labels", data=labels)
    return images, labels


# ----------------------------------------------------------------------- local HTTP server

class FileServer:
    """A loopback HTTP server of in-memory files, for download tests.

    files: {path: bytes}; cut: paths whose next response stops halfway (an interrupted
    download); ranges: whether Range requests are honoured; requests: (path, Range header).
    """

    def __init__(self):
        self.files, self.cut, self.ranges, self.requests = {}, set(), True, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                if self.path not in server.files:
                    self.send_error(404)
                    return
                data, start = server.files[self.path], 0
                if server.ranges and self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].rstrip("-"))
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if self.path in server.cut:
                    server.cut.discard(self.path)
                    body = body[:len(body) // 2]
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def file_server():
    """A running FileServer, shut down after the test."""
    server = FileServer()
    yield server
    server.close()



# ------------------------------------------------------------------ fresh interpreters

REPO = Path(__file__).resolve().parents[1]
CHILD_TIMEOUT_S = 300


def child_script(path, body, **constants):
    """Write a Python script: the repository importable, `constants` as module-level names
    (their repr), then the dedented body."""
    lines = ["import os, sys, time", f"sys.path.insert(0, {str(REPO)!r})"]
    lines += [f"{name} = {value!r}" for name, value in constants.items()]
    path.write_text("\n".join(lines) + "\n" + textwrap.dedent(body))
    return path


def run_together(tmp_path, body, n_processes=2, **constants):
    """Run body in n_processes fresh interpreters at once; returns [(exit code, stdout,
    stderr)]. body calls `together()` after its imports: it returns in every process once all
    have called it, so what follows runs concurrently."""
    sync = tmp_path / "together"
    sync.mkdir()
    barrier = f"""
    def together():
        open(os.path.join({str(sync)!r}, str(os.getpid())), "w").close()
        while len(os.listdir({str(sync)!r})) < {n_processes}:
            time.sleep(0.01)
    """
    script = child_script(tmp_path / "together.py", textwrap.dedent(barrier) +
                          textwrap.dedent(body), **constants)
    children = [subprocess.Popen([sys.executable, str(script)], cwd=REPO, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for _ in range(n_processes)]
    outputs = [child.communicate(timeout=CHILD_TIMEOUT_S) for child in children]
    return [(child.returncode, *output) for child, output in zip(children, outputs)]


def read_only_mount_works():
    """Whether this machine lets an unprivileged mount namespace mount a read-only tmpfs."""
    try:
        return subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c",
                               "mount -t tmpfs none /mnt && mount -o remount,ro /mnt"],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


SIMULATED_READ_ONLY = """
import errno, tempfile
_temporary_file = tempfile.TemporaryFile
def _read_only_below_data(*args, dir=None, **kwargs):
    if dir is not None and os.path.abspath(dir).startswith(DATA):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    return _temporary_file(*args, dir=dir, **kwargs)
tempfile.TemporaryFile = _read_only_below_data
"""


def run_on_read_only_copy(tmp_path, staged, body):
    """Run body in a fresh interpreter that sees a read-only copy of the folder `staged` at the
    path in its constant DATA; returns (exit code, stdout, stderr, DATA).

    Permission bits do not stop root, so the copy is a tmpfs mounted read-only in a private
    mount namespace (unshare), which stops every user. Where namespaces are not allowed, a
    non-root user gets a copy without write permission, and root, as a last resort, a copy on
    which creating a temporary file fails as on a read-only file system (simulated).
    """
    data = tmp_path / "read-only"
    data.mkdir(parents=True)
    command = [sys.executable, str(tmp_path / "read_only.py")]
    if read_only_mount_works():
        prelude = ""
        mount = (f"mount -t tmpfs none {shlex.quote(str(data))} && "
                 f"cp -r {shlex.quote(str(staged))}/. {shlex.quote(str(data))} && "
                 f"mount -o remount,ro {shlex.quote(str(data))} && exec {shlex.join(command)}")
        command = ["unshare", "--mount", "--map-root-user", "sh", "-c", mount]
    else:
        shutil.copytree(staged, data, dirs_exist_ok=True)
        prelude = SIMULATED_READ_ONLY if os.geteuid() == 0 else ""
        for folder, _, _ in os.walk(data):
            os.chmod(folder, 0o555)
    child_script(tmp_path / "read_only.py", prelude + textwrap.dedent(body), DATA=str(data))
    done = subprocess.run(command, cwd=REPO, text=True, capture_output=True,
                          timeout=CHILD_TIMEOUT_S)
    return done.returncode, done.stdout, done.stderr, data
