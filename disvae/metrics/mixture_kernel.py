"""Build, load and call the fused C kernel of `mixture_kernel.c`.

The sampled-entropy MIG spends all its time in sums of the form
sum_m N(z_s; mu_m, var_m) over hundreds of thousands of mixture components for thousands of
samples (about 4.4e11 Gaussian densities on dSprites). Vectorised torch materialises each
S x M block, runs about six elementwise passes over it and reaches only about 2.6e8 densities
per second on two cores; the C kernel keeps every term in registers and reaches 2.4e9 to 4e9
(measured on two shared AVX2 cores, bench/bench_metrics.py).

The source is compiled once per process with the system C compiler (``$CC``, else ``cc``)
into a temporary folder and loaded with ctypes; no build step, no cache that could go stale
across machines (``-march=native``). Where no compiler works, `load_kernel` returns None and
callers fall back to torch. Set ``DISVAE_NO_C_KERNEL=1`` to force that fallback.

Threads: the samples are split into contiguous ranges, one per thread of a thread pool
(ctypes releases the GIL during the call); the count follows ``torch.get_num_threads()``.
"""
import ctypes
import os
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

SOURCE = Path(__file__).with_name("mixture_kernel.c")
LANES = 8  # components are processed 8 at a time; callers pad to a multiple
COMPILE_FLAG_SETS = (["-O3", "-march=native"], ["-O3"])

_lock = threading.Lock()
_state = {"loaded": False, "function": None, "error": None}


def _compile(workdir):
    compiler = os.environ.get("CC", "cc")
    errors = []
    for flags in COMPILE_FLAG_SETS:
        library = Path(workdir) / "mixture_kernel.so"
        command = [compiler, *flags, "-shared", "-fPIC", "-o", str(library), str(SOURCE)]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=120)
            return library
        except (OSError, subprocess.SubprocessError) as error:
            stderr = getattr(error, "stderr", b"") or b""
            errors.append(f"{' '.join(command)}: {error} {stderr.decode(errors='replace')[:200]}")
    raise RuntimeError("; ".join(errors))


def load_kernel():
    """The compiled `mixture_exp2_sums` as a ctypes function, or None if it cannot be built."""
    with _lock:
        if not _state["loaded"]:
            _state["loaded"] = True
            if os.environ.get("DISVAE_NO_C_KERNEL"):
                _state["error"] = "disabled by DISVAE_NO_C_KERNEL"
            else:
                workdir = tempfile.mkdtemp(prefix="disvae_kernel_")
                try:
                    library = ctypes.CDLL(str(_compile(workdir)))
                    function = library.mixture_exp2_sums
                    pointer, int64 = ctypes.c_void_p, ctypes.c_int64
                    function.argtypes = [pointer, pointer, pointer, int64, int64,
                                         pointer, pointer, pointer, int64, pointer]
                    function.restype = None
                    _state["function"] = function
                except (OSError, RuntimeError) as error:
                    _state["error"] = str(error)
                finally:
                    shutil.rmtree(workdir, ignore_errors=True)  # the loaded library stays mapped
        return _state["function"]


def kernel_error():
    """Why `load_kernel` returned None (None when it loaded)."""
    load_kernel()
    return _state["error"]


def _float32(array):
    return np.ascontiguousarray(array, dtype=np.float32)


def shifted_exp2_sums(z, shift, mu, neg_half_log2e_prec, log2_norm, n_threads=None):
    """sum_m 2^(t_sm - shift_s) for one latent dimension, computed by the C kernel.

    t_sm = neg_half_log2e_prec[m] * (z[s] - mu[m])^2 + log2_norm[m] is log2 of the Gaussian
    density N(z_s; mu_m, var_m) when neg_half_log2e_prec = -log2(e) / (2 var) and
    log2_norm = -log2(2 pi var) / 2. `shift` (S,) holds integers; the caller must ensure
    max_m t_sm - shift_s < 127 and that some term is above 2^-100 (see `mixture_kernel.c`).
    Component arrays of any length M; they are padded here to a multiple of 8 with
    components of weight 2^-125 relative to the shift, a negligible bias.
    Returns float64 (S,). Memory: 12 bytes per component and 16 per sample beyond inputs.
    """
    function = load_kernel()
    if function is None:
        raise RuntimeError(f"the C mixture kernel is unavailable: {_state['error']}")
    shift = np.asarray(shift, dtype=np.float64)
    assert np.all(shift == np.round(shift)) and np.all(np.abs(shift) < 2 ** 21)
    n_components = len(mu)
    padded = -(-n_components // LANES) * LANES
    pad = padded - n_components

    def padded32(values, fill):
        out = np.full(padded, fill, dtype=np.float32)
        out[:n_components] = values
        return out

    mu32 = padded32(mu, 0.0)
    prec32 = padded32(neg_half_log2e_prec, 0.0)
    norm32 = padded32(log2_norm, -1e30)
    z32 = _float32(z)
    magic32 = _float32(1.5 * 2 ** 23 - shift)
    low32 = _float32(shift - 125.0)
    sums = np.zeros(len(z32), dtype=np.float64)
    n_samples = len(z32)
    n_threads = max(1, min(n_threads or torch.get_num_threads(), n_samples // 2 or 1))
    bounds = np.linspace(0, n_samples, n_threads + 1).astype(np.int64)
    bounds[1:-1] -= bounds[1:-1] % 2  # even ranges keep the kernel on its two-sample path

    def call(begin, end):
        function(z32.ctypes.data, magic32.ctypes.data, low32.ctypes.data, int(begin), int(end),
                 mu32.ctypes.data, prec32.ctypes.data, norm32.ctypes.data, padded,
                 sums.ctypes.data)

    if n_threads == 1:
        call(0, n_samples)
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            for future in [pool.submit(call, bounds[i], bounds[i + 1]) for i in range(n_threads)]:
                future.result()
    if pad:
        sums -= pad * np.exp2(-125.0)
    return sums
