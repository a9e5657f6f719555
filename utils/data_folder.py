"""Making dataset files safely: in a folder checked writable first, by one process at a time.

Rendering dSprites, downloading an archive, unpacking idx files and building a preprocessed
cache each take seconds to hours. Two runs started together on an empty data folder must not
write the same temporary file, and the second must reuse what the first made; a read-only
data folder must be named before any work, not after rendering 3 GB.

`prepare_once(target, make)` does both: unless `target` exists, it checks that the target's
folder is writable (a one-line DatasetUnavailable naming the folder and the fix), takes an
exclusive lock on `<target>.lock` (fcntl.flock, released by the operating system if the
process dies), checks again whether the target exists (made meanwhile by another process)
and only then calls make(). The holder removes the lock file on release, so finished data
folders hold no lock files; a process that was waiting on the removed file notices that the
file it locked is no longer the one at that path and locks the current one instead.
"""
import contextlib
import fcntl
import logging
import os
import tempfile

logger = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"


class DatasetUnavailable(RuntimeError):
    """A dataset is neither on disk nor downloadable; the message says where to put it."""


class FolderNotWritable(DatasetUnavailable):
    """A file must be made in a folder that cannot be written; the message names the fix."""


def check_writable(folder, purpose):
    """Create folder if needed and check that a file can be created in it.

    purpose completes "cannot write to <folder> to ..." (e.g. "render dSprites"). A file is
    really created and removed, since permission bits do not stop root while a read-only
    mount stops everyone.
    """
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise FolderNotWritable(
            f"cannot write to {os.path.abspath(folder)} to {purpose} ({error.strerror}): make "
            f"the folder writable, or choose another data folder with --data-dir") from None


def _holder(descriptor):
    """The PID written in a lock file by its holder, or '?' when there is none yet."""
    return os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "?"


def _is_current(descriptor, path):
    """Whether the open lock file is still the file at path (its holder may have removed it)."""
    try:
        return os.path.samestat(os.fstat(descriptor), os.stat(path))
    except FileNotFoundError:
        return False


def _acquire(path):
    """An open descriptor of the lock file at path, exclusively locked, holding our PID."""
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                logger.warning("waiting for process %s, which is making %s",
                               _holder(descriptor), path[:-len(LOCK_SUFFIX)])
                fcntl.flock(descriptor, fcntl.LOCK_EX)
            if _is_current(descriptor, path):
                os.ftruncate(descriptor, 0)
                os.pwrite(descriptor, str(os.getpid()).encode(), 0)
                return descriptor
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)


@contextlib.contextmanager
def exclusive_lock(target, purpose):
    """Hold the lock of target (a file or folder to be made) after checking its folder is
    writable; purpose as for check_writable."""
    path = os.path.abspath(target) + LOCK_SUFFIX
    check_writable(os.path.dirname(path), purpose)
    descriptor = _acquire(path)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        os.close(descriptor)


def prepare_once(target, make, purpose, ready=None):
    """make() under the lock of target unless ready() holds, before or once locked.

    ready defaults to "target exists". Returns make()'s result, or None when the data was
    ready already (possibly made by another process meanwhile).
    """
    ready = ready or (lambda: os.path.exists(target))
    if ready():
        return None
    with exclusive_lock(target, purpose):
        if ready():
            return None
        return make()
