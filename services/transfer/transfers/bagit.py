"""A strict BagIt validator (RFC 8493 and the drafts 0.93 to 0.97 still found in the wild).

bagit-python accepts a `bagit.txt` with whitespace before the colon, which RFC 8493 §2.1.1 forbids, and does not
look at fetch targets outside the payload; this validator is our own. It reads every tag file in the declared
encoding, checks every path for escapes, and hashes every payload file once for all its manifests (streamed,
1 MiB at a time). It is synchronous: callers run it in a worker thread. Every problem is collected, so a failed
validation names every bad file and why.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

READ_CHUNK = 1024 * 1024
ALGORITHMS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")
MANIFEST = re.compile(r"^(tag)?manifest-([a-z0-9]+)\.txt$")
VERSION = re.compile(r"^\d+\.\d+$")
# RFC 8493 §2.1.1: exactly "BagIt-Version: M.N" and "Tag-File-Character-Encoding: ENCODING".
BAGIT_LINE = re.compile(r"^(BagIt-Version|Tag-File-Character-Encoding): (\S.*)$")
WINDOWS_PATH = re.compile(r"^([A-Za-z]:|\\\\|%[A-Za-z]+%)")


@dataclass
class BagReport:
    """The verdict on one bag; `errors` and `warnings` are (path or "", reason) pairs."""

    version: str | None = None
    encoding: str = "utf-8"
    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    info: list[tuple[str, str]] = field(default_factory=list)
    algorithms: list[str] = field(default_factory=list)
    payload_files: int = 0
    payload_bytes: int = 0

    @property
    def valid(self) -> bool:
        return not self.errors

    def error(self, path: str, reason: str) -> None:
        self.errors.append((path, reason))

    def warn(self, path: str, reason: str) -> None:
        self.warnings.append((path, reason))

    def summary(self) -> str:
        listed = "; ".join(f"{path or 'bag'}: {reason}" for path, reason in self.errors[:20])
        more = f"; and {len(self.errors) - 20} more" if len(self.errors) > 20 else ""
        return f"The bag is not valid ({len(self.errors)} problems): {listed}{more}"


def is_bag(root: Path) -> bool:
    """A folder is taken as a bag when it has `bagit.txt` or a payload manifest next to a `data/` folder."""
    if (root / "bagit.txt").is_file():
        return True
    if not (root / "data").is_dir():
        return False
    with os.scandir(root) as scan:
        return any(MANIFEST.match(entry.name) and not entry.name.startswith("tag") for entry in scan)


def split_lines(text: str) -> list[str]:
    """Lines ending in LF, CRLF or CR (all three occur in real bags)."""
    return re.split(r"\r\n|\r|\n", text.removesuffix("\n").removesuffix("\r"))


def read_text(path: Path, encoding: str) -> str:
    # UTF-16 without an explicit byte order relies on its BOM; utf-8-sig would hide a BOM we must see.
    return path.read_bytes().decode(encoding)


def unsafe_reason(path: str) -> str | None:
    """Why a path named in a tag file may not be used (it would leave the bag), if so."""
    if not path:
        return "is empty"
    if path.startswith("/"):
        return "is an absolute path"
    if path.startswith("~"):
        return "uses a home-directory shortcut"
    if WINDOWS_PATH.match(path) or "\\" in path:
        return "is a Windows path"
    if ".." in path.split("/"):
        return "points outside the bag ('..')"
    if "\x00" in path:
        return "has a NUL character"
    return None


def normalise(path: str, version: tuple[int, int]) -> str:
    if version >= (1, 0):
        # RFC 8493 §2.1.3: only CR, LF and % are percent-encoded in manifests and fetch.txt.
        path = re.sub(r"%0[Aa]", "\n", path)
        path = re.sub(r"%0[Dd]", "\r", path)
        path = path.replace("%25", "%")
    return path.removeprefix("./")


def parse_bagit_txt(root: Path, report: BagReport) -> tuple[int, int] | None:
    path = root / "bagit.txt"
    if not path.is_file():
        report.error("bagit.txt", "is missing")
        return None
    raw = path.read_bytes()
    if raw.startswith(codecs.BOM_UTF8):
        report.error("bagit.txt", "starts with a byte-order mark (forbidden)")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        report.error("bagit.txt", "is not UTF-8")
        return None
    values: dict[str, str] = {}
    for number, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        match = BAGIT_LINE.match(line)
        if match is None:
            report.error("bagit.txt", f"line {number} is not 'BagIt-Version: M.N' or "
                                      f"'Tag-File-Character-Encoding: ENCODING' exactly: {line!r}")
            continue
        values[match.group(1)] = match.group(2).strip()
    version = values.get("BagIt-Version")
    encoding = values.get("Tag-File-Character-Encoding")
    if version is None:
        report.error("bagit.txt", "lacks BagIt-Version")
    elif not VERSION.match(version):
        report.error("bagit.txt", f"BagIt-Version '{version}' is not MAJOR.MINOR")
        version = None
    if encoding is None:
        report.error("bagit.txt", "lacks Tag-File-Character-Encoding")
    else:
        try:
            report.encoding = codecs.lookup(encoding).name
        except LookupError:
            report.error("bagit.txt", f"names an unknown encoding '{encoding}'")
    if version is None or report.errors:
        return None
    report.version = version
    major, minor = version.split(".")
    return int(major), int(minor)


def parse_bag_info(root: Path, version: tuple[int, int], report: BagReport) -> None:
    # Before 0.96 the file was called package-info.txt.
    name = "bag-info.txt" if (root / "bag-info.txt").is_file() or version >= (0, 96) else "package-info.txt"
    path = root / name
    if not path.is_file():
        return
    try:
        text = read_text(path, report.encoding)
    except UnicodeDecodeError as exc:
        report.error(name, f"is not valid {report.encoding}: {exc}")
        return
    text = text.removeprefix("\ufeff")
    for number, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        if line[0] in " \t" and report.info:
            label, value = report.info[-1]
            report.info[-1] = (label, f"{value} {line.strip()}")
            continue
        label, colon, value = line.partition(":")
        if not colon or not label.strip():
            report.error(name, f"line {number} is not 'Label: value': {line!r}")
            continue
        report.info.append((label.strip(), value.strip()))


def parse_manifest(
    root: Path, name: str, version: tuple[int, int], report: BagReport, *, payload: bool
) -> dict[str, str]:
    """path -> expected checksum, with every malformed, unsafe or duplicated line reported."""
    entries: dict[str, str] = {}
    dot_slash = lines = 0
    try:
        text = read_text(root / name, report.encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        report.error(name, f"is not valid {report.encoding}: {exc}")
        return entries
    for number, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            report.error(name, f"line {number} is not '<checksum> <path>': {line!r}")
            continue
        checksum, path = parts[0].lower(), parts[1]
        if path.startswith("*"):
            report.warn(name, f"line {number} uses the md5sum binary-mode marker '*'")
            path = path[1:]
        lines += 1
        dot_slash += path.startswith("./")
        path = normalise(path, version)
        reason = unsafe_reason(path)
        if reason:
            report.error(path, f"listed in {name} {reason}")
            continue
        if payload and not path.startswith("data/"):
            report.error(path, f"listed in {name} is not in the payload folder data/")
            continue
        if not payload and path.startswith("data/"):
            report.error(path, f"listed in {name} is a payload file, not a tag file")
            continue
        if path in entries:
            if entries[path] != checksum:
                report.error(path, f"is listed twice in {name} with different checksums")
            elif version >= (1, 0):
                report.error(path, f"is listed twice in {name}")
            else:
                report.warn(path, f"is listed twice in {name} with the same checksum")
            continue
        entries[path] = checksum
    # One stray './' is normalised silently (the suite's valid bags have it); a manifest written wholly
    # relative to './' comes from a tool that ignores the spec's path form, which deserves a warning.
    if lines and dot_slash == lines:
        report.warn(name, "every path starts with './'")
    return entries


def parse_fetch(root: Path, version: tuple[int, int], report: BagReport) -> list[str]:
    """The payload paths fetch.txt names; they are parsed and checked, never fetched."""
    path = root / "fetch.txt"
    if not path.is_file():
        return []
    try:
        text = read_text(path, report.encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        report.error("fetch.txt", f"is not valid {report.encoding}: {exc}")
        return []
    targets = []
    for number, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=2)
        if len(parts) != 3 or not (parts[1] == "-" or parts[1].isdigit()):
            report.error("fetch.txt", f"line {number} is not '<url> <length|-> <path>': {line!r}")
            continue
        target = normalise(parts[2], version)
        reason = unsafe_reason(target)
        if reason is None and not target.startswith("data/"):
            reason = "is not in the payload folder data/"
        if reason:
            report.error(target, f"named in fetch.txt {reason}")
            continue
        targets.append(target)
    return targets


def walk_files(root: Path, top: Path) -> Iterable[tuple[str, Path]]:
    """Every file below `top` as (path relative to `root`, path); links and special files included as files."""
    folders = [top]
    while folders:
        folder = folders.pop()
        with os.scandir(folder) as scan:
            for entry in scan:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(Path(entry.path))
                else:
                    yield Path(entry.path).relative_to(root).as_posix(), Path(entry.path)


def hash_file(path: Path, algorithms: Iterable[str]) -> tuple[dict[str, str], int]:
    hashers = {algorithm: hashlib.new(algorithm) for algorithm in algorithms}
    size = 0
    flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    with os.fdopen(os.open(path, flags), "rb") as reader:
        while chunk := reader.read(READ_CHUNK):
            size += len(chunk)
            for hasher in hashers.values():
                hasher.update(chunk)
    return {algorithm: hasher.hexdigest() for algorithm, hasher in hashers.items()}, size


def validate_bag(root: Path) -> BagReport:
    """Validate the bag at `root` completely; the report lists every problem found."""
    report = BagReport()
    version = parse_bagit_txt(root, report)
    if version is None:
        return report
    parse_bag_info(root, version, report)
    with os.scandir(root) as scan:
        top = sorted(entry.name for entry in scan)
    manifests: dict[str, dict[str, str]] = {}
    tag_manifests: dict[str, dict[str, str]] = {}
    for name in top:
        match = MANIFEST.match(name)
        if match is None:
            continue
        algorithm = match.group(2)
        if algorithm not in ALGORITHMS:
            report.error(name, f"uses an unsupported algorithm '{algorithm}'")
            continue
        target = tag_manifests if match.group(1) else manifests
        target[algorithm] = parse_manifest(root, name, version, report, payload=not match.group(1))
    if not manifests:
        report.error("", "has no payload manifest (manifest-<algorithm>.txt)")
    if not (root / "data").is_dir():
        report.error("data", "the payload folder is missing")
        return report
    report.algorithms = sorted(manifests)
    fetched = parse_fetch(root, version, report)

    listed: set[str] = set().union(*(set(entries) for entries in manifests.values())) if manifests else set()
    on_disk: dict[str, Path] = {}
    for relative, file_path in walk_files(root, root / "data"):
        on_disk[relative] = file_path
    # A name may be stored on disk in another Unicode normalisation than in the manifest (macOS writes NFD).
    nfc_on_disk = {unicodedata.normalize("NFC", name): name for name in on_disk}
    for algorithm, entries in manifests.items():
        for path in sorted(set(on_disk) - set(entries)):
            report.error(path, f"is in the payload but not listed in manifest-{algorithm}.txt")
    for missing in sorted(listed - set(on_disk)):
        if missing in fetched:
            report.error(missing, "is listed in fetch.txt but not present (fetching is not done at intake)")
        else:
            report.error(missing, "is listed in a manifest but missing from the payload")
        twin = nfc_on_disk.get(unicodedata.normalize("NFC", missing))
        if twin is not None and twin != missing:
            report.warn(missing, "differs only in Unicode normalisation from a payload file")

    files = size = 0
    for relative in sorted(on_disk):
        wanted = [algorithm for algorithm, entries in manifests.items() if relative in entries]
        try:
            digests, file_size = hash_file(on_disk[relative], wanted)
        except OSError as exc:
            report.error(relative, f"cannot be read: {exc.strerror or exc}")
            continue
        files += 1
        size += file_size
        for algorithm in wanted:
            if digests[algorithm] != manifests[algorithm][relative]:
                report.error(
                    relative, f"{algorithm} checksum {digests[algorithm]} does not match the manifest's "
                              f"{manifests[algorithm][relative]}"
                )
    report.payload_files, report.payload_bytes = files, size

    for label, value in report.info:
        if label.lower() != "payload-oxum":
            continue
        match = re.fullmatch(r"(\d+)\.(\d+)", value)
        if match is None:
            report.error("bag-info.txt", f"Payload-Oxum '{value}' is not <octets>.<files>")
        elif (int(match.group(1)), int(match.group(2))) != (size, files):
            report.error(
                "bag-info.txt", f"Payload-Oxum {value} does not match the payload: {size} bytes in {files} files"
            )

    for algorithm, entries in tag_manifests.items():
        for relative in sorted(entries):
            tag_file = root / relative
            if not tag_file.is_file() or tag_file.is_symlink():
                report.error(relative, f"is listed in tagmanifest-{algorithm}.txt but missing")
                continue
            digests, _size = hash_file(tag_file, [algorithm])
            if digests[algorithm] != entries[relative]:
                report.error(
                    relative, f"{algorithm} checksum {digests[algorithm]} does not match tagmanifest-"
                              f"{algorithm}.txt's {entries[relative]}"
                )
    return report
