"""The run folder `<results>/<name>/`: its file names, who may write to it, and how.

Three rules keep a user's results safe:

- A run name is one plain path component, so the run folder always lies strictly inside the
  results folder and replacing a run can never delete anything else (`run_folder`).
- One process owns a run folder at a time (`RunLock`): an exclusive lock on its `.lock` file,
  held for the whole process and released by the operating system when the process ends,
  however it ends. A second process is refused with the holder's process id.
- Every file is written under a unique temporary name in the same folder and renamed over the
  final name (`write_atomically`), so a process killed while writing leaves the previous
  version intact, and two writers never share a temporary file.

Imports no torch, so that readers of run folders start fast.
"""
import datetime
import errno
import fcntl
import json
import os
import shutil
import tempfile
import zipfile

SPECS_FILE = "specs.json"
MODEL_FILE = "model.pt"
LOSS_STATE_FILE = "loss_state.pt"  # trained state of the objective (FactorVAE's discriminator)
CHECKPOINT_FILE = "checkpoint.pt"
TRAIN_LOSSES_FILE = "train_losses.log"
TRAIN_STEPS_FILE = "train_steps.log"
TEST_LOSSES_FILE = "test_losses.log"
METRICS_FILE = "metrics.log"
LOCK_FILE = ".lock"
# the first lines of the two losses logs (rows: <epoch or step>,<term>,<mean>)
LOSSES_HEADER = "Epoch,Loss,Value"
STEPS_HEADER = "Step,Loss,Value"


class CheckpointError(RuntimeError):
    """A model or checkpoint file that cannot be used; the message names the fix."""


class RunFolderError(RuntimeError):
    """A run name or results folder that cannot be used; the message names the fix."""


def check_run_name(name):
    """RunFolderError unless name is one plain path component (not '', '.', '..', no
    separator, no NUL byte)."""
    separators = [sep for sep in (os.sep, os.altsep) if sep]
    if (not name or name in (".", "..") or "\0" in name
            or any(sep in name for sep in separators)):
        raise RunFolderError(f"run name {name!r} is not a plain folder name: use letters, digits, "
                             f"'-', '_' or '.', without '/', and not '.' or '..'")
    return name


def run_folder(results_dir, name):
    """The path of run `name` under results_dir, checked to lie strictly inside it (a run
    folder that is a link elsewhere, or a file, is refused)."""
    path = os.path.join(results_dir, check_run_name(name))
    if os.path.lexists(path) and not os.path.isdir(path):
        raise RunFolderError(f"{path} exists and is not a folder: move it away or choose "
                             f"another run name")
    if os.path.islink(path):
        raise RunFolderError(f"{path} is a link to {os.path.realpath(path)}: a run folder must "
                             f"lie inside the results folder; replace the link by a folder")
    return path


def write_atomically(path, write):
    """Call write(temporary_path) for a unique temporary file beside path, then rename it
    over path; the temporary file is removed if anything fails. Returns path.

    The temporary name keeps path's extension, for writers that choose a format by it. The
    file gets the permissions open() would give it (the umask's), not the temporary file's
    private 0600, so that results stay readable by the user's group as before.
    """
    folder, filename = os.path.split(path)
    stem, extension = os.path.splitext(filename)
    handle, partial = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".part{extension}",
                                       dir=folder or ".")
    os.close(handle)
    try:
        write(partial)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(partial, 0o666 & ~umask)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


def write_text(path, text):
    """Write text to path atomically."""
    def write(partial):
        with open(partial, "w", newline="") as handle:
            handle.write(text)
    return write_atomically(path, write)


def write_json(path, values, sort_keys=False):
    """Write values as indented JSON to path atomically."""
    return write_text(path, json.dumps(values, indent=4, sort_keys=sort_keys) + "\n")


def truncate_atomically(path, size):
    """Keep the first `size` bytes of path, rewritten atomically (a kill keeps either the
    whole old file or the truncated one)."""
    with open(path, "rb") as handle:
        kept = handle.read(size)

    def write(partial):
        with open(partial, "wb") as out:
            out.write(kept)
    return write_atomically(path, write)


class RunLock:
    """An exclusive hold on a run folder for the life of this process.

    flock on `<run>/.lock`, which records the holder's process id; the operating system
    drops the lock when the process exits or is killed, so a stale lock never blocks a run.
    """

    def __init__(self, directory):
        self.directory = directory
        self.path = os.path.join(directory, LOCK_FILE)
        self._handle = None

    def acquire(self):
        """Create the run folder if needed and take the lock; RunFolderError naming the holder
        when another process has it."""
        try:
            os.makedirs(self.directory, exist_ok=True)
            handle = open(self.path, "a+")
        except OSError as error:
            raise RunFolderError(f"cannot create {self.path} ({error.strerror}): choose another "
                                 f"folder with --results-dir or fix its permissions") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise RunFolderError(f"run folder {self.directory} is in use by process {holder}: "
                                 f"wait for it to end (or stop it), or choose another run "
                                 f"name") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self):
        if self._handle is not None:
            self._handle.close()  # closing the last descriptor drops the flock
            self._handle = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def unused_stamped_name(base, extension):
    """`<base>-<date>-<time to the microsecond><extension>`, with a counter added when that
    name is taken: a name no earlier file has."""
    stamped = f"{base}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"
    path, n = stamped + extension, 1
    while os.path.exists(path):
        path, n = f"{stamped}-{n}{extension}", n + 1
    return path


def set_aside(path):
    """Rename the file at path to an unused stamped name beside it (`metrics-<date>-<time>.log`
    for `metrics.log`), so that a new version can take its place without losing it. Returns
    the new name. Call it holding the run folder's RunLock."""
    stem, extension = os.path.splitext(path)
    kept = unused_stamped_name(stem, extension)
    os.rename(path, kept)
    return kept


def archive_run(directory):
    """Zip the files of an earlier run beside its folder, then empty the folder (its lock
    file excepted). Call it holding the folder's RunLock.

    Returns the archive's path, or None when there was nothing to archive. The archive is
    written under a temporary name and renamed only when complete, to a name that no other
    archive has (date, time to the microsecond, and a counter); nothing is deleted before that.
    """
    contents = [entry for entry in os.listdir(directory) if entry != LOCK_FILE]
    if not contents:
        return None
    archive = unused_stamped_name(os.path.normpath(directory), ".zip")
    parent = os.path.dirname(os.path.normpath(directory)) or "."

    def write(partial):
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as handle:
            for root, _, files in os.walk(directory):
                for filename in files:
                    path = os.path.join(root, filename)
                    if os.path.samefile(root, directory) and filename == LOCK_FILE:
                        continue
                    handle.write(path, os.path.relpath(path, parent))
    try:
        write_atomically(archive, write)
    except OSError as error:
        raise RunFolderError(f"cannot archive the earlier run in {directory} "
                             f"({error.strerror or error}): free disk space or use another run "
                             f"name; the earlier run is untouched") from None
    for entry in contents:
        path = os.path.join(directory, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    return archive


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
