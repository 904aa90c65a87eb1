"""From a staged transfer root to the laid-out transfer folder, with what intake did written to its journal.

Runs in a worker thread after the material has been copied or extracted into a staging folder. Bags are
validated completely and converted to the standard layout as Archivematica does; standard transfers have their
checksum files verified; then compliance: junk files removed, hidden files kept or removed, empty folders
recorded, metadata files parsed. Every step writes its records to `logs/amber-transfer.jsonl`
(see docs/ARCHITECTURE.md, "the transfer journal"). Any refusal raises TransferRefused naming what is wrong.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import platform
import shutil
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from clients.transfer.schemas import TransferType
from servicekit.xmlschema import validate_structmap
from services.transfer.transfers import bagit
from services.transfer.transfers.layout import Placement, TransferRefused, move_into_layout, shown

JOURNAL = PurePosixPath("logs", "amber-transfer.jsonl")
# "Icon" without the carriage return is an ordinary name and stays.
JUNK = frozenset({"Thumbs.db", ".DS_Store", "Icon\r"})
CHECKSUM_FILES = ("md5", "sha1", "sha256", "sha512")
PROCESSING_CONFIGURATION = "processingMCP.xml"
STRUCTMAP = "mets_structmap.xml"
READ_CHUNK = 1024 * 1024
DC_PREFIXES = ("dc.", "dcterms.")
RIGHTS_COLUMNS = (
    "file", "basis", "status", "determination_date", "jurisdiction", "start_date", "end_date", "terms", "citation",
    "note", "grant_act", "grant_restriction", "grant_start_date", "grant_end_date", "grant_note", "doc_id_type",
    "doc_id_value", "doc_id_role",
)
RIGHTS_BASES = frozenset({"copyright", "statute", "license", "donor", "policy", "other"})


@dataclass(frozen=True)
class IntakeOptions:
    transfer_type: TransferType | None = None
    remove_hidden: bool = False
    archive: bool = False


class Journal:
    """The transfer journal: records are kept until the transfer folder exists, then written line by line."""

    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []
        self.handle: io.TextIOWrapper | None = None

    def attach(self, target: Path) -> None:
        path = target.joinpath(JOURNAL)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = path.open("a", encoding="utf-8")
        for record in self.pending:
            self._write(record)
        self.pending.clear()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def _write(self, record: dict[str, Any]) -> None:
        assert self.handle is not None
        self.handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    def add(self, record: str, **fields: Any) -> None:
        item = {"record": record, **fields}
        if self.handle is None:
            self.pending.append(item)
        else:
            self._write(item)

    def event(
        self, path: str | None, event_type: str, detail: str, outcome: str, outcome_note: str = ""
    ) -> None:
        self.add(
            "event", path=path, type=event_type, datetime=datetime.now(UTC).isoformat(), detail=detail,
            outcome=outcome, outcome_note=outcome_note,
        )


def relative(target: Path, path: Path) -> str:
    return path.relative_to(target).as_posix()


def place_transfer(root: Path, target: Path, options: IntakeOptions) -> Placement:
    """Lay out the staged `root` as the transfer folder `target` and run intake's checks, journalling them."""
    journal = Journal()
    try:
        bag = bagit.is_bag(root)
        if options.transfer_type in (TransferType.unzipped_bag, TransferType.zipped_bag) and not bag:
            raise TransferRefused("The transfer was sent as a bag but holds no bagit.txt or payload manifest")
        if bag:
            place_bag(root, target, journal)
        else:
            move_into_layout(root, target, on_move=lambda old, new: journal.event(
                new, "filename change", 'program="amber intake"; moved into objects/ for compliance', "",
                f'Original name="{old}"; new name="{new}"',
            ))
        journal.attach(target)
        if (target / PROCESSING_CONFIGURATION).is_file():
            journal.add("processing_configuration", path=PROCESSING_CONFIGURATION)
        if not bag:
            verify_checksum_files(target, journal)
        remove_unwanted(target, options, journal)
        record_empty_directories(target, journal)
        check_structmap(target)
        parse_metadata(target, journal)
    finally:
        journal.close()
    if bag:
        detected = TransferType.zipped_bag if options.archive else TransferType.unzipped_bag
    else:
        detected = TransferType.zipped_directory if options.archive else TransferType.standard
    return count(target, detected)


