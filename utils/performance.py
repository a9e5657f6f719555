"""Speed settings of the command-line programs: the memory allocator and the model's layout,
precision and compilation. None of them changes what is computed, only how fast.

Allocator: a training step allocates and frees the same few large activation buffers (up to
tens of MB) every step. glibc serves blocks above its mmap threshold (128 KB, rising
dynamically to at most 32 MB) with fresh mmap calls and returns freed memory above the trim
threshold to the kernel, so every step pays page faults to get the same memory back: about
30% of a CPU training step (bench/RESULTS.md). Raising both thresholds keeps the buffers in
the process's heap for reuse. `tune_allocator` does this at run time through mallopt(3), the
run-time form of the MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ environment variables;
blocks freed earlier are unaffected, so the programs call it first thing. A user who set
glibc's malloc variables (or GLIBC_TUNABLES) keeps them: nothing is changed then.

Model (`speed_up_model`): channels-last memory format (NHWC) for the convolutions, faster
with oneDNN on CPUs and with cuDNN on GPUs, equal to the default layout within float
rounding (the sums run in another order); optional bfloat16 autocast of the encoder and
decoder networks (`VAE.autocast_dtype`, Micikevicius et al. 2018 "Mixed precision
training"; the losses stay float32); optional torch.compile of the model's forward.
"""
import ctypes
import os
import platform

import torch

M_TRIM_THRESHOLD = -1  # mallopt parameter numbers, from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
# Above a training step's largest buffers (about 34 MB at batch 256) and an evaluation batch's
# (about 130 MB at 1,000 images); larger, rarer blocks are still mapped and given back at once.
MMAP_THRESHOLD_BYTES = 256 << 20
TRIM_THRESHOLD_BYTES = 256 << 20  # free memory at the top of the heap kept for reuse
USER_MALLOC_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def tune_allocator():
    """Raise glibc's mmap and trim thresholds for this process (see the module docstring).

    Returns True when both were set; False, changing nothing, where the C library is not
    glibc or the environment already sets glibc's malloc options.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(name in os.environ for name in USER_MALLOC_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
            and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1)


def speed_up_model(model, channels_last=True, amp=False, compile=False):
    """Apply the model speed options to a VAE in place and return it.

    channels_last: convolution weights in NHWC layout (batches follow: oneDNN and cuDNN pick
    the weights' layout); amp: encoder and decoder under bfloat16 autocast; compile:
    torch.compile of the forward (the state_dict keeps its keys, so checkpoints are
    unchanged).
    """
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if amp:
        model.autocast_dtype = torch.bfloat16
    if compile:
        model.compile()
    return model
