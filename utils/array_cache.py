"""Image arrays cached as raw .npy files and opened memory-mapped, read-only.

A dataset's uint8 images (3 GB for dSprites, 2.5 GB for CelebA, 5.9 GB for 3D Shapes) are
cached once as an uncompressed .npy file and every process opens that file with
np.load(mmap_mode="r"): the images are then pages of the operating system's page cache, read
on first touch, and all processes on one machine that train or evaluate on the same data
(bin scripts' -j, `utils.sweep -j`, torchrun's processes) share one copy instead of holding
one private copy each. An .npz cannot be mapped (its members are zip entries, compressed or
not), so only the small metadata (factor tables, file names) stays in .npz files.

The mapping is read-only: writing to the numpy array raises ValueError, and the file on disk
can never be changed by a run. `as_tensor` hands torch a tensor on the same pages without a
copy, for batches drawn by tensor indexing; such a tensor must never be written in place (a
write to a read-only page stops the process), which nothing in the toolkit does: batches are
always new float tensors.
"""
import os
import warnings

import numpy as np
import torch

from disvae.utils.run_folder import write_atomically
from utils.data_folder import DatasetUnavailable

NPY_SUFFIX = ".npy"


def save_array(path, array):
    """Write array to path as a raw .npy file, atomically."""
    def write(partial):
        with open(partial, "wb") as handle:
            np.save(handle, np.ascontiguousarray(array))
    return write_atomically(path, write)


def save_npz(path, **arrays):
    """Write small arrays (a cache's metadata) to path as an uncompressed npz, atomically."""
    return write_atomically(path, lambda partial: np.savez(partial, **arrays))


def open_array(path, shape_tail=None):
    """The array of the .npy file at path, memory-mapped read-only.

    shape_tail: the expected shape after the first axis (e.g. (64, 64)), checked along with
    the dtype uint8. A file that cannot be mapped (truncated, not an .npy) or of another
    layout is a one-line DatasetUnavailable naming it and the fix.
    """
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise DatasetUnavailable(f"{path} is corrupt or truncated ({error}): delete it and run "
                                 f"again to make it anew") from None
    if array.dtype != np.uint8 or (shape_tail is not None and array.shape[1:] != shape_tail):
        raise DatasetUnavailable(f"{path} holds {array.dtype} {array.shape}, not uint8 images "
                                 f"(N, {', '.join(map(str, shape_tail or ('...',)))}): delete it "
                                 f"and run again to make it anew")
    return array


def as_tensor(array):
    """A uint8 tensor on the memory of a numpy array (a read-only memory map too), no copy.

    torch warns that it cannot protect a read-only array from writes; the toolkit never
    writes to dataset images, so the warning is silenced here, for this call only.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


def images_path(path):
    """The .npy file beside a cache's metadata file: '<stem>_images.npy'."""
    return os.path.splitext(path)[0] + "_images" + NPY_SUFFIX
