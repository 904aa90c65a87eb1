"""Preservation actions over the real sample corpus (../shared/corpus/transfers): `Images`, `Multimedia` and
`OfficeDocs` go through the gateway at once, on one stack, with a configuration that normalizes for preservation
and access and makes thumbnails. For each, what the format policy registry says is what happened: every
derivative its rules call for exists, Siegfried identifies it as the rule's command promises, it passes its
validator (jpylyzer, MediaConch, qpdf with the PDF/A identification metadata, and the registry's own validation
rules in the METS), it is linked to its original both ways in a schema-valid METS that metsrw reads; the DIP is
stored, downloaded through the gateway, and holds an access copy and a thumbnail for every original. The files
for which the registry has no rule are named below, with the reason, and must be reported so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygfried
import pytest
from lxml import etree

from clients.ingest.fpr import FormatPolicy, ResolvedRule
from services.ingest.fpr.index import PolicyIndex, resolve_policy
from services.metadata.mets.validation import validate_mets
from tests.e2e.conftest import Stack
from tests.e2e.test_corpus_ingest import CORPUS, MetsFile, download_and_unpack, read_mets
from tests.e2e.test_first_path import NS
from tests.e2e.test_normalization_e2e import fetch_dip, found_from_originals, relationship

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not all((CORPUS / folder).is_dir() for folder in ("Images", "Multimedia", "OfficeDocs")),
                       reason=f"the sample transfer corpus is absent ({CORPUS})"),
]

FOLDERS = ("Images", "Multimedia", "OfficeDocs")
CONFIG = "corpus-normalize"
PURPOSES = ("preservation", "access", "thumbnail")
# PDF/A PUIDs → (part, conformance) their XMP identification must carry.
PDFA = {"fmt/95": ("1", "A"), "fmt/354": ("1", "B"), "fmt/476": ("2", "A"), "fmt/477": ("2", "B"),
        "fmt/478": ("2", "U"), "fmt/479": ("3", "A"), "fmt/480": ("3", "B"), "fmt/481": ("3", "U")}

# Originals (by file name after sanitization) for which the shipped registry has no preservation rule, and why
# that is the registry's choice rather than a gap in the chain; each gets a copy for access and an icon thumbnail.
NO_PRESERVATION_RULE: dict[str, dict[str, str]] = {
    "Images": {
        "BBhelmet.ai": "Adobe Illustrator (fmt/563): Archivematica has no rule either",
        "Vector.NET-Free-Vector-Art-Pack-28-Freedom-Flight.eps": "EPS (fmt/124): vector, not rasterized",
        "lion.svg": "SVG (fmt/91) is itself an open preservation format",
    },
    "Multimedia": {
        "0239.mpg": "no signature matches (Siegfried lists extension candidates only): no format, no rule",
        "BlastOff.wmv": "ASF (fmt/131): no rule for the container in the shipped registry",
        "j6059_02.wma": "ASF (fmt/131): as BlastOff.wmv",
        "funky_breakbeat_4.wav": "WAV (fmt/141) is already a preservation format",
    },
    "OfficeDocs": {
        "_datavibe-l__FW__job_vacancy.rtf": "RTF (fmt/45): no rule in the shipped registry",
        "Syllabus_FINAL.doc": "an RTF file named .doc (Siegfried: fmt/45), as the one above",
    },
}


@dataclass
class Normalized:
    folder: str
    summary: dict[str, Any]
    report: list[dict[str, Any]] = field(default_factory=list)
    bag: Path = Path()
    files: list[MetsFile] = field(default_factory=list)
    dip: Path = Path()  # the DIP's top folder, unpacked

    @property
    def aip_id(self) -> str:
        return str(self.summary["aip_id"])

    @property
    def mets(self) -> Path:
        return self.bag / "data" / f"METS.{self.aip_id}.xml"

    def originals(self) -> dict[str, MetsFile]:
        """The files normalization works on: the originals under objects/ (not submission documentation)."""
        return {f.href: f for f in self.files if f.use == "original" and f.href and f.href.startswith("objects/")
                and not f.href.startswith(("objects/submissionDocumentation/", "objects/metadata/"))}

    def rows(self) -> dict[tuple[str, str], dict[str, Any]]:
        found = {(r["path"], r["purpose"]): r for r in self.report}
        assert len(found) == len(self.report), "two report rows for one file and purpose"
        return found


@dataclass
class Corpus:
    runs: dict[str, Normalized]
    index: PolicyIndex
    seconds: float  # from the three submissions to the last one stored


@pytest.fixture(scope="module")
def corpus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    with stack.client() as http:
        response = http.put(f"/api/v1/processing-configurations/{CONFIG}", json={"fields": {
            "normalize": "Normalize for preservation and access", "normalize_thumbnail_mode": "Yes",
            "normalize_transfer": "Approve", "transcribe_file": "No",
            # Not what this test is about, and bzip2 both ways costs seconds on 40 MB of AIPs.
            "compression_algo": "7z without compression"}})
        assert response.status_code in (200, 201), response.text
    sources = tmp_path_factory.mktemp("corpus-normalize")
    for folder in FOLDERS:
        shutil.copytree(CORPUS / folder, sources / folder)  # the corpus is read-only; intake may not touch it
    started = time.monotonic()
    running = {
        folder: subprocess.Popen(
            [sys.executable, "-m", "amber_cli", "ingest", str(sources / folder), "--processing-config", CONFIG,
             "--wait", "--json", "--timeout", "400"],
            env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for folder in FOLDERS
    }
    runs: dict[str, Normalized] = {}
    for folder, process in running.items():
        stdout, stderr = process.communicate(timeout=450)
        lines = [line for line in stdout.splitlines() if line.strip()]
        assert lines, f"{folder}: no summary from amber ingest (exit {process.returncode}): {stderr[-2000:]}"
        runs[folder] = Normalized(folder, json.loads(lines[-1]))
    seconds = time.monotonic() - started
    print(f"\n{len(FOLDERS)} corpus transfers normalized and stored concurrently in {seconds:.1f} s")
    downloads = tmp_path_factory.mktemp("corpus-normalized")
    with stack.client() as http:
        for run in runs.values():
            if run.summary["status"] != "stored":
                continue
            run.report = http.get(f"/api/v1/ingests/{run.aip_id}/normalization",
                                  params={"limit": 1000}).json()["items"]
            run.bag = download_and_unpack(stack, run.aip_id, downloads / run.folder)
            run.files = read_mets(run.mets)
            run.dip = download_dip(http, run.aip_id, downloads / run.folder)
        exported = http.get("/api/v1/format-policy")
        assert exported.status_code == 200, exported.text
        policy = FormatPolicy.model_validate(exported.json())
        index = PolicyIndex(resolve_policy(policy), {f.puid: f.group for f in policy.formats})
    yield Corpus(runs, index, seconds)


def download_dip(http: Any, aip_id: str, dest: Path) -> Path:
    archive = fetch_dip(http, aip_id, dest)
    unpacked = dest / "dip"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    (top,) = unpacked.iterdir()
    assert top.name.endswith(f"-{aip_id}")
    return top


def siegfried(path: Path) -> str | None:
    result = pygfried.identify(str(path), detailed=True)
    match = next((m for m in result["files"][0]["matches"] if m.get("ns") == "pronom"), None)
    return match["id"] if match and match.get("id") not in (None, "", "UNKNOWN") else None


def expected_rule(index: PolicyIndex, purpose: str, puid: str | None) -> tuple[ResolvedRule | None, bool]:
    """The rule the registry calls for (and whether it is a fallback), or None: no rule at all."""
    own = index.rules_for(purpose, puid)
    if own:
        return own[0], False
    fallback = index.fallback_for(purpose, puid)
    return (fallback[0], True) if fallback else (None, False)


def check_with_validator(path: Path, puid: str) -> None:
    """The format's own validator, where one exists, run here independently of the chain."""
    if puid == "x-fmt/392":
        done = subprocess.run([sys.executable, "-m", "jpylyzer", "--format", "jp2", str(path)], capture_output=True,
                              text=True, check=False)
        assert re.search(r"<isValid[^>]*>True</isValid>", done.stdout), (path, done.stdout[-2000:])
    elif puid == "fmt/569":
        done = subprocess.run(["mediaconch", str(path)], capture_output=True, text=True, check=False)
        assert done.stdout.startswith("pass!"), (path, done.stdout, done.stderr)
    elif puid in PDFA:
        checked = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, (path, checked.stdout[-2000:], checked.stderr[-2000:])
        tags = json.loads(subprocess.run(["exiftool", "-j", "-XMP-pdfaid:all", str(path)], capture_output=True,
                                         text=True, check=True).stdout)[0]
        assert (str(tags.get("Part")), str(tags.get("Conformance", "")).upper()) == PDFA[puid], (path, tags)
        document = subprocess.run(["qpdf", "--json", "--json-key=qpdf", str(path)], capture_output=True, text=True,
                                  check=True).stdout
        assert '"/S": "/GTS_PDFA1"' in document, f"{path}: no PDF/A OutputIntent"


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_original_is_normalized_as_the_registry_says(corpus: Corpus, folder: str) -> None:
    """A report row per original and purpose; each names the rule the registry calls for (or its fallback),
    and none failed. Where the registry has no preservation rule, the row says so, for the files named above."""
    run = corpus.runs[folder]
    assert run.summary["status"] == "stored", run.summary
    originals = run.originals()
    rows = run.rows()
    assert {path for path, _ in rows} == set(originals)
    unruled: dict[str, str] = {}
    for path, original in originals.items():
        for purpose in PURPOSES:
            row = rows[(path, purpose)]
            rule, fallback = expected_rule(corpus.index, purpose, original.puid)
            if rule is None:
                assert purpose == "preservation", row
                assert row["outcome"] == "no rule" and row["reason"], row
                assert row["reason"] == f"no preservation rule for {original.puid or 'an unidentified format'}"
                unruled[Path(path).name] = row["reason"]
                continue
            assert row["outcome"] == "success", row
            assert (row["command"], row["fallback"]) == (rule.command, fallback), (row, rule.command)
            assert row["output"], row
    assert set(unruled) == set(NO_PRESERVATION_RULE[folder]), unruled


