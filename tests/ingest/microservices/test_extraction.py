"""Package extraction with the real archivers on archives made here: zip, tar.gz, 7z, gz, broken and hostile ones."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.ingest.microservices.extraction import (
    ExtractionLimits,
    extract_package,
    find_packages,
    package_kind,
    target_directory,
)
from services.ingest.microservices.results import Status

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
UUID = "0b0f7c8e-0000-4000-8000-000000000001"


def _content(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.txt").write_text("beta")
    return src


@pytest.mark.parametrize("kind", ["zip", "7z", "tar.gz"])
def test_extract_made_archives(tmp_path: Path, kind: str) -> None:
    src = _content(tmp_path)
    objects = tmp_path / "objects"
    objects.mkdir()
    package = objects / f"pack.{kind}"
    if kind == "zip":
        subprocess.run(["7z", "a", "-bd", "-tzip", str(package), "."], cwd=src, check=True, capture_output=True)
    elif kind == "7z":
        subprocess.run(["7z", "a", "-bd", "-t7z", "-mf=off", str(package), "."], cwd=src, check=True,
                       capture_output=True)
    else:
        subprocess.run(["tar", "-czf", str(package), "-C", str(src), "."], check=True)
    result = extract_package(package, UUID, kind=package_kind(package, None) or "", at=AT,
                             event_path=f"%transferDirectory%objects/{package.name}", delete_package=True)

    assert result.package.status is Status.PASSED, result.package.message
    assert result.directory == target_directory(package, AT)
    assert result.directory.name == f"pack.{kind}-2026-01-02T03_04_05"
    names = sorted(f.path.relative_to(result.directory).as_posix().removeprefix("./") for f in result.files)
    assert names == ["a.txt", "sub/b.txt"]
    for outcome in result.files:
        (event,) = outcome.events
        assert event.type == "unpacking"
        assert event.detail == f"Unpacked from: %transferDirectory%objects/pack.{kind} ({UUID})"
    assert not package.exists()
    assert [e.type for e in result.package.events] == ["file removed"]
    # A re-run (say after a crash between extraction and recording) finds the finished folder.
    package.write_bytes(b"")
    again = extract_package(package, UUID, kind="zip", at=AT, event_path="x")
    assert again.package.ok and len(again.files) == 2


def test_gzip_single_file(tmp_path: Path) -> None:
    plain = tmp_path / "notes.txt"
    plain.write_text("gz me")
    subprocess.run(["gzip", str(plain)], check=True)
    package = tmp_path / "notes.txt.gz"
    result = extract_package(package, UUID, kind="gzip", at=AT, event_path="p")
    assert result.package.ok
    assert [f.path.name for f in result.files] == ["notes.txt"]
    assert result.files[0].path.read_text() == "gz me"
    assert package.exists()  # kept unless deletion was asked for


def test_broken_zip_fails_cleanly(tmp_path: Path) -> None:
    package = tmp_path / "broken.zip"
    package.write_bytes(b"PK\x03\x04 this is not really a zip file")
    result = extract_package(package, UUID, kind="zip", at=AT, event_path="p")
    assert result.package.status is Status.FAILED
    assert "broken package" in result.package.message
    assert result.files == [] and result.directory is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.zip"]


def _tar_with(tmp_path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    package = tmp_path / "evil.tar"
    with tarfile.open(package, "w") as archive:
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data) if data else None)
    return package


def test_hostile_entries_are_refused(tmp_path: Path) -> None:
    climb = _tar_with(tmp_path, tarfile.TarInfo("../../escape.txt"), b"x")
    result = extract_package(climb, UUID, kind="tar", at=AT, event_path="p")
    assert result.package.status is Status.FAILED and "outside the package" in result.package.message
    assert not (tmp_path.parent / "escape.txt").exists()

    link = tarfile.TarInfo("innocent")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    result = extract_package(_tar_with(tmp_path, link), UUID, kind="tar", at=AT, event_path="p")
    assert result.package.status is Status.FAILED and "link out" in result.package.message

    zipped = tmp_path / "big.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * 100_000)
    result = extract_package(zipped, UUID, kind="zip", at=AT, event_path="p",
                             limits=ExtractionLimits(max_total_bytes=10_000))
    assert result.package.status is Status.FAILED and "over the limit" in result.package.message
    assert not any(p.name.startswith("big.zip-") or p.name.startswith(".big.zip") for p in tmp_path.iterdir())


def test_find_packages(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    for name in ("a.zip", "d/b.tar.gz", "c.docx", "d/e.txt", "f.rar"):
        (tmp_path / name).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in find_packages(tmp_path)]
    assert found == ["a.zip", "f.rar", "d/b.tar.gz"]
    # A PUID decides over the extension: an identified DOCX is not a package even if named .zip.
    assert package_kind(tmp_path / "a.zip", "fmt/412") is None
    assert package_kind(tmp_path / "x.bin", "x-fmt/263") == "zip"


def test_unreadable_members_are_made_accessible(tmp_path: Path) -> None:
    package = tmp_path / "modes.tar"
    with tarfile.open(package, "w") as archive:
        folder = tarfile.TarInfo("locked")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o000
        archive.addfile(folder)
        member = tarfile.TarInfo("locked/secret.txt")
        member.mode, member.size = 0o000, 3
        archive.addfile(member, io.BytesIO(b"abc"))
    result = extract_package(package, UUID, kind="tar", at=AT, event_path="p")
    assert result.package.ok, result.package.message
    (outcome,) = result.files
    assert outcome.path.read_bytes() == b"abc"
    # Checked on the modes, since root (as in CI containers) would read a 000 file anyway.
    assert outcome.path.stat().st_mode & 0o600 == 0o600
    assert outcome.path.parent.stat().st_mode & 0o700 == 0o700


def _zip_with(path: Path, members: list[tuple[str, bytes, int]]) -> Path:
    """Members as (name, data, Unix mode); a mode with S_IFLNK makes the data a symbolic link's target."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            info.create_system, info.external_attr = 3, mode << 16
            archive.writestr(info, data)
    return path


