"""Acceptance over the real sample corpus (../shared/corpus/transfers): each transfer goes end to end through the
gateway with the `automated` processing configuration (and virusTests once more with a `Quarantine` one), its AIP is
downloaded through the gateway, unpacked, validated as a bag, and its METS read back; each ends as its EXPECTED.tsv
row says, with the events in the METS.

FILES.tsv's PUIDs come from FIDO; Amber identifies with Siegfried. Where the two differ, `SIEGFRIED_DIFFERS` says why
(Siegfried is the more specific of the two there, or declines to choose among extension-only candidates); any other
difference fails the test.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import bagit
import pygfried
import pytest
from lxml import etree

from amber_cli.ephemeral import EphemeralStack, ephemeral_stack
from services.metadata.mets.validation import validate_mets
from tests.signatures import write_test_signatures

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "transfers"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not (CORPUS / "EXPECTED.tsv").is_file(),
                       reason=f"the sample transfer corpus is absent ({CORPUS})"),
]

METS = "{http://www.loc.gov/METS/}"
PREMIS = "{http://www.loc.gov/premis/v3}"
XLINK = "{http://www.w3.org/1999/xlink}"
TRANSFER_DIRECTORY = "%transferDirectory%"
SAFE_NAME = re.compile(r"^[A-Za-z0-9_.()-]+$")
SCAN_LIMIT_MB = 25  # below the 30 MiB samples, above the 1 MiB ones
QUARANTINE_CONFIG = "quarantine-infected"

# Corpus folder → transfer name and processing configuration. virusTests goes twice: once failing as `automated`
# says, once with its infected files quarantined.
RUNS: dict[str, tuple[str, str]] = {
    "Images": ("Images", "automated"),
    "Multimedia": ("Multimedia", "automated"),
    "OfficeDocs": ("OfficeDocs", "automated"),
    "badNames": ("badNames", "automated"),
    "virusTests": ("virusTests", "automated"),
    "virusTestsQuarantine": ("virusTests", QUARANTINE_CONFIG),
    "broken_package_format_types": ("broken_package_format_types", "automated"),
    "file_format_extensions_only": ("file_format_extensions_only", "automated"),
}
STORED = [run for run in RUNS if run != "virusTests"]

INFECTED = {  # clamscan's verdicts in virusTests/README.md, by our test signatures' names
    "test.1M.eicar.with-virus": "Eicar",
    "test.1M.nukem.with-virus": "Nukem",
    "test.zip.eicar.with-virus.zip": "Eicar",
}
# METS fileGrps of the files of these AIPs: no normalization happens, so no preservation or access copies.
USES = {"original", "submissionDocumentation", "metadata", "deleted"}
OVER_SCAN_LIMIT = {"test.30M.nukem.with-virus", "test.30M.null.no-virus"}

# FIDO (FILES.tsv) and Siegfried disagree on these; the PUID Siegfried gives, and why it is right to.
SIEGFRIED_DIFFERS: dict[str, tuple[str | None, str]] = {
    "Images/BBhelmet.ai": (
        "fmt/563", "Siegfried matches Adobe Illustrator's own signature (bytes at 49762, 489039, 489420); FIDO stops "
        "at the PDF 1.5 header the .ai file is built on (fmt/19)"),
    "OfficeDocs/objects/Club-Report.doc": (
        "fmt/40", "Siegfried reads the OLE2 container (CompObj, WordDocument stream): Word 97-2003; FIDO has no "
        "container signatures and reports the generic OLE2 compound document (fmt/111)"),
    "Multimedia/0239.mpg": (
        None, "no signature matches; FIDO then reports its extension candidates, Siegfried declines to choose among "
        "them (its warning lists x-fmt/385, x-fmt/386, fmt/640, fmt/649)"),
}


# -- reading the corpus tables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative to the corpus, e.g. "OfficeDocs/objects/Project.zip"
    size: int
    sha256: str
    fido_puids: tuple[str, ...]
    fido_match: str | None  # None: not in FILES.tsv


@functools.cache
def source_files(folder: str) -> dict[str, SourceFile]:
    """Every file of one corpus folder, keyed by path inside the folder, with FILES.tsv's FIDO results.

    The folder itself is the inventory: FILES.tsv leaves out the five badNames files with a double quote in their
    path (`"quote.txt`, `"quote".txt`, `quote "quote" quote.txt`, `"quote"/@at.txt`, `"quote"/control.txt`). Where
    FILES.tsv lists a file, its size and sha256 must be the file's."""
    with (CORPUS / "FILES.tsv").open(encoding="utf-8", newline="") as table:
        listed = {row["path"]: row for row in csv.DictReader(table, delimiter="\t", quoting=csv.QUOTE_NONE)}
    found: dict[str, SourceFile] = {}
    root = CORPUS / folder
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        relative = f"{folder}/{path.relative_to(root).as_posix()}"
        digest, size = sha256_of(path), path.stat().st_size
        row = listed.get(relative)
        if row is not None:
            assert (row["sha256"], int(row["bytes"])) == (digest, size), f"FILES.tsv disagrees with {relative}"
        puids = tuple(p for p in row["fido_puid"].split(";") if p) if row is not None else ()
        found[relative.split("/", 1)[1]] = SourceFile(relative, size, digest, puids,
                                                      row["fido_match"] if row is not None else None)
    return found