# --- bags ------------------------------------------------------------------------------------------------------


def place_bag(root: Path, target: Path, journal: Journal) -> None:
    """Validate the bag, then move `data/*` to objects/ (`data/metadata` to metadata/), manifests to metadata/ and
    the other tag files to logs/BagIt/, as Archivematica's bag restructuring does."""
    report = bagit.validate_bag(root)
    if not report.valid:
        raise TransferRefused(report.summary(), [(path or "bag", reason) for path, reason in report.errors])
    journal.event(None, "fixity check", "Bagit - verifypayloadmanifests", "Pass",
                  "; ".join(f"{path}: {reason}" for path, reason in report.warnings))
    (target / "objects").mkdir(parents=True)
    (target / "logs" / "BagIt").mkdir(parents=True)
    data = root / "data"
    with os.scandir(data) as scan:
        payload = sorted(entry.name for entry in scan)
    for name in payload:
        source = data / name
        if name == "metadata" and source.is_dir() and not source.is_symlink():
            destination = target / "metadata"
        elif name == PROCESSING_CONFIGURATION and source.is_file():
            destination = target / PROCESSING_CONFIGURATION
        else:
            destination = target / "objects" / name
        os.rename(source, destination)
    (target / "metadata").mkdir(exist_ok=True)
    with os.scandir(root) as scan:
        tags = sorted(entry.name for entry in scan if entry.name != "data")
    for name in tags:
        folder = "metadata" if bagit.MANIFEST.match(name) and not name.startswith("tag") else "logs/BagIt"
        destination = target / folder / name
        if destination.exists():
            raise TransferRefused(f"The bag's '{shown(name)}' collides with its payload's metadata/{shown(name)}")
        os.rename(root / name, destination)
    os.rmdir(data)


# --- checksum files ------------------------------------------------------------------------------------------------


def verify_checksum_files(target: Path, journal: Journal) -> None:
    """Verify every `metadata/checksum.<alg>` against objects/, like `<alg>sum -c --strict` run in objects/."""
    objects = target / "objects"
    files = {name for name, _path in bagit.walk_files(objects, objects)} if objects.is_dir() else set()
    failures: list[tuple[str, str]] = []
    passed: list[tuple[str, str]] = []
    for algorithm in CHECKSUM_FILES:
        checksum_file = target / "metadata" / f"checksum.{algorithm}"
        if not checksum_file.is_file():
            continue
        listed: dict[str, str] = {}
        text = checksum_file.read_bytes().decode("utf-8", "surrogateescape").removeprefix("\ufeff")
        for number, line in enumerate(bagit.split_lines(text), 1):
            if not line.strip():
                continue
            parts = line.split(maxsplit=1)
            if len(parts) != 2:
                failures.append((f"metadata/checksum.{algorithm}", f"line {number} is not '<checksum>  <path>'"))
                continue
            path = parts[1].removeprefix("*").removeprefix("./").removeprefix("objects/")
            if bagit.unsafe_reason(path):
                failures.append((f"metadata/checksum.{algorithm}", f"line {number}: '{shown(path)}' "
                                 f"{bagit.unsafe_reason(path)}"))
                continue
            listed[path] = parts[0].lower()
        for path in sorted(files - set(listed)):
            failures.append((f"objects/{shown(path)}", f"is not listed in metadata/checksum.{algorithm}"))
        for path, expected in sorted(listed.items()):
            if path not in files:
                failures.append((f"objects/{shown(path)}", f"listed in metadata/checksum.{algorithm} is missing"))
                continue
            actual = file_digest(objects / path, algorithm)
            if actual != expected:
                failures.append((f"objects/{shown(path)}", f"{algorithm} checksum {actual} does not match "
                                 f"metadata/checksum.{algorithm}'s {expected}"))
            else:
                passed.append((f"objects/{path}", algorithm))
    if failures:
        names = ", ".join(entry for entry, _reason in failures[:20])
        raise TransferRefused(f"Checksum verification failed for {len(failures)} files: {names}", failures)
    for path, algorithm in passed:
        journal.event(path, "fixity check", digest_agent(algorithm), "pass")