def _refused(package: Path, kind: str = "zip", **limits: int) -> str:
    result = extract_package(package, UUID, kind=kind, at=AT, event_path="p", limits=ExtractionLimits(**limits))
    assert result.package.status is Status.FAILED, result.package.message
    assert result.files == [] and result.directory is None
    assert not [p for p in package.parent.iterdir() if p.name.startswith((package.name + "-", f".{package.name}"))]
    return result.package.message


FILE, LINK = stat.S_IFREG | 0o644, stat.S_IFLNK | 0o777


@pytest.mark.parametrize("name", ["../../escape.txt", "/etc/escape.txt", "ok/..\\..\\..\\escape.txt"])
def test_7zip_refuses_a_zip_climbing_out(tmp_path: Path, name: str) -> None:
    (tmp_path / "in").mkdir()
    package = _zip_with(tmp_path / "in" / "climb.zip", [("fine.txt", b"ok", FILE), (name, b"x", FILE)])
    assert "outside the package" in _refused(package)
    assert not list(tmp_path.rglob("escape.txt"))


@pytest.mark.parametrize("target", ["/etc/passwd", "../../etc/passwd", "sub/../../x"])
def test_7zip_refuses_a_zip_linking_out(tmp_path: Path, target: str) -> None:
    package = _zip_with(tmp_path / "links.zip", [("sub/f.txt", b"f", FILE), ("innocent", target.encode(), LINK)])
    assert "link out of the package" in _refused(package)


def test_7zip_keeps_a_link_inside_the_zip(tmp_path: Path) -> None:
    package = _zip_with(tmp_path / "inner.zip", [("sub/f.txt", b"f", FILE), ("sub/alias", b"f.txt", LINK)])
    result = extract_package(package, UUID, kind="zip", at=AT, event_path="p")
    assert result.package.ok, result.package.message
    assert result.directory is not None
    alias = result.directory / "sub" / "alias"
    assert alias.is_symlink() and os.readlink(alias) == "f.txt" and alias.read_bytes() == b"f"


def test_7zip_refuses_a_bomb_and_too_many_entries(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * 1_000_000)
    assert bomb.stat().st_size < 5_000
    assert "over the limit" in _refused(bomb, max_total_bytes=100_000)
    many = _zip_with(tmp_path / "many.zip", [(f"f{i}.txt", b"x", FILE) for i in range(20)])
    assert "too many entries" in _refused(many, max_entries=10)


def test_7zip_refuses_a_zip_whose_sizes_lie(tmp_path: Path) -> None:
    """A header that understates a member's size passes the listing; the extraction then fails (7-Zip stops at
    the stated size; the file-size rlimit is there for an archiver that would not)."""
    package = tmp_path / "liar.zip"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * 1_000_000)
    data = bytearray(package.read_bytes())
    # The uncompressed size in the local header (offset 22) and in the central directory entry (offset 24).
    central = data.rindex(b"PK\x01\x02")
    for offset in (22, central + 24):
        data[offset:offset + 4] = (1000).to_bytes(4, "little")
    package.write_bytes(bytes(data))
    assert "extraction failed" in _refused(package, max_total_bytes=50_000)


def test_7zip_refuses_encrypted_and_broken_packages(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("secret")
    locked = tmp_path / "locked.zip"
    subprocess.run(["7z", "a", "-bd", "-tzip", "-pk3y", str(locked), "a.txt"], cwd=src, check=True,
                   capture_output=True, stdin=subprocess.DEVNULL)
    assert "encrypted entry: 'a.txt'" in _refused(locked)
    hidden = tmp_path / "hidden.7z"  # names encrypted too: no listing at all without the password
    subprocess.run(["7z", "a", "-bd", "-t7z", "-pk3y", "-mhe=on", str(hidden), "a.txt"], cwd=src, check=True,
                   capture_output=True, stdin=subprocess.DEVNULL)
    assert "broken package (7z)" in _refused(hidden, kind="7z")
    whole = _zip_with(tmp_path / "whole.zip", [("big.bin", os.urandom(4000), FILE)])
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole.read_bytes()[:1000])
    assert "broken package (zip): ERRORS: | Unexpected end of archive" in _refused(cut)