def expected_outcomes() -> dict[str, str]:
    with (CORPUS / "EXPECTED.tsv").open(encoding="utf-8", newline="") as table:
        return {row["name"]: row["expected_outcome"] for row in csv.DictReader(table, delimiter="\t")}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- reading the AIP's METS ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    type: str
    outcome: str
    detail: str
    note: str


@dataclass
class MetsFile:
    uuid: str
    original_name: str  # as recorded, without %transferDirectory%
    sha256: str
    size: int
    puid: str | None
    format_name: str | None
    basis: str
    events: list[Event]
    characterization: list[str]  # the root element of each tool's output
    use: str = ""
    href: str | None = None  # relative to the bag's data/; None for files not in the AIP

    def of(self, kind: str) -> list[Event]:
        return [event for event in self.events if event.type == kind]

    def one(self, kind: str) -> Event:
        events = self.of(kind)
        assert len(events) == 1, (self.original_name, kind, events)
        return events[0]


def _text(element: etree._Element, path: str) -> str:
    found = element.find(path)
    return (found.text or "") if found is not None else ""


def read_mets(path: Path) -> list[MetsFile]:
    """Every file of the METS fileSec with its PREMIS object and events, read as a stream (amdSecs come first)."""
    by_amd: dict[str, MetsFile] = {}
    files: list[MetsFile] = []
    for _, element in etree.iterparse(str(path), events=("end",), tag=(f"{METS}amdSec", f"{METS}fileGrp"),
                                      huge_tree=True):
        if element.tag == f"{METS}amdSec":
            obj = element.find(f"{METS}techMD//{PREMIS}object")
            if obj is not None:
                extensions = obj.iterfind(f".//{PREMIS}objectCharacteristicsExtension")
                by_amd[element.get("ID", "")] = MetsFile(
                    uuid=_text(obj, f"{PREMIS}objectIdentifier/{PREMIS}objectIdentifierValue"),
                    original_name=_text(obj, f"{PREMIS}originalName").removeprefix(TRANSFER_DIRECTORY),
                    sha256=_text(obj, f".//{PREMIS}fixity/{PREMIS}messageDigest"),
                    size=int(_text(obj, f".//{PREMIS}size") or -1),
                    puid=_text(obj, f".//{PREMIS}formatRegistryKey") or None,
                    format_name=_text(obj, f".//{PREMIS}formatName") or None,
                    basis=_text(obj, f".//{PREMIS}formatNote"),
                    events=[
                        Event(_text(ev, f"{PREMIS}eventType"), _text(ev, f".//{PREMIS}eventOutcome"),
                              _text(ev, f".//{PREMIS}eventDetail"), _text(ev, f".//{PREMIS}eventOutcomeDetailNote"))
                        for ev in element.iterfind(f"{METS}digiprovMD//{PREMIS}event")
                    ],
                    characterization=[etree.QName(child).localname for ext in extensions for child in ext
                                      if isinstance(child.tag, str)],
                )
        else:
            for entry in element.iterfind(f"{METS}file"):
                record = by_amd[entry.get("ADMID", "")]
                record.use = element.get("USE", "")
                location = entry.find(f"{METS}FLocat")
                record.href = unquote(location.get(f"{XLINK}href", "")) if location is not None else None
                files.append(record)
        element.clear()
    return files


