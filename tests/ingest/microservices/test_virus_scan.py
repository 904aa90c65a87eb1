"""Virus scanning through a real clamd loaded with a custom database holding the EICAR test signature."""

from __future__ import annotations

import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.ingest.microservices.results import Status
from services.ingest.microservices.virus_scan import Clamd, ClamdClient, ClamdLimits, VirusScanner, parse_reply
from tests.signatures import write_test_signatures

EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
LIMIT = 4096


@pytest.fixture(scope="module")
def clamd() -> Iterator[Clamd]:
    # A short base path: AF_UNIX socket paths are limited to 108 bytes and pytest's tmp paths can be long.
    with tempfile.TemporaryDirectory(prefix="amber-clamd-") as base:
        db = Path(base) / "db"
        db.mkdir()
        (db / "custom.hdb").write_text("44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature-Custom\n")
        (db / "custom.ndb").write_text(
            "Eicar-NDB-Custom:0:*:" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE".hex() + "\n"
        )
        limits = ClamdLimits(max_file_size=LIMIT, max_scan_size=LIMIT * 4, stream_max_length=LIMIT)
        with Clamd(Path(base) / "run", db, limits, max_threads=2) as daemon:
            yield daemon


@pytest.fixture
def samples(tmp_path: Path) -> dict[str, Path]:
    eicar = tmp_path / "eicar.com"
    # printf-exact: 68 bytes, no trailing newline, so the md5 (.hdb) signature matches too.
    subprocess.run(["sh", "-c", f"printf '%s' '{EICAR}' > {eicar}"], check=True)
    assert eicar.stat().st_size == 68
    clean = tmp_path / "clean.txt"
    clean.write_text("nothing to see here\n")
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (LIMIT + 1))
    zipped = tmp_path / "eicar.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(eicar, "inner/eicar.com")
    return {"eicar": eicar, "clean": clean, "big": big, "zip": zipped}


def test_clamd_answers_ping_and_version(clamd: Clamd) -> None:
    client = clamd.client()
    assert client.ping()
    assert client.version().startswith("ClamAV 1.")


def test_scan_results_and_events(clamd: Clamd, samples: dict[str, Path]) -> None:
    scanner = VirusScanner(clamd.client(), clamd.limits)
    results = {name: scanner.scan(path) for name, path in samples.items()}

    infected = results["eicar"]
    assert infected.status is Status.FAILED and not infected.ok
    (event,) = infected.events
    assert event.type == "virus check" and event.outcome == "Fail"
    assert event.outcome_note.endswith(".UNOFFICIAL")
    assert event.detail.startswith('program="ClamAV (clamd)"; version="ClamAV 1.')
    assert "virusDefinitions=" in event.detail

    clean = results["clean"]
    assert clean.status is Status.PASSED and clean.ok
    assert [(e.type, e.outcome, e.outcome_note) for e in clean.events] == [("virus check", "Pass", "")]

    big = results["big"]
    assert big.status is Status.SKIPPED
    assert [(e.type, e.outcome) for e in big.events] == [("virus check", "Not scanned")]
    assert big.message.startswith(f"not scanned: over the scanner's limit of {LIMIT} bytes")

    zipped = results["zip"]
    assert zipped.status is Status.FAILED
    assert zipped.events[0].outcome_note == "Eicar-NDB-Custom.UNOFFICIAL"


