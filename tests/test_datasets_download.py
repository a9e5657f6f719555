"""Downloads and unpacking: atomic, checksum-verified, resumed after an interruption, and a
one-line error naming the address and the place for the files when nothing can be had."""
import hashlib
import zipfile

import pytest

from datasets_support import DEAD_URL, file_server  # noqa: F401 (a fixture)
from utils.download import DatasetUnavailable, download, unpack_zip_folder

PAYLOAD = bytes(range(256)) * 4000
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


def test_download_writes_the_file_and_leaves_no_part(file_server, tmp_path):
    file_server.files["/data.bin"] = PAYLOAD
    target = tmp_path / "sub" / "data.bin"
    download(file_server.url("/data.bin"), str(target), md5=PAYLOAD_MD5)
    assert target.read_bytes() == PAYLOAD
    assert list(target.parent.iterdir()) == [target]


def test_interrupted_download_leaves_only_a_part_file_that_the_next_attempt_resumes(
        file_server, tmp_path):
    file_server.files["/data.bin"] = PAYLOAD
    file_server.cut.add("/data.bin")
    target = tmp_path / "data.bin"
    with pytest.raises(DatasetUnavailable, match="run again to resume"):
        download(file_server.url("/data.bin"), str(target), md5=PAYLOAD_MD5)
    partial = tmp_path / "data.bin.part"
    assert not target.exists() and 0 < partial.stat().st_size < len(PAYLOAD)
    done = partial.stat().st_size
    download(file_server.url("/data.bin"), str(target), md5=PAYLOAD_MD5)
    assert target.read_bytes() == PAYLOAD and not partial.exists()
    assert file_server.requests[-1] == ("/data.bin", f"bytes={done}-")


def test_leftover_part_is_started_again_when_the_server_cannot_resume(file_server, tmp_path):
    file_server.files["/data.bin"] = PAYLOAD
    file_server.ranges = False
    (tmp_path / "data.bin.part").write_bytes(b"stale bytes of an earlier attempt")
    download(file_server.url("/data.bin"), str(tmp_path / "data.bin"), md5=PAYLOAD_MD5)
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD


def test_leftover_part_that_cannot_be_extended_is_downloaded_again(file_server, tmp_path):
    file_server.files["/data.bin"] = PAYLOAD
    (tmp_path / "data.bin.part").write_bytes(bytes(len(PAYLOAD)))
    download(file_server.url("/data.bin"), str(tmp_path / "data.bin"), md5=PAYLOAD_MD5)
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD
    assert [header for _, header in file_server.requests] == [f"bytes={len(PAYLOAD)}-", None]


def test_wrong_checksum_deletes_the_part_and_names_the_address_and_path(file_server, tmp_path):
    file_server.files["/data.bin"] = PAYLOAD
    target = tmp_path / "data.bin"
    with pytest.raises(DatasetUnavailable) as error:
        download(file_server.url("/data.bin"), str(target), md5="0" * 32)
    message = str(error.value)
    assert "wrong MD5" in message and file_server.url("/data.bin") in message
    assert str(target) in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_next_address_is_tried_when_the_first_fails(file_server, tmp_path):
    file_server.files["/mirror/data.bin"] = PAYLOAD
    target = tmp_path / "data.bin"
    download([DEAD_URL + "data.bin", file_server.url("/mirror/data.bin")], str(target),
             md5=PAYLOAD_MD5)
    assert target.read_bytes() == PAYLOAD


def test_unreachable_addresses_give_one_line_naming_each_and_the_path(file_server, tmp_path):
    target = tmp_path / "data.bin"
    with pytest.raises(DatasetUnavailable) as error:
        download([DEAD_URL + "data.bin", file_server.url("/missing")], str(target))
    message = str(error.value)
    assert DEAD_URL + "data.bin" in message and file_server.url("/missing") in message
    assert "404" in message and str(target) in message and "\n" not in message
    assert not target.exists()


def write_zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_unpack_zip_folder_moves_the_folder_into_place_and_clears_a_stale_staging(tmp_path):
    write_zip(tmp_path / "a.zip", {"faces/1.jpg": b"one", "faces/2.jpg": b"two"})
    (tmp_path / "faces.part" / "faces").mkdir(parents=True)
    (tmp_path / "faces.part" / "faces" / "half-written.jpg").write_bytes(b"x")
    unpack_zip_folder(str(tmp_path / "a.zip"), "faces", str(tmp_path))
    assert sorted(p.name for p in (tmp_path / "faces").iterdir()) == ["1.jpg", "2.jpg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "faces"]


def test_unpack_zip_folder_rejects_a_truncated_archive_or_one_without_the_folder(tmp_path):
    write_zip(tmp_path / "a.zip", {"faces/1.jpg": b"one" * 1000})
    (tmp_path / "cut.zip").write_bytes((tmp_path / "a.zip").read_bytes()[:100])
    with pytest.raises(DatasetUnavailable, match="corrupt or truncated"):
        unpack_zip_folder(str(tmp_path / "cut.zip"), "faces", str(tmp_path))
    with pytest.raises(DatasetUnavailable, match="holds no other/ folder"):
        unpack_zip_folder(str(tmp_path / "a.zip"), "other", str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "cut.zip"]
