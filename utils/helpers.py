"""Small helpers of the command-line programs: seeding, devices, run folders, provenance."""
import datetime
import importlib.metadata
import os
import random
import shutil
import subprocess
import zipfile

import numpy as np
import torch

RECORDED_PACKAGES = ("torch", "torchvision", "numpy", "scipy", "scikit-learn")


class RunFolderError(RuntimeError):
    """A results folder that cannot be used; the message names the fix."""


def set_seed(seed):
    """Seed Python, NumPy and PyTorch (all devices) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def get_device(no_cuda=False):
    return torch.device("cuda" if torch.cuda.is_available() and not no_cuda else "cpu")


def check_writable(directory):
    """Create directory if needed; a one-line error if it cannot be written to."""
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as error:
        raise RunFolderError(f"cannot create {directory} ({error.strerror}): choose another "
                             f"folder with --results-dir or fix its permissions") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise RunFolderError(f"cannot write to {directory}: choose another folder with "
                             f"--results-dir or fix its permissions")


def archive_run(directory):
    """Zip an existing run folder beside it under a new, unused name, then empty it.

    Returns the archive path (None when there was nothing to archive). Nothing is deleted
    before the archive is complete, and no earlier archive is ever overwritten.
    """
    if not os.path.isdir(directory) or not os.listdir(directory):
        return None
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{directory.rstrip(os.sep)}-{stamp}"
    archive, n = base + ".zip", 1
    while os.path.exists(archive):
        archive, n = f"{base}-{n}.zip", n + 1
    partial = archive + ".part"
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as handle:
            for root, _, files in os.walk(directory):
                for name in files:
                    path = os.path.join(root, name)
                    handle.write(path, os.path.relpath(path, os.path.dirname(directory)))
        os.replace(partial, archive)
    except OSError as error:
        if os.path.exists(partial):
            os.remove(partial)
        raise RunFolderError(f"cannot archive the earlier run in {directory} ({error.strerror}):"
                             f" free disk space or use another run name; it is untouched") from None
    shutil.rmtree(directory)
    return archive


def package_versions():
    versions = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit():
    """The current commit of the code, or None outside a git checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None