def test_scan_from_threads(clamd: Clamd, samples: dict[str, Path]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    scanner = VirusScanner(clamd.client(), clamd.limits)
    paths = [samples["eicar"], samples["clean"]] * 10
    with ThreadPoolExecutor(4) as pool:
        statuses = [r.status for r in pool.map(scanner.scan, paths)]
    assert statuses == [Status.FAILED, Status.PASSED] * 10


def test_missing_file_and_dead_daemon_are_errors_not_clean(tmp_path: Path, samples: dict[str, Path]) -> None:
    scanner = VirusScanner(ClamdClient(tmp_path / "nobody.sock", timeout=2), ClamdLimits())
    scanner._detail = "unused"
    missing = scanner.scan(tmp_path / "missing")
    assert missing.status is Status.ERROR and missing.message.startswith("scan error")
    offline = scanner.scan(samples["clean"])
    assert offline.status is Status.ERROR and offline.events == ()


def test_parse_reply() -> None:
    assert parse_reply("stream: OK").clean
    assert parse_reply("stream: Eicar-Test-Signature FOUND").signature == "Eicar-Test-Signature"
    assert parse_reply("INSTREAM size limit exceeded. ERROR").error


def test_clamd_without_database_fails_with_reason(tmp_path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="amber-clamd-") as base:
        empty = Path(base) / "empty"
        empty.mkdir()
        daemon = Clamd(Path(base) / "run", empty, start_timeout=20)
        with pytest.raises(RuntimeError, match="clamd exited"):
            daemon.start()
        assert not daemon.running


CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus" / "transfers" / "virusTests"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/transfers/virusTests is absent")
def test_corpus_virus_tests() -> None:
    with tempfile.TemporaryDirectory(prefix="amber-clamd-") as base:
        db = write_test_signatures(Path(base) / "db", nukem=True)
        limits = ClamdLimits(max_file_size=4 * 1024 * 1024, max_scan_size=8 * 1024 * 1024,
                             stream_max_length=4 * 1024 * 1024)
        with Clamd(Path(base) / "run", db, limits, max_threads=2) as daemon:
            scanner = VirusScanner(daemon.client(), limits)
            results = {p.name: scanner.scan(p) for p in sorted(CORPUS.iterdir()) if p.name.startswith("test.")}
    statuses = {name: r.status for name, r in results.items()}
    assert statuses == {
        "test.1M.eicar.with-virus": Status.FAILED,
        "test.1M.nukem.with-virus": Status.FAILED,
        "test.1M.null.no-virus": Status.PASSED,
        "test.30M.nukem.with-virus": Status.SKIPPED,
        "test.30M.null.no-virus": Status.SKIPPED,
        "test.zero.byte.no-virus": Status.PASSED,
        "test.zip.eicar.with-virus.zip": Status.FAILED,
    }
    skipped = results["test.30M.null.no-virus"].events
    assert [(e.type, e.outcome) for e in skipped] == [("virus check", "Not scanned")]
    assert "over the scanner's limit" in skipped[0].outcome_note
    assert "not scanned" in results["test.30M.nukem.with-virus"].message
    assert results["test.1M.nukem.with-virus"].events[0].outcome_note == "Win.Trojan.Nukem-Custom.UNOFFICIAL"


def test_a_file_within_the_limit_is_scanned_though_clamd_counts_what_it_unpacks(tmp_path: Path) -> None:
    # A stored zip just under the file limit: clamd counts the zip and its member, nearly twice the limit.
    limit = 64 * 1024
    zipped = tmp_path / "stored.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("inner/data.bin", bytes(range(256)) * 240)
    assert limit / 2 < zipped.stat().st_size < limit
    limits = ClamdLimits.for_file_size(limit)
    with tempfile.TemporaryDirectory(prefix="amber-clamd-") as base:
        database = write_test_signatures(Path(base) / "db")
        with Clamd(Path(base) / "run", database, limits, max_threads=1) as daemon:
            outcome = VirusScanner(daemon.client(), limits).scan(zipped)
    assert outcome.status is Status.PASSED, outcome.message
    assert [(e.type, e.outcome) for e in outcome.events] == [("virus check", "Pass")]


def test_clamd_dies_with_its_parent(clamd: Clamd) -> None:
    import os
    import sys
    import time

    script = (
        "import sys; from pathlib import Path; from services.ingest.microservices.virus_scan import Clamd\n"
        "d = Clamd(Path(sys.argv[1]), Path(sys.argv[2])); d.start(); print(d.pid, flush=True)\n"
        "import os, signal; os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    with tempfile.TemporaryDirectory(prefix="amber-clamd-") as base:
        child = subprocess.run([sys.executable, "-c", script, str(Path(base) / "run"), str(clamd.database_dir)],
                               capture_output=True, text=True, timeout=60,
                               cwd=Path(__file__).resolve().parents[3])
        pid = int(child.stdout.split()[0])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError):
                break
            if state in ("Z", "X"):  # dead; reaping is up to whatever init the container has
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            pytest.fail("clamd outlived the process that started it")