def digest_agent(algorithm: str) -> str:
    """The event detail naming what computed the digest: Python's hashlib, and the library behind it."""
    hasher = hashlib.new(algorithm)
    # CPython hands the common digests to OpenSSL when it was built with it; otherwise to its own code.
    library = ssl.OPENSSL_VERSION if type(hasher).__module__ == "_hashlib" else "built-in"
    return (f'program="python"; module="hashlib.{algorithm}()"; '
            f'version="Python {platform.python_version()}; {library}"')


def file_digest(path: Path, algorithm: str) -> str:
    hasher = hashlib.new(algorithm)
    with path.open("rb") as reader:
        while chunk := reader.read(READ_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


# --- compliance ----------------------------------------------------------------------------------------------------


def remove_unwanted(target: Path, options: IntakeOptions, journal: Journal) -> None:
    """Junk files always go; hidden files and folders go only when the setting says so. Each removal is recorded."""
    pending = [target]
    while pending:
        folder = pending.pop()
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
        for entry in entries:
            path = Path(entry.path)
            if path == target / JOURNAL.parent:
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            if not is_dir and entry.name in JUNK:
                remove_file(target, path, "junk file (system-generated)", journal)
            elif options.remove_hidden and entry.name.startswith("."):
                if is_dir:
                    for _name, inner in sorted(bagit.walk_files(path, path)):
                        remove_file(target, inner, "hidden file (in a hidden folder)", journal)
                    shutil.rmtree(path)
                else:
                    remove_file(target, path, "hidden file", journal)
            elif is_dir:
                pending.append(path)


def remove_file(target: Path, path: Path, reason: str, journal: Journal) -> None:
    name = relative(target, path)
    path.unlink()
    journal.add("removed", path=name, reason=reason)
    journal.event(name, "file removed", f'program="amber intake"; {reason}', "", f"{reason} removed at intake")


def record_empty_directories(target: Path, journal: Journal) -> None:
    for folder, subfolders, files in sorted(os.walk(target)):
        if not subfolders and not files and Path(folder) != target:
            journal.add("empty_directory", path=relative(target, Path(folder)))


# --- metadata files ------------------------------------------------------------------------------------------------


def metadata_error(file: str, row: int | None, column: str | None, reason: str) -> TransferRefused:
    where = f"metadata/{file}" + (f", row {row}" if row else "") + (f", column '{column}'" if column else "")
    return TransferRefused(f"{where}: {reason}", [(where, reason)])


Row = tuple[int, list[tuple[str, str]]]


def read_csv(target: Path, name: str) -> list[Row] | None:
    """(row number, [(column, cell)]) per non-blank row; columns may repeat (several dc.creator, say)."""
    path = target / "metadata" / name
    if not path.is_file():
        return None
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise metadata_error(name, None, None, f"is not UTF-8 ({exc})") from exc
    # newline="" lets csv accept CR, LF and CRLF endings alike, and line breaks inside quoted fields.
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [row for row in reader]
    except csv.Error as exc:
        raise metadata_error(name, reader.line_num, None, f"is not valid CSV: {exc}") from exc
    if not rows:
        raise metadata_error(name, None, None, "is empty")
    header = [column.strip() for column in rows[0]]
    if not header or header[0] not in ("filename", "file", "parts"):
        raise metadata_error(name, 1, header[0] if header else None, "the first column must be 'filename'")
    duplicated = {column for column in header if header.count(column) > 1 and not column.startswith(DC_PREFIXES)}
    if name != "metadata.csv" and duplicated:
        raise metadata_error(name, 1, sorted(duplicated)[0], "appears more than once")
    result = []
    for number, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise metadata_error(name, number, None, f"has {len(row)} cells but the header has {len(header)}")
        result.append((number, list(zip(header, row, strict=False))))
    return result


def transfer_path(target: Path, file: str, value: str, row: int, column: str) -> str:
    path = value.strip().removeprefix("./").rstrip("/")
    if not (path == "objects" or path.startswith("objects/")) or bagit.unsafe_reason(path):
        raise metadata_error(file, row, column, f"'{shown(value)}' is not a path under objects/")
    if not os.path.lexists(target / path):
        raise metadata_error(file, row, column, f"'{shown(value)}' is not in the transfer")
    return path


def check_structmap(target: Path) -> None:
    """`metadata/mets_structmap.xml` must be valid METS (Archivematica's compliance step checks it against the
    XSD too): refused here, it cannot reach the AIP METS and fail the ingest there."""
    path = target / "metadata" / STRUCTMAP
    if not path.is_file():
        return
    errors = validate_structmap(path)
    if errors:
        raise TransferRefused(f"metadata/{STRUCTMAP} is not valid METS ({len(errors)} errors): {errors[0]}",
                              [(f"metadata/{STRUCTMAP}", error) for error in errors])


def parse_metadata(target: Path, journal: Journal) -> None:
    rows = read_csv(target, "metadata.csv")
    for number, cells in rows or []:
        first, value = cells[0]
        path = transfer_path(target, "metadata.csv", value, number, first)
        dc: dict[str, list[str]] = {}
        custom: dict[str, list[str]] = {}
        for column, value in cells[1:]:
            if not column:
                raise metadata_error("metadata.csv", 1, column, "a column has no name")
            if not value.strip():
                continue
            elements = dc if column.lower().startswith(DC_PREFIXES) else custom
            elements.setdefault(column, []).append(value)
        if dc:
            journal.add("dublin_core", path=path, elements=dc)
        if custom:
            journal.add("custom_metadata", path=path, elements=custom)
    rights = read_csv(target, "rights.csv")
    for number, cells in rights or []:
        row = dict(cells)
        unknown = [column for column in row if column not in RIGHTS_COLUMNS]
        if unknown:
            raise metadata_error("rights.csv", 1, unknown[0], "is not a rights.csv column")
        path = transfer_path(target, "rights.csv", row.pop("file", ""), number, "file")
        basis = row.get("basis", "").strip()
        if basis.lower() not in RIGHTS_BASES:
            raise metadata_error("rights.csv", number, "basis", f"'{shown(basis)}' is not one of "
                                 f"{', '.join(sorted(RIGHTS_BASES))}")
        for column in ("determination_date", "start_date", "end_date", "grant_start_date", "grant_end_date"):
            value = row.get(column, "").strip()
            if value and value.lower() != "open":
                try:
                    datetime.strptime(value, "%Y-%m-%d")
                except ValueError as exc:
                    raise metadata_error("rights.csv", number, column,
                                         f"'{shown(value)}' is not a date (YYYY-MM-DD or 'open')") from exc
        journal.add("rights", path=path, statement={"file": path, **{k: v for k, v in row.items() if v}})
    identifiers = target / "metadata" / "identifiers.json"
    if identifiers.is_file():
        parse_identifiers(target, identifiers, journal)


def parse_identifiers(target: Path, path: Path, journal: Journal) -> None:
    try:
        document = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise metadata_error("identifiers.json", None, None, f"is not valid JSON: {exc}") from exc
    if not isinstance(document, list):
        raise metadata_error("identifiers.json", None, None, "must be a list of {file, identifiers}")
    for index, item in enumerate(document, 1):
        if not isinstance(item, dict) or not isinstance(item.get("file"), str):
            raise metadata_error("identifiers.json", index, "file", "each item needs a 'file' string")
        file_path = transfer_path(target, "identifiers.json", item["file"], index, "file")
        found = item.get("identifiers")
        if not isinstance(found, list) or not all(
            isinstance(entry, dict) and isinstance(entry.get("identifierType"), str)
            and isinstance(entry.get("identifier"), str) for entry in found
        ):
            raise metadata_error("identifiers.json", index, "identifiers",
                                 "must be a list of {identifierType, identifier}")
        journal.add("identifiers", path=file_path, identifiers=[
            {"type": entry["identifierType"], "value": entry["identifier"]} for entry in found
        ])


def count(target: Path, transfer_type: TransferType) -> Placement:
    files = size = 0
    journal = target / JOURNAL
    for folder, _subfolders, names in os.walk(target):
        for name in names:
            if os.path.join(folder, name) == str(journal):
                continue
            files += 1
            size += os.lstat(os.path.join(folder, name)).st_size
    return Placement(file_count=files, size=size, transfer_type=transfer_type)
