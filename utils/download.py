"""Downloads that never leave a half-written file behind and say where to put files by hand.

A download is written to `<path>.part` and renamed to `<path>` only once it is complete and
its checksum (where one is known) matches. An interrupted attempt leaves the '.part' file; the
next attempt resumes it with an HTTP Range request when the server allows, and starts it again
otherwise. One process at a time downloads a given path (see utils/data_folder.py); another
waits and then uses its file. Archives are unpacked the same way: into a staging folder
renamed when complete (callers hold the lock of the unpacked folder).
"""
import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
import zipfile

from utils.data_folder import DatasetUnavailable, exclusive_lock

CHUNK_BYTES = 1 << 20
RANGE_NOT_SATISFIABLE = 416


def file_md5(path):
    """MD5 of a file, read in chunks (datasets can be larger than memory)."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resumes_at(response, offset):
    """Whether a response to a Range request continues the file at byte `offset`."""
    content_range = response.headers.get("Content-Range", "")
    return response.status == 206 and content_range.startswith(f"bytes {offset}-")


def fetch(url, partial, timeout_s):
    """Write url to the file `partial`, continuing what an earlier attempt left there."""
    offset = os.path.getsize(partial) if os.path.exists(partial) else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                          timeout=timeout_s)
    except urllib.error.HTTPError as error:
        if offset and error.code == RANGE_NOT_SATISFIABLE:
            os.remove(partial)
            return fetch(url, partial, timeout_s)
        raise
    mode = "ab" if offset and resumes_at(response, offset) else "wb"
    with response, open(partial, mode) as handle:
        shutil.copyfileobj(response, handle, CHUNK_BYTES)
    if response.length:  # the connection ended before the announced Content-Length
        raise http.client.IncompleteRead(b"", response.length)


def download(urls, path, md5=None, timeout_s=60):
    """Fetch a file to path from the first address (or list of addresses) that serves it.

    The file is written to path + '.part', checked, then renamed. A '.part' file left by an
    interrupted earlier attempt is resumed (or started again when the server cannot resume).
    A checksum mismatch deletes the '.part' file and the next address is tried. When no
    address works, DatasetUnavailable names every address with its failure and the path where
    the file can be placed by hand. Under another process downloading the same path, waits
    for it and returns its file.
    """
    with exclusive_lock(path, f"download {os.path.basename(path)}"):
        if os.path.exists(path):
            return path
        return fetch_checked(urls, path, md5, timeout_s)


def fetch_checked(urls, path, md5, timeout_s):
    """download() without the lock: the first address that serves a file with the MD5."""
    partial = path + ".part"
    failures = []
    for url in [urls] if isinstance(urls, str) else urls:
        try:
            fetch(url, partial, timeout_s)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            failures.append(f"{url} ({error})")
            continue
        if md5 is not None and file_md5(partial) != md5:
            os.remove(partial)
            failures.append(f"{url} (a file with the wrong MD5, expected {md5})")
            continue
        os.replace(partial, path)
        return path
    resume = " (or run again to resume)" if os.path.exists(partial) else ""
    raise DatasetUnavailable(f"could not download {' nor '.join(failures)}: place the file by "
                             f"hand at {os.path.abspath(path)}{resume}")


def unpack_zip_folder(archive, folder, destination):
    """Unpack the top-level `folder` of a zip archive to destination/folder.

    The archive is unpacked into destination/folder + '.part' (cleared first, so an interrupted
    earlier attempt is started again) and the folder is renamed into place when complete.
    """
    staging = os.path.join(destination, folder + ".part")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as handle:
            handle.extractall(staging)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise DatasetUnavailable(f"{archive} is corrupt or truncated ({error}): delete it and "
                                 f"run again, or unpack it by hand into {destination}") from None
    unpacked = os.path.join(staging, folder)
    if not os.path.isdir(unpacked):
        shutil.rmtree(staging)
        raise DatasetUnavailable(f"{archive} holds no {folder}/ folder: replace it with the "
                                 f"official archive or place {folder}/ by hand in {destination}")
    os.replace(unpacked, os.path.join(destination, folder))
    shutil.rmtree(staging)
