"""Helpers of the dataset tests: small files in the official on-disk formats, the real test
data laid out where the loaders look, a local HTTP server, and main.main as a function."""
import gzip
import http.server
import io
import shutil
import struct
import tarfile
import threading

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

