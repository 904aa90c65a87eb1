"""BagIt validation of a stored package read as a stream of members (blocking; runs in a worker thread).

Every file of the package is read once and hashed with each algorithm its bag has a manifest for; the tag
files (bagit.txt, manifests) are kept aside, spooled to the work area when large. The manifests are then
compared with what was read: files in a manifest but absent are missing, files whose digest differs are
changed, payload files that no manifest lists are untracked.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from clients.storage.schemas import FileDigestProblem
from services.storage.packages.archive import ArchiveError, Member, PackageFormat, bag_root, walk
from services.storage.packages.archive import folder_members as list_folder
from services.storage.packages.archive import seven_zip_members as list_seven_zip

MANIFEST = re.compile(r"^(tag)?manifest-([a-z0-9]+)\.txt$")
SUPPORTED = {"md5", "sha1", "sha256", "sha512"}
SPOOL_IN_MEMORY = 4 * 1024 * 1024
MAX_REPORTED = 1000  # per kind: a wholly corrupt bag of a million files must not make a 200 MB answer


@dataclass
class BagCheck:
    files_checked: int = 0
    missing: list[FileDigestProblem] = field(default_factory=list)
    changed: list[FileDigestProblem] = field(default_factory=list)
    untracked: list[FileDigestProblem] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.untracked or self.errors)


def decode_manifest_path(path: str, version: tuple[int, int] = (1, 0)) -> str:
    """BagIt 1.0 §2.1.3: only CR, LF and % are percent-encoded in manifest paths. Before 1.0 `%` is literal
    (bagit-python, which wrote most 0.97 bags, encodes only CR and LF)."""
    path = path.replace("%0D", "\r").replace("%0d", "\r").replace("%0A", "\n").replace("%0a", "\n")
    return path.replace("%25", "%") if version >= (1, 0) else path


def bag_version(handle: IO[bytes]) -> tuple[int, int]:
    """The BagIt-Version a bagit.txt declares; 1.0 when unreadable (the stricter decoding)."""
    try:
        for raw in handle:
            key, _, value = raw.decode("utf-8").partition(":")
            if key.strip() == "BagIt-Version":
                major, _, minor = value.strip().partition(".")
                return int(major), int(minor)
    except (UnicodeDecodeError, ValueError):
        pass
    finally:
        handle.seek(0)
    return (1, 0)


def parse_manifest(handle: IO[bytes], version: tuple[int, int] = (1, 0)) -> Iterator[tuple[str, str]]:
    """(path, digest) pairs of a manifest."""
    for raw in handle:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line.strip():
            continue
        digest, sep, path = line.partition(" ")
        if not sep:
            raise ValueError(f"malformed manifest line {line!r}")
        yield decode_manifest_path(path.lstrip(" *"), version), digest.lower()


def _algorithms_from(paths: list[str], root: str) -> set[str]:
    found: set[str] = set()
    for path in paths:
        directory, _, name = path.rpartition("/")
        match = MANIFEST.match(name)
        if directory == root and match and match.group(2) in SUPPORTED:
            found.add(match.group(2))
    return found


def _relative(path: str, root: str) -> str | None:
    if not root:
        return path
    return path[len(root) + 1 :] if path.startswith(root + "/") else None


def _is_tag_file(relative: str) -> bool:
    return "/" not in relative and (
        relative in ("bagit.txt", "bag-info.txt", "fetch.txt") or MANIFEST.match(relative) is not None
    )


def validate_package(fmt: PackageFormat, path: Path, seven_zip: str, work_dir: Path | None) -> BagCheck:
    check = BagCheck()
    try:
        _validate(fmt, path, seven_zip, work_dir, check)
    # A damaged compressed stream surfaces as tarfile's, zlib's or an EOF error while reading: a failed check.
    except (ArchiveError, OSError, ValueError, UnicodeDecodeError, EOFError, tarfile.TarError, zlib.error) as exc:
        check.errors.append(f"{type(exc).__name__}: {exc}")
    return check


def _validate(fmt: PackageFormat, path: Path, seven_zip: str, work_dir: Path | None, check: BagCheck) -> None:
    listed: list[Member] | None = None
    if fmt == PackageFormat.folder:
        listed = list_folder(path)
    elif fmt == PackageFormat.seven_zip:
        listed = list_seven_zip(seven_zip, path)
    if listed is not None:
        root = bag_root([m.path for m in listed])
        algorithms = _algorithms_from([m.path for m in listed], root) or {"sha256"}
    else:
        root, algorithms = "", {"sha256"}  # a tar has no index: its bag is judged by its sha256 manifests

    digests: dict[str, dict[str, str]] = {}
    tag_files: dict[str, IO[bytes]] = {}
    spool_dir = None if work_dir is None else str(work_dir)
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    try:
        for member, chunks in walk(fmt, path, seven_zip):
            hashers = {name: hashlib.new(name) for name in algorithms}
            relative = member.path
            spool: IO[bytes] | None = None
            if listed is not None:
                rel = _relative(member.path, root)
                if rel is not None and _is_tag_file(rel):
                    spool = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, dir=spool_dir)  # noqa: SIM115 (kept open)
            elif len(parts := member.path.split("/")) <= 2 and _is_tag_file(parts[-1]):
                spool = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, dir=spool_dir)  # noqa: SIM115 (kept open)
            for chunk in chunks:
                for hasher in hashers.values():
                    hasher.update(chunk)
                if spool is not None:
                    spool.write(chunk)
            digests[relative] = {name: hasher.hexdigest() for name, hasher in hashers.items()}
            if spool is not None:
                spool.seek(0)
                tag_files[relative] = spool
            check.files_checked += 1
        if listed is None:
            root = bag_root(list(digests))
            algorithms_found = _algorithms_from(list(digests), root)
            if algorithms_found and "sha256" not in algorithms_found:
                check.errors.append("a tar package is checked against its sha256 manifests, and this bag has none")
        compare_bag(check, root, digests, tag_files)
    finally:
        for spool in tag_files.values():
            spool.close()


def compare_bag(
    check: BagCheck, root: str, digests: dict[str, dict[str, str]], tag_files: dict[str, IO[bytes]]
) -> None:
    in_bag = {rel: value for path, value in digests.items() if (rel := _relative(path, root)) is not None}
    tags = {rel: handle for path, handle in tag_files.items() if (rel := _relative(path, root)) is not None}
    if "bagit.txt" not in in_bag:
        check.errors.append("the package holds no bagit.txt")
        return
    version = bag_version(tags["bagit.txt"]) if "bagit.txt" in tags else (1, 0)
    manifests = sorted(name for name in tags if MANIFEST.match(name))
    payload_manifests = [name for name in manifests if name.startswith("manifest-")]
    if not payload_manifests:
        check.errors.append("the bag has no payload manifest")
    listed_payload: set[str] = set()
    for name in manifests:
        match = MANIFEST.match(name)
        assert match is not None
        algorithm = match.group(2)
        if algorithm not in SUPPORTED:
            check.errors.append(f"{name}: unsupported algorithm {algorithm}")
            continue
        for relative, expected in parse_manifest(tags[name], version):
            if name.startswith("manifest-"):
                listed_payload.add(relative)
            found = in_bag.get(relative)
            actual = found.get(algorithm) if found is not None else None
            if found is None:
                _report(check.missing, FileDigestProblem(path=relative, algorithm=algorithm, expected=expected,
                                                         actual=None))
            elif actual != expected:
                _report(check.changed, FileDigestProblem(path=relative, algorithm=algorithm, expected=expected,
                                                         actual=actual))
    for relative, value in sorted(in_bag.items()):
        if relative.startswith("data/") and relative not in listed_payload and payload_manifests:
            algorithm = "sha256" if "sha256" in value else sorted(value)[0]
            _report(check.untracked, FileDigestProblem(path=relative, algorithm=algorithm, expected=None,
                                                       actual=value[algorithm]))


def _report(bucket: list[FileDigestProblem], problem: FileDigestProblem) -> None:
    if len(bucket) < MAX_REPORTED:
        bucket.append(problem)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