# -- the stack and the ingests ------------------------------------------------------------------------------------


@dataclass
class Ingested:
    run: str
    folder: str
    summary: dict[str, object]
    bag: Path | None = None
    files: list[MetsFile] = field(default_factory=list)

    @property
    def aip_id(self) -> str:
        return str(self.summary["aip_id"])

    @property
    def label(self) -> str:
        """The transfer's folder name inside the SIP's metadata and logs."""
        return f"{self.summary['name']}-{self.summary['transfer_id']}"

    def by_original(self) -> dict[str, MetsFile]:
        found = {f.original_name: f for f in self.files}
        assert len(found) == len(self.files), "two PREMIS objects with one original name"
        return found

    def aip_path(self, source: str) -> str:
        """Where intake placed a file of the corpus folder (path inside it), relative to the bag's `data/`.

        As Archivematica lays out a transfer, `metadata/submissionDocumentation/` is kept apart under
        `objects/submissionDocumentation/`, the rest of `metadata/` joins the objects' metadata, `logs/` the AIP's
        logs, and anything else goes under `objects/`. Amber does so only when the transfer has an `objects/`
        folder; without one it puts everything, `metadata/` too, under `objects/` (see the checksum.md5 test)."""
        top, _, rest = source.partition("/")
        documentation = "metadata/submissionDocumentation/"
        if source.startswith(documentation):
            laid_out = f"objects/submissionDocumentation/transfer-{self.label}/{source.removeprefix(documentation)}"
        elif top == "metadata":
            laid_out = f"objects/metadata/transfers/{self.label}/{rest}"
        elif top == "logs":
            laid_out = f"logs/transfers/{self.label}/logs/{rest}"
        else:
            laid_out = source if top == "objects" else f"objects/{source}"
        if (CORPUS / self.folder / "objects").is_dir() or laid_out in self.by_original():
            return laid_out
        return f"objects/{source}"


@pytest.fixture(scope="module")
def corpus_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EphemeralStack]:
    signatures = write_test_signatures(tmp_path_factory.mktemp("clamav"), nukem=True)
    with ephemeral_stack(tmp_path_factory.mktemp("amber-corpus"), {
        "AMBER_INGEST_CLAMAV_DATABASE_DIR": str(signatures),
        "AMBER_INGEST_CLAMAV_MAX_FILE_SIZE_MB": str(SCAN_LIMIT_MB),
    }) as running:
        yield running


