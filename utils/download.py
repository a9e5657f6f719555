"""Downloads that never leave a half-written file behind and say where to put files by hand."""
import hashlib
import os
import shutil
import urllib.error
import urllib.request

CHUNK_BYTES = 1 << 20


class DatasetUnavailable(RuntimeError):
    """A dataset is neither on disk nor downloadable; the message says where to put it."""


def file_md5(path):
    """MD5 of a file, read in chunks (datasets can be larger than memory)."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url, path, md5=None, timeout_s=60):
    """Fetch url to path: written to path + '.part', checked, then renamed.

    An interrupted earlier attempt leaves only the '.part' file, which is started again. A
    checksum mismatch or a network failure raises DatasetUnavailable naming the address and
    the path where the file can be placed by hand.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = path + ".part"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, \
                open(partial, "wb") as handle:
            shutil.copyfileobj(response, handle, CHUNK_BYTES)
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise DatasetUnavailable(f"could not download {url} ({error}): place the file by hand "
                                 f"at {os.path.abspath(path)}") from None
    if md5 is not None and file_md5(partial) != md5:
        os.remove(partial)
        raise DatasetUnavailable(f"{url} gave a file with the wrong MD5 (expected {md5}): "
                                 f"place a good copy by hand at {os.path.abspath(path)}")
    os.replace(partial, path)
    return path
