"""Hostile or oversized archives are refused with a problem naming the entry, and leave nothing behind."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from clients.transfer import TransferStatus
from tests.transfer.harness import make_7z, make_tar, make_zip, some_bytes, tar_header, transfer_stack

OK = ("box/ok.txt", b"fine")


def zip_with_symlink() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok.txt", b"fine")
        link = zipfile.ZipInfo("passwd")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, b"/etc/passwd")
    return buffer.getvalue()


def zip_with_duplicate() -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore")
        archive.writestr("twice.txt", b"one")
        archive.writestr("twice.txt", b"two")
    return buffer.getvalue()


def device(name: str) -> tarfile.TarInfo:
    info = tar_header(name, tarfile.CHRTYPE)
    info.devmajor, info.devminor = 1, 3
    return info


def seven_zip(kind: str) -> bytes:
    """7z archives made by the 7z program itself: with a symbolic link, a FIFO, or absolute paths."""
    with tempfile.TemporaryDirectory() as scratch:
        box = Path(scratch) / "box"
        box.mkdir()
        (box / "ok.txt").write_bytes(b"fine")
        if kind == "symlink":
            os.symlink("/etc/passwd", box / "passwd")
        elif kind == "fifo":
            os.mkfifo(box / "pipe")
        elif kind == "bomb":
            (box / "zeros.bin").write_bytes(b"\0" * 400_000)
        return make_7z(box, Path(scratch) / "x.7z", absolute=kind == "absolute")


CASES: list[tuple[str, bytes, dict[str, Any], str, str | None]] = [
    ("7z-symlink", seven_zip("symlink"), {}, "Entry 'box/passwd' is a symbolic link", "box/passwd"),
    ("7z-fifo", seven_zip("fifo"), {}, "Entry 'box/pipe' is a FIFO", "box/pipe"),
    ("7z-absolute", seven_zip("absolute"), {}, "has an absolute path", None),
    ("7z-bomb-ratio", seven_zip("bomb"), {"max_ratio": 50}, "expands more than 50 times its size", None),
    ("7z-damaged", seven_zip("plain")[:40], {}, "not a valid 7z archive or is damaged", None),
    ("over-quota", make_tar([OK, ("box/big.bin", some_bytes(20_000))]), {"max_transfer_bytes": 10_000},
     "The archive expands to more than 10000 bytes", None),
    # id, archive, settings, expected in the detail, entry named in `errors`
    ("zip-slip", make_zip({"ok.txt": b"fine", "../../evil.txt": b"evil"}), {},
     "Entry '../../evil.txt' points outside the transfer", "../../evil.txt"),
    ("zip-absolute", make_zip({"/etc/evil.txt": b"evil"}), {},
     "Entry '/etc/evil.txt' has an absolute path", "/etc/evil.txt"),
    ("zip-symlink", zip_with_symlink(), {}, "Entry 'passwd' is a symbolic link", "passwd"),
    ("zip-control-character", make_zip({"bad\x07name.txt": b"x"}), {},
     "Entry 'bad\\x07name.txt' has control characters in its name", "bad\\x07name.txt"),
    ("zip-duplicate", zip_with_duplicate(), {}, "Entry 'twice.txt' appears more than once", "twice.txt"),
    ("zip-bomb-ratio", make_zip({"zeros.bin": b"\0" * 400_000}), {"max_ratio": 50},
     "expands more than 50 times its size", None),
    ("tar-slip", make_tar([OK, ("box/../../evil.txt", b"evil")]), {},
     "Entry 'box/../../evil.txt' points outside the transfer", "box/../../evil.txt"),
    ("tar-absolute", make_tar([OK, ("/tmp/evil.txt", b"evil")]), {},
     "Entry '/tmp/evil.txt' has an absolute path", "/tmp/evil.txt"),
    ("tar-symlink", make_tar([OK, tar_header("box/passwd", tarfile.SYMTYPE, "/etc/passwd")]), {},
     "Entry 'box/passwd' is a symbolic link to '/etc/passwd' (links are not accepted in transfers)", "box/passwd"),
    ("tar-hardlink", make_tar([OK, tar_header("box/again.txt", tarfile.LNKTYPE, "box/ok.txt")]), {},
     "Entry 'box/again.txt' is a hard link to 'box/ok.txt'", "box/again.txt"),
    ("tar-fifo", make_tar([OK, tar_header("box/pipe", tarfile.FIFOTYPE)]), {},
     "Entry 'box/pipe' is a FIFO", "box/pipe"),
    ("tar-device", make_tar([OK, device("box/null")]), {}, "Entry 'box/null' is a device file", "box/null"),
    ("tar-control-character", make_tar([OK, ("box/new\nline.txt", b"x")]), {},
     "Entry 'box/new\\nline.txt' has control characters in its name", "box/new\\nline.txt"),
    ("tar-too-many-entries", make_tar([(f"box/{i}.txt", b"x") for i in range(5)]), {"max_entries": 3},
     "The archive has more than 3 entries", None),
    ("tar-too-large", make_tar([OK, ("box/big.bin", some_bytes(20_000))]), {"max_expanded_bytes": 10_000},
     "The archive expands to more than 10000 bytes", None),
    ("tar-gz-bomb-ratio", make_tar([OK, ("box/zeros.bin", b"\0" * 400_000)], gzip=True), {"max_ratio": 50},
     "expands more than 50 times its size", None),
    ("tar-gz-truncated", make_tar([OK, ("box/data.bin", some_bytes(50_000))], gzip=True)[:30_000], {},
     "not a valid tar.gz archive or is damaged", None),
    ("tar-collision", make_tar([("objects/a.txt", b"a"), ("a.txt", b"b")]), {},
     "'a.txt' at the top level would collide with 'objects/a.txt'", "a.txt"),
    ("tar-empty-folder-only", make_tar([("box/", None), ("box/sub/", None)]), {},
     "The archive holds no files", None),
]


@pytest.mark.parametrize(("archive", "overrides", "expected", "entry"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
async def test_hostile_archive_is_refused_and_leaves_nothing(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment,
    archive: bytes, overrides: dict[str, Any], expected: str, entry: str | None,
) -> None:
    async with transfer_stack(db_engine, tmp_path, temporal_env, **overrides) as stack:
        response = await stack.http.post("/transfers/upload", params={"name": "hostile"}, content=archive)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["title"] == "Transfer refused"
        assert expected in problem["detail"]
        if entry is not None:
            assert problem["errors"][0]["entry"] == entry
        assert stack.leftovers() == []

        (failed,) = (await stack.client.list_transfers()).items
        assert failed.status is TransferStatus.failed
        assert expected in (failed.error or "")
        assert f"Transfer {failed.uuid} was marked failed" in problem["detail"]
        assert (await stack.ingest_http.get("/ingests")).json()["total"] == 0