@pytest.fixture(scope="module")
def ingested(corpus_stack: EphemeralStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ingested]:
    """All runs submitted at once through the gateway (`amber ingest --wait`), then each AIP downloaded and read."""
    with corpus_stack.client() as http:
        response = http.put(f"/api/v1/processing-configurations/{QUARANTINE_CONFIG}",
                            json={"fields": {"infected_files": "Quarantine"}})
        assert response.status_code in (200, 201), response.text
        assert response.json()["fields"]["infected_files"] == "Quarantine"
    sources = tmp_path_factory.mktemp("corpus-copy")
    for folder in sorted({folder for folder, _ in RUNS.values()}):
        shutil.copytree(CORPUS / folder, sources / folder)  # the corpus is read-only; intake may not touch it
    running = {
        run: subprocess.Popen(
            [sys.executable, "-m", "amber_cli", "ingest", str(sources / folder), "--name", run,
             "--processing-config", config, "--wait", "--json", "--timeout", "240"],
            env=corpus_stack.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for run, (folder, config) in RUNS.items()
    }
    results: dict[str, Ingested] = {}
    for run, process in running.items():
        stdout, stderr = process.communicate(timeout=300)
        lines = [line for line in stdout.splitlines() if line.strip()]
        assert lines, f"{run}: no summary from amber ingest (exit {process.returncode}): {stderr[-2000:]}"
        results[run] = Ingested(run, RUNS[run][0], json.loads(lines[-1]))
    downloads = tmp_path_factory.mktemp("aips")
    for result in results.values():
        if result.summary["status"] == "stored":
            result.bag = download_and_unpack(corpus_stack, result.aip_id, downloads / result.run)
            result.files = read_mets(result.bag / "data" / f"METS.{result.aip_id}.xml")
    return results


def download_and_unpack(stack: EphemeralStack, aip_id: str, dest: Path) -> Path:
    dest.mkdir(parents=True)
    archive = dest / "aip.7z"
    with stack.client() as http, http.stream("GET", f"/api/v1/aips/{aip_id}/download") as response:
        assert response.status_code == 200, response.read()
        with archive.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
    unpacked = dest / "unpacked"
    subprocess.run(["7z", "x", "-bd", "-y", f"-o{unpacked}", str(archive)], check=True, capture_output=True)
    (top,) = unpacked.iterdir()
    return top


# -- every transfer -----------------------------------------------------------------------------------------------


def test_the_corpus_rows_this_test_covers_are_listed() -> None:
    expected = expected_outcomes()
    assert {folder for folder, _ in RUNS.values()} <= set(expected)
    assert "extraction FAILS for all five" in expected["broken_package_format_types"]


def test_each_transfer_ends_stored_or_failed_as_configured(ingested: dict[str, Ingested]) -> None:
    statuses = {run: result.summary["status"] for run, result in ingested.items()}
    assert statuses == {run: "failed" if run == "virusTests" else "stored" for run in RUNS}, {
        run: result.summary.get("error") for run, result in ingested.items()
    }


@pytest.mark.parametrize("run", STORED)
def test_the_aip_is_a_valid_bag_with_a_valid_mets(ingested: dict[str, Ingested], run: str) -> None:
    result = ingested[run]
    assert result.bag is not None and result.bag.name == f"{run}-{result.aip_id}"
    bag = bagit.Bag(str(result.bag))
    bag.validate()  # every payload file hashed against the manifest
    assert bag.info["External-Identifier"] == result.aip_id
    mets = result.bag / "data" / f"METS.{result.aip_id}.xml"
    assert validate_mets(mets) == []
    for entry in result.files:
        assert entry.use in USES, (entry.original_name, entry.use)  # nothing normalized
        assert entry.sha256 and entry.size >= 0 and entry.one("ingestion")
        assert entry.one("message digest calculation").note == entry.sha256
        if entry.use != "deleted":
            assert entry.href is not None
            on_disk = result.bag / "data" / entry.href
            assert on_disk.is_file(), entry.href
            assert sha256_of(on_disk) == entry.sha256, entry.href
        else:
            assert entry.href is None and entry.of("file removed"), entry.original_name


@pytest.mark.parametrize("run", STORED)
def test_every_source_file_is_in_the_aip_or_recorded_as_removed(ingested: dict[str, Ingested], run: str) -> None:
    result = ingested[run]
    assert result.bag is not None
    recorded = result.by_original()
    accounted: set[str] = set()
    for inner, source in source_files(result.folder).items():
        where = result.aip_path(inner)
        if where.startswith("logs/"):  # intake's logs travel with the AIP's logs, outside the PREMIS record
            assert sha256_of(result.bag / "data" / where) == source.sha256, where
            continue
        assert where in recorded, f"{source.path} is neither in the AIP nor recorded ({where})"
        entry = recorded[where]
        accounted.add(where)
        assert (entry.sha256, entry.size) == (source.sha256, source.size), source.path
        if entry.use == "deleted":
            assert entry.one("file removed").note, source.path
    for name, entry in recorded.items():  # anything else must have come out of a package
        if name not in accounted:
            assert entry.one("unpacking").detail.startswith(f"Unpacked from: {TRANSFER_DIRECTORY}objects/"), name


@pytest.mark.parametrize("run", STORED)
def test_formats_are_identified_as_fido_did_where_siegfried_agrees(ingested: dict[str, Ingested], run: str) -> None:
    result = ingested[run]
    recorded = result.by_original()
    for inner, source in source_files(result.folder).items():
        where = result.aip_path(inner)
        if where.startswith("logs/"):
            continue
        entry = recorded[where]
        event = entry.one("format identification")
        assert event.detail.startswith('program="Siegfried"')
        assert (event.outcome, event.note) == (("Positive", entry.puid) if entry.puid
                                               else ("Not identified", "No Matching Format")), source.path
        if source.fido_match is None:
            continue  # not in FILES.tsv: nothing to compare with
        if source.path in SIEGFRIED_DIFFERS:
            assert entry.puid == SIEGFRIED_DIFFERS[source.path][0], source.path
        elif source.fido_match == "signature":
            assert entry.puid == source.fido_puids[0], source.path
        elif source.fido_match == "extension-only":
            # Siegfried either names one of FIDO's candidates or declines to choose.
            assert entry.puid is None or entry.puid in source.fido_puids, (source.path, entry.puid)
            assert entry.puid is None or "extension match" in entry.basis, (source.path, entry.basis)
        else:  # no match in FIDO: only a text match (plain ASCII) or nothing
            assert entry.puid in (None, "x-fmt/111"), (source.path, entry.puid)


@pytest.mark.parametrize("run", STORED)
def test_every_file_is_scanned_or_reported_not_scanned(ingested: dict[str, Ingested], run: str) -> None:
    for entry in ingested[run].files:
        check = entry.one("virus check")
        assert check.detail.startswith('program="ClamAV (clamd)"'), entry.original_name
        name = entry.original_name.rsplit("/", 1)[-1]
        if name in OVER_SCAN_LIMIT:
            assert check.outcome == "Not scanned", entry.original_name
            assert f"limit of {SCAN_LIMIT_MB * 1024 * 1024} bytes" in check.note
        elif name in INFECTED:
            assert check.outcome == "Fail" and INFECTED[name] in check.note, (entry.original_name, check)
        else:
            assert (check.outcome, check.note) == ("Pass", ""), entry.original_name


# -- Images, Multimedia ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("run", "tools"), [("Images", {"ExifTool"}), ("Multimedia", {"MediaInfo", "ffprobe"})])
def test_images_and_multimedia_are_characterized(ingested: dict[str, Ingested], run: str, tools: set[str]) -> None:
    files = ingested[run].files
    assert len(files) == len(source_files(run))  # MARBLES.TGA / MakeUp.mov are absent upstream (MISSING_UPSTREAM.tsv)
    for entry in files:
        assert entry.characterization, entry.original_name
        if run == "Multimedia":
            assert tools <= set(entry.characterization), (entry.original_name, entry.characterization)


# -- OfficeDocs -----------------------------------------------------------------------------------------------------


def test_office_docs_zips_are_extracted_their_members_identified_and_the_zips_deleted(
    ingested: dict[str, Ingested],
) -> None:
    result = ingested["OfficeDocs"]
    recorded = result.by_original()
    for package in ("objects/MS-OfficeOpenXML-samples.zip", "objects/Project.zip"):
        zipped = recorded[package]
        assert zipped.use == "deleted" and zipped.puid == "x-fmt/263"
        removed = zipped.one("file removed")
        match = re.fullmatch(rf"extracted to ({re.escape(package)}-\d{{4}}-\d\d-\d\dT\d\d_\d\d_\d\d)", removed.note)
        assert match, removed.note
        folder = match.group(1)
        with zipfile.ZipFile(CORPUS / "OfficeDocs" / package) as archive:
            members = {info.filename: hashlib.sha256(archive.read(info)).hexdigest()
                       for info in archive.infolist() if not info.is_dir()}
        assert members
        for member, digest in members.items():
            entry = recorded[f"{folder}/{member}"]
            assert entry.use == "original" and entry.sha256 == digest, member
            assert entry.one("unpacking").detail == f"Unpacked from: {TRANSFER_DIRECTORY}{package} ({zipped.uuid})"
            assert entry.puid is not None and entry.one("format identification").outcome == "Positive", member
            assert entry.href is not None and SAFE_NAME.match(entry.href.rsplit("/", 1)[-1]), entry.href
            if entry.href != entry.original_name:
                assert f'Original name="{TRANSFER_DIRECTORY}{entry.original_name}"' in \
                    entry.one("filename change").note
    members_by_puid = {entry.original_name.rsplit("/", 1)[-1]: entry.puid for entry in result.files
                       if entry.of("unpacking")}
    assert members_by_puid == {
        "sampledocx.docx": "fmt/412", "samplepptx.pptx": "fmt/215", "samplexlsx.xlsx": "fmt/214",
        "Members_Master2009.xls": "fmt/61", "PPT_test.ppt": "fmt/126",
        "Syllabus FINAL.doc": "fmt/45",  # an RTF document named .doc: identified by its content
    }


def test_office_docs_submission_documentation_is_kept_apart(ingested: dict[str, Ingested]) -> None:
    result = ingested["OfficeDocs"]
    (entry,) = [e for e in result.files if e.original_name.endswith("/Records_transfer.rtf")]
    assert entry.sha256 == source_files("OfficeDocs")["metadata/submissionDocumentation/Records_transfer.rtf"].sha256
    assert entry.use == "submissionDocumentation"
    assert entry.href == f"objects/submissionDocumentation/transfer-{result.label}/Records_transfer.rtf"
    assert {e.use for e in result.files if e.use != "deleted" and e is not entry} == {"original"}


# -- badNames -------------------------------------------------------------------------------------------------------


def test_bad_names_are_all_renamed_safely_with_their_original_names_kept(ingested: dict[str, Ingested]) -> None:
    result = ingested["badNames"]
    sources = {result.aip_path(inner): source for inner, source in source_files("badNames").items()
               if not inner.startswith("logs/")}
    assert len(result.files) == len(sources) == 105  # 58 files, 23 folders of 2, submission documentation
    hrefs = [entry.href for entry in result.files]
    assert len(set(hrefs)) == len(hrefs) and len({str(h).lower() for h in hrefs}) == len(hrefs)  # no collision
    renamed = 0
    for entry in result.files:
        assert entry.use in ("original", "submissionDocumentation") and entry.href is not None
        assert entry.original_name in sources, entry.original_name  # the original name is kept, exactly
        assert entry.sha256 == sources[entry.original_name].sha256
        assert all(SAFE_NAME.match(part) for part in entry.href.split("/")), entry.href
        changes = entry.of("filename change")
        if entry.href == entry.original_name:
            assert not changes, entry.href
            continue
        renamed += 1
        (change,) = changes
        assert change.note == (f'Original name="{TRANSFER_DIRECTORY}{entry.original_name}"; '
                               f'new name="{TRANSFER_DIRECTORY}{entry.href}"')
        assert change.detail.startswith("prohibited characters removed")
    unsafe = [name for name in sources if not all(SAFE_NAME.match(part) for part in name.split("/"))]
    assert renamed == len(unsafe) > 90  # every name with an unsafe part, and only those
    assert result.bag is not None
    data = result.bag / "data"
    in_bag = sorted(p.relative_to(data).as_posix() for p in (data / "objects").rglob("*") if p.is_file())
    assert in_bag == sorted(str(h) for h in hrefs)


# -- virusTests -----------------------------------------------------------------------------------------------------


def test_virus_tests_fail_the_transfer_under_automated_naming_the_infected_files(
    ingested: dict[str, Ingested], corpus_stack: EphemeralStack,
) -> None:
    result = ingested["virusTests"]
    assert result.summary["status"] == "failed" and result.summary["aip_path"] is None
    error = str(result.summary["error"])
    assert error.startswith("Virus scan: infected files found")
    for name in INFECTED:
        assert f"objects/{name}" in error
    for name in OVER_SCAN_LIMIT:
        assert name not in error  # not scanned is not infected
    with corpus_stack.client() as http:
        assert http.get(f"/api/v1/aips/{result.aip_id}").status_code == 404
        tasks = http.get(f"/api/v1/ingests/{result.aip_id}/tasks", params={"limit": 100}).json()["items"]
    failed = sorted(task["path"] for task in tasks if task["status"] == "failed")
    assert failed == sorted(f"objects/{name}" for name in INFECTED)
    for task in tasks:
        if task["path"].rsplit("/", 1)[-1] in OVER_SCAN_LIMIT:
            assert "virus check: not scanned" in task["message"], task


def test_virus_tests_quarantine_keeps_infected_files_out_of_the_aip_with_their_events(
    ingested: dict[str, Ingested], corpus_stack: EphemeralStack,
) -> None:
    result = ingested["virusTestsQuarantine"]
    sources = source_files("virusTests")
    recorded = result.by_original()
    quarantine = corpus_stack.data_dir / "processing" / "quarantine" / result.aip_id
    for name, signature in INFECTED.items():
        entry = recorded[f"objects/{name}"]
        assert entry.use == "deleted" and entry.href is None
        check = entry.one("virus check")
        assert check.outcome == "Fail" and signature in check.note
        removed = entry.one("file removed")
        assert removed.detail == "quarantined: infected"
        assert removed.note.endswith(f"moved to quarantine/{result.aip_id}/objects/{name}")
        assert sha256_of(quarantine / "objects" / name) == sources[name].sha256
    for name in OVER_SCAN_LIMIT:
        entry = recorded[f"objects/{name}"]
        assert entry.use == "original" and entry.one("virus check").outcome == "Not scanned"
    for name in ("test.1M.null.no-virus", "test.zero.byte.no-virus", "README.md"):
        assert recorded[f"objects/{name}"].one("virus check").outcome == "Pass"
    assert result.bag is not None
    in_bag = {p.name for p in (result.bag / "data" / "objects").rglob("*") if p.is_file()}
    assert not in_bag & set(INFECTED)


def test_virus_tests_checksum_md5_verifies_all_eight_entries(ingested: dict[str, Ingested]) -> None:
    result = ingested["virusTestsQuarantine"]
    recorded = result.by_original()
    checksums = recorded[f"objects/metadata/transfers/{result.label}/checksum.md5"]  # transfer metadata, not objects
    assert checksums.use == "metadata"
    listed = [line.split("  ", 1)[1] for line in
              (CORPUS / "virusTests" / "metadata" / "checksum.md5").read_text(encoding="utf-8").splitlines()]
    assert len(listed) == 8
    for name in listed:
        check = recorded[f"objects/{name}"].one("fixity check")
        assert check.outcome.lower() == "pass", (name, check)


# -- broken_package_format_types ------------------------------------------------------------------------------------


def test_broken_packages_are_identified_fail_extraction_and_the_transfer_continues(
    ingested: dict[str, Ingested], corpus_stack: EphemeralStack,
) -> None:
    result = ingested["broken_package_format_types"]
    packages = [entry for entry in result.files if not entry.original_name.endswith("README.md")]
    assert len(packages) == 5
    for entry in packages:
        named = re.search(r"((?:x-)?fmt)-(\d+)-signature", entry.original_name)
        expected = f"{named.group(1)}/{named.group(2)}" if named else "x-fmt/263"  # broken-cp437.zip: a zip
        assert entry.puid == expected, entry.original_name
        unpacking = entry.one("unpacking")
        assert unpacking.outcome == "Fail" and unpacking.note.startswith("extraction failed"), unpacking
        assert entry.use == "original" and not entry.of("file removed")  # a package that did not open is kept
    assert not [entry for entry in result.files if entry.original_name.count("/") > 2]  # nothing was extracted
    with corpus_stack.client() as http:
        failed = http.get(f"/api/v1/ingests/{result.aip_id}/tasks",
                          params={"status": "failed", "limit": 100}).json()["items"]
    assert sorted(task["path"] for task in failed) == sorted(str(entry.href) for entry in packages)
    assert all("extraction failed" in task["message"] for task in failed)


# -- file_format_extensions_only ------------------------------------------------------------------------------------


def test_extension_only_files_empty_ones_unidentified_text_ones_as_siegfried_says(
    ingested: dict[str, Ingested],
) -> None:
    result = ingested["file_format_extensions_only"]
    recorded = result.by_original()
    sources = source_files("file_format_extensions_only")
    empty = [inner for inner in sources if inner.startswith("empty_files_with_extensions/")]
    text = [inner for inner in sources if inner.startswith("text_files_with_extensions/")]
    assert len(empty) == len(text) == 10
    for inner in empty:
        entry = recorded[f"objects/{inner}"]
        assert entry.size == 0 and entry.puid is None, inner
        assert entry.one("format identification").outcome == "Not identified"
        assert entry.basis == "empty file", inner  # flagged as empty, in the METS's premis:formatNote
    identified = {}
    for inner in text:
        entry = recorded[f"objects/{inner}"]
        verdict = pygfried.identify(str(CORPUS / "file_format_extensions_only" / inner), detailed=True)
        (match,) = [m for m in verdict["files"][0]["matches"] if m["ns"] == "pronom"]
        siegfried = None if match["id"] == "UNKNOWN" else match["id"]
        assert entry.puid == siegfried, inner
        if entry.puid is not None:
            assert entry.basis.startswith("extension match") and "byte match" not in entry.basis, entry.basis
            identified[inner.rsplit("/", 1)[-1]] = entry.puid
    assert identified == {"text_file_ten.bin": "fmt/208"}  # Siegfried 1.11: the one unambiguous extension
    assert {entry.use for entry in result.files} == {"original"}  # nothing normalized, nothing removed