@pytest.mark.parametrize("folder", FOLDERS)
def test_preservation_copies_are_what_their_rules_promise_and_linked_both_ways(corpus: Corpus,
                                                                               folder: str) -> None:
    run = corpus.runs[folder]
    originals = run.originals()
    by_href = {f.href: f for f in run.files}
    made = [r for r in run.report if r["purpose"] == "preservation" and r["outcome"] == "success"]
    assert made, "the corpus folder has originals with preservation rules"
    tree = etree.parse(str(run.mets))
    for row in made:
        original = originals[row["path"]]
        rule, _ = expected_rule(corpus.index, "preservation", original.puid)
        assert rule is not None
        # Archivematica's place and name: beside the original, `<name>-<uuid>.<ext>`.
        output = Path(row["output"])
        assert output.parent == Path(row["path"]).parent and output.name.startswith(f"{Path(row['path']).stem}-")
        path = run.bag / "data" / output
        assert path.is_file() and path.stat().st_size > 0, row
        puid = siegfried(path)
        assert puid in rule.command_spec.output_puids and puid == row["output_puid"], (row, puid)
        check_with_validator(path, puid)
        derivative = by_href[row["output"]]
        assert derivative.use == "preservation" and derivative.puid == puid
        assert [e.type for e in derivative.events].count("creation") == 1
        if corpus.index.rules_for("validation", puid):
            outcomes = [e.outcome for e in derivative.of("validation")]
            assert outcomes and set(outcomes) == {"pass"}, (row["output"], derivative.of("validation"))
        assert relationship(tree, derivative.uuid) == ("has source", original.uuid)
        assert relationship(tree, original.uuid) == ("is source of", derivative.uuid)
        events = [e for e in original.of("normalization") if e.note == f"%SIPDirectory%{row['output']}"]
        assert len(events) == 1 and events[0].outcome == "success", original.of("normalization")
    assert sum(1 for f in run.files if f.use == "preservation") == len(made)


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_mets_is_schema_valid_and_metsrw_finds_derivatives_from_their_originals(corpus: Corpus,
                                                                                    folder: str) -> None:
    run = corpus.runs[folder]
    assert validate_mets(run.mets) == []
    tree = etree.parse(str(run.mets))
    preservation = tree.findall(".//mets:fileGrp[@USE='preservation']/mets:file", NS)
    by_uuid = found_from_originals(run.mets, preservation)
    derived = {entry.derived_from.file_uuid for entry in by_uuid.values()
               if entry.use == "preservation" and entry.derived_from is not None}
    made = {r["file_uuid"] for r in run.report if r["purpose"] == "preservation" and r["outcome"] == "success"}
    assert derived == made and len(preservation) == len(made)


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_dip_holds_an_access_copy_and_a_thumbnail_for_every_original(corpus: Corpus, folder: str) -> None:
    run = corpus.runs[folder]
    rows = run.rows()
    objects = sorted((run.dip / "objects").iterdir())
    assert (run.dip / f"METS.{run.aip_id}.xml").is_file() and (run.dip / "processingMCP.xml").is_file()
    for path, original in run.originals().items():
        access = [p for p in objects if p.name.startswith(f"{original.uuid}-")]
        assert len(access) == 1, (path, [p.name for p in objects])
        row = rows[(path, "access")]
        assert row["output"] == f"DIP/objects/{access[0].name}", row
        rule, _ = expected_rule(corpus.index, "access", original.puid)
        assert rule is not None
        puid = siegfried(access[0])
        if rule.command_spec.output_puids:
            assert puid in rule.command_spec.output_puids, (path, rule.command, puid)
            check_with_validator(access[0], puid)
        else:  # the default access copy: the original itself, byte for byte
            assert puid == original.puid
            assert (run.bag / "data" / path).read_bytes() == access[0].read_bytes(), path
        thumbnail = run.dip / "thumbnails" / f"{original.uuid}.jpg"
        assert thumbnail.is_file(), path
        rule, _ = expected_rule(corpus.index, "thumbnail", original.puid)
        assert rule is not None and siegfried(thumbnail) in rule.command_spec.output_puids, path
        assert (run.bag / "data" / "thumbnails" / thumbnail.name).read_bytes() == thumbnail.read_bytes()
    assert len(objects) == len(run.originals())
