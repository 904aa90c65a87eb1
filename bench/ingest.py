"""Benchmark: a transfer of N small files of mixed formats → stored AIP, Amber against a3m in the same run.

The transfer is made here: a handful of seed files written by real tools (ffmpeg for PNG, JPEG, GIF, TIFF and
WAV; PDF written by hand and checked with qpdf when it is installed), then N files of those formats and of
text, CSV, XML, JSON, HTML and ZIP (2 or 3 members), each with content of its own (a PNG text chunk, a JPEG
comment, a GIF comment, changed samples, …) so that every file has its own checksum, about 250 per folder in
nested folders.

Amber: the whole stack on free ports (`amber_cli.ephemeral`), the worker's clamd loaded with a signature
database holding the public EICAR signature (there is no official ClamAV database offline);
`amber ingest FOLDER --wait` with the `automated` processing configuration, timed from submission to stored
AIP (`amber_s`); `peak_rss_mb` is the peak of the summed RSS of every stack process and its children.

a3m (PyPI `a3m`, "lightweight Archivematica"), the baseline: its own virtualenv at bench/.a3m-venv (made with
the system python3 when missing), `a3m --name X --no-input -p normalize=no file:///FOLDER` with its embedded
server and its data in the run's temporary directory, plus `A3M_AS_AMBER` where a3m's defaults differ from
Amber's `automated` (7z bzip2 level 5, no OCR). a3m has no virus-scan
micro-service, so nothing is set up for ClamAV there; `clamscan_s`, the time clamscan takes over the folder
with the same EICAR database, is reported beside it for reference. `a3m_s` is its wall clock, embedded server
start-up included (`a3m_startup_s` of it until the package is accepted). `speedup_vs_a3m` = a3m_s / amber_s.

The sha256sum + 7z time of the same folder is reported too (`floor_s`): the unavoidable work; `--skip-references`
leaves it and the clamscan time out, for runs so long that they would only add to the wait.

`--overhead`: Amber alone, `--repeat` pairs of runs of the same transfer, alternately with observability off
(`AMBER_METRICS_ENABLED=false`, no OTLP endpoint) and on (metrics collected in every process and scraped every
`SCRAPE_EVERY` s as Prometheus would, every span exported over OTLP/HTTP to a local receiver that counts and
discards). `overhead_ratio` = median on / median off: what observability costs an ingest;
`cpu_overhead_ratio` the same in CPU seconds of the stack's processes, which other load on a shared machine
disturbs less than wall-clock time.

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import psutil
from lxml import etree
from process_watch import RssSampler
from prometheus_client.parser import text_string_to_metric_families

from amber_cli.ephemeral import EphemeralStack, ephemeral_stack
from amber_cli.otlp_sink import OtlpSink

BENCH = Path(__file__).resolve().parent
A3M_VENV = BENCH / ".a3m-venv"
# The Debian packages a3m's own commands call (ImageMagick for its image rules and thumbnails; its JHOVE
# validation cannot be installed here and fails, which the output says).
A3M_APT = ("atool", "tree", "p7zip-full", "imagemagick")
# a3m's defaults where they differ from Amber's `automated`: it compresses with 7z copy (Amber: 7z bzip2 level
# 5) and OCRs images with Tesseract (Amber has no transcription; Tesseract is not installed here, so each task
# would only fail). Amber also deletes packages after extracting them; a3m 0.7.14 stalls for good at "Policy
# checks for originals" when told to (delete_packages_after_extraction=yes), so a3m keeps them.
A3M_AS_AMBER = ("-p", "aip_compression_algorithm=6", "-p", "aip_compression_level=5", "-p", "transcribe_files=no")
A3M_STALL_S = 300  # a3m and its children idle this long: it has dropped the package
PER_FOLDER = 250
STACK_ENV: dict[str, str] = {}  # --env: settings for Amber's stack in this run (AMBER_WORKERS=2, …)
SCRAPE_EVERY = 15.0  # seconds between two scrapes of every process's /metrics (Prometheus' example configuration)
PER_FILE_MICROSERVICES = ("checksum", "virus_scan", "identification", "validation", "characterization")
METRICS_PROCESSES = ("GATEWAY", "TRANSFER", "INGEST", "METADATA", "STORAGE", "WORKER_METRICS")
EICAR_MD5 = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature-Custom\n"
# Kinds in the order of a cycle of 100 files: mostly text and images, a few PDF, WAV and ZIP.
MIX = ([("txt", 15), ("csv", 10), ("xml", 10), ("json", 10), ("html", 8), ("png", 12), ("jpg", 12), ("gif", 6),
        ("tif", 5), ("pdf", 8), ("wav", 2), ("zip", 2)])
WORDS = ("archive", "accession", "fonds", "series", "box", "folder", "item", "record", "letter", "ledger", "survey",
         "minutes", "report", "photograph", "map", "plan", "deed", "register", "diary")


# --- the transfer ---------------------------------------------------------------------------------------------

def run_tool(args: list[str]) -> None:
    try:
        subprocess.run(args, check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise SystemExit(f"{args[0]} is needed to make the test files (apt-get install {args[0]})") from exc
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"{' '.join(args)} failed: {exc.stderr[-2000:]}") from exc


def make_seeds(seeds: Path) -> dict[str, list[bytes]]:
    """Four seeds per image format and one WAV, made by ffmpeg from its test patterns."""
    seeds.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[bytes]] = {}
    for ext in ("png", "jpg", "gif", "tif"):
        out[ext] = []
        for n, pattern in enumerate(("testsrc", "testsrc2", "smptebars", "rgbtestsrc")):
            path = seeds / f"seed{n}.{ext}"
            run_tool(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"{pattern}=size=80x60:rate=1",
                      "-frames:v", "1", str(path)])
            out[ext].append(path.read_bytes())
    wav = seeds / "seed.wav"
    run_tool(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000:duration=0.25",
              "-ac", "1", "-c:a", "pcm_s16le", str(wav)])
    out["wav"] = [wav.read_bytes()]
    pdf = seeds / "seed.pdf"
    pdf.write_bytes(make_pdf("seed"))
    if shutil.which("qpdf"):
        run_tool(["qpdf", "--check", str(pdf)])
    return out


def sentence(index: int) -> str:
    return " ".join(WORDS[(index * (k + 3) + k) % len(WORDS)] for k in range(8 + index % 9))


def make_pdf(text: str) -> bytes:
    """A one-page PDF 1.4 showing `text`, with a correct cross-reference table."""
    stream = f"BT /F1 12 Tf 36 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 144] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def png_with_text(seed: bytes, text: str) -> bytes:
    """The seed with a tEXt chunk before IEND."""
    data = b"Comment\0" + text.encode()
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    iend = seed.rindex(b"IEND") - 4
    return seed[:iend] + chunk + seed[iend:]


def jpeg_with_comment(seed: bytes, text: str) -> bytes:
    """The seed with a COM segment after SOI and the JFIF APP0 segment that must follow it."""
    data = text.encode()
    at = 2
    if seed[2:4] == b"\xff\xe0":
        at = 4 + struct.unpack(">H", seed[4:6])[0]
    return seed[:at] + b"\xff\xfe" + struct.pack(">H", len(data) + 2) + data + seed[at:]


def gif_with_comment(seed: bytes, text: str) -> bytes:
    """The seed with a comment extension before the trailer."""
    data = text.encode()[:255]
    return seed[:-1] + b"\x21\xfe" + bytes([len(data)]) + data + b"\x00" + seed[-1:]


def wav_with_samples(seed: bytes, index: int) -> bytes:
    """The seed with its last four samples replaced (the header and sizes unchanged)."""
    return seed[:-8] + struct.pack("<4h", *((index >> (4 * k)) & 0x7FFF for k in range(4)))


def make_file(kind: str, index: int, seeds: dict[str, list[bytes]]) -> bytes:
    words = sentence(index)
    label = f"item {index:06d}: {words}"
    if kind == "txt":
        return (f"{label}\n" + f"{words}.\n" * (3 + index % 40)).encode()
    if kind == "csv":
        rows = "".join(f"{index}-{row},{WORDS[(index + row) % len(WORDS)]},{index * row % 977}\n"
                       for row in range(2 + index % 30))
        return f"id,term,count\n{rows}".encode()
    if kind == "xml":
        items = "".join(f"  <item n=\"{n}\">{WORDS[(index + n) % len(WORDS)]}</item>\n" for n in range(1 + index % 20))
        return (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<record id=\"{index}\">\n"
                f"  <title>{words}</title>\n{items}</record>\n").encode()
    if kind == "json":
        return json.dumps({"id": index, "title": words, "terms": WORDS[: 1 + index % len(WORDS)]}, indent=1).encode()
    if kind == "html":
        paragraphs = "".join(f"<p>{words} ({n})</p>\n" for n in range(1 + index % 12))
        return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Item {index}</title>"
                f"</head>\n<body>\n<h1>{label}</h1>\n{paragraphs}</body></html>\n").encode()
    if kind == "pdf":
        return make_pdf(label)
    if kind == "wav":
        return wav_with_samples(seeds["wav"][0], index)
    if kind == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"item-{index}/notes.txt", f"{label}\n")
            archive.writestr(f"item-{index}/list.csv", make_file("csv", index, seeds))
            if index % 2:
                archive.writestr(f"item-{index}/scan.png", png_with_text(seeds["png"][index % 4], label))
        return buffer.getvalue()
    seed = seeds[kind][index % len(seeds[kind])]
    if kind == "png":
        return png_with_text(seed, label)
    if kind == "jpg":
        return jpeg_with_comment(seed, label)
    if kind == "gif":
        return gif_with_comment(seed, label)
    if kind == "tif":
        # Bytes after the last IFD (ffmpeg writes it at the end): ignored by readers, unique per file.
        return seed + f"\0{label}\0".encode()
    raise ValueError(kind)


def make_transfer(folder: Path, count: int, seeds: dict[str, list[bytes]],
                  first: int = 0) -> tuple[int, dict[str, int]]:
    """`count` files numbered from `first`: transfers made with different `first`s share no content."""
    cycle = [kind for kind, weight in MIX for _ in range(weight)]
    total, kinds = 0, dict.fromkeys((kind for kind, _ in MIX), 0)
    made: set[Path] = set()
    for index in range(first, first + count):
        kind = cycle[(index * 37) % len(cycle)]  # 37 is prime to 100: every kind spread over every folder
        box = (index - first) // PER_FOLDER
        parent = folder / f"series-{box // 4:02d}" / f"box-{box:03d}"
        if parent not in made:
            parent.mkdir(parents=True, exist_ok=True)
            made.add(parent)
        content = make_file(kind, index, seeds)
        (parent / f"item-{index:06d}.{kind}").write_bytes(content)
        total += len(content)
        kinds[kind] += 1
    return total, kinds


def eicar_database(path: Path) -> Path:
    """The signature database the tests use: the public EICAR test file's MD5, nothing else."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "custom.hdb").write_text(EICAR_MD5)
    return path


@dataclass
class Run:
    seconds: float
    peak_rss: int
    aip_bytes: int
    startup: float = 0.0
    objects: int = 0
    version: str = ""
    spans: int = 0
    cpu: float = 0.0  # CPU seconds the stack's processes (and their tools) spent on the ingest
    aip_id: str = ""
    # Files the AIP's record holds, and what the worker's per-micro-service counters say (observed runs).
    recorded_files: int = 0
    counted: dict[str, float] = field(default_factory=dict)
    scrapes: int = 0
    scrape_failures: int = 0
    aip_file: Path | None = None
    # Where the time went: CPU seconds per stack process, and per stage / micro-service (see `where_time_goes`).
    cpu_by_process: dict[str, float] = field(default_factory=dict)
    stages: list[dict[str, object]] = field(default_factory=list)
    rss_report: str = ""
    peak_pss: int = 0


# --- measuring ------------------------------------------------------------------------------------------------

def floor(folder: Path, work: Path) -> float:
    started = time.perf_counter()
    subprocess.run(f"find . -type f -print0 | xargs -0 sha256sum > {work / 'sums'}", shell=True, cwd=folder,
                   check=True)
    subprocess.run(["7z", "a", "-bd", "-t7z", "-y", "-m0=bzip2", "-mx=5", "-mmt=on", "-mf=off",
                    str(work / "floor.7z"), folder.name], cwd=folder.parent, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    (work / "floor.7z").unlink()
    return seconds


def clamscan(folder: Path, database: Path) -> float | None:
    if not shutil.which("clamscan"):
        return None
    started = time.perf_counter()
    done = subprocess.run(["clamscan", "--no-summary", "--infected", "-r", f"--database={database}", str(folder)],
                          capture_output=True, text=True)
    if done.returncode not in (0, 1):
        print(f"clamscan failed ({done.returncode}): {done.stderr[-500:]}")
        return None
    return time.perf_counter() - started


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stack_logs(data_dir: Path) -> str:
    return "".join(f"\n--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                   for p in sorted((data_dir / "logs").glob("*.log")))


class Scraper(threading.Thread):
    """Scrapes every process's /metrics every SCRAPE_EVERY seconds, as a Prometheus server would."""

    def __init__(self, stack: EphemeralStack) -> None:
        super().__init__(daemon=True)
        token = (stack.data_dir / "metrics-token").read_text().strip()
        self.urls = [f"http://127.0.0.1:{stack.env[f'AMBER_{name}_PORT']}/metrics" for name in METRICS_PROCESSES]
        self.client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10)
        self.stop, self.scrapes, self.failures = threading.Event(), 0, 0

    def run(self) -> None:
        while not self.stop.wait(SCRAPE_EVERY):
            for url in self.urls:
                try:
                    ok = self.client.get(url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.scrapes += ok
                self.failures += not ok

    def __enter__(self) -> Scraper:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join()
        self.client.close()


def per_microservice_counts(stack: EphemeralStack, aip_id: str) -> tuple[int, dict[str, float]]:
    """The files of the AIP's PREMIS record, and the worker's files counter of each per-file micro-service."""
    with stack.client() as http:
        recorded = http.get(f"/api/v1/premis/packages/{aip_id}/files", params={"limit": 1}).json()["total"]
    token = (stack.data_dir / "metrics-token").read_text().strip()
    text = httpx.get(f"http://127.0.0.1:{stack.env['AMBER_WORKER_METRICS_PORT']}/metrics",
                     headers={"Authorization": f"Bearer {token}"}, timeout=30).text
    counted = {sample.labels["microservice"]: sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == "amber_microservice_files_total"}
    return int(recorded), counted


def run_amber(folder: Path, work: Path, database: Path, config: tuple[str, dict[str, str]] | None = None, *,
              observed: bool | None = None, label: str = "",
              setup: Callable[[httpx.Client], None] | None = None) -> Run:
    """One ingest on a fresh stack. `config`: a processing configuration (name, fields) made through the API and
    used instead of `automated`. `observed`: None as configured, False with metrics and traces off, True with
    metrics scraped and traces exported to a local OTLP receiver."""
    data_dir = work / f"amber-data{label}"
    env = {"AMBER_INGEST_CLAMAV_DATABASE_DIR": str(database), **STACK_ENV}
    with contextlib.ExitStack() as scope:
        if observed is not None:
            env["AMBER_METRICS_ENABLED"] = "true" if observed else "false"
        if observed:
            sink = scope.enter_context(OtlpSink())
            env["AMBER_OTLP_ENDPOINT"] = sink.endpoint
        stack = scope.enter_context(ephemeral_stack(data_dir, extra_env=env))
        scraper = scope.enter_context(Scraper(stack)) if observed else None
        chosen: list[str] = []
        if setup is not None:
            with stack.client() as http:
                setup(http)
        if config is not None:
            with stack.client() as http:
                made = http.put(f"/api/v1/processing-configurations/{config[0]}", json={"fields": config[1]})
                made.raise_for_status()
            chosen = ["--processing-config", config[0]]
        run = _ingest(stack, folder, data_dir, chosen)
        if scraper is not None:
            run.scrapes, run.scrape_failures = scraper.scrapes, scraper.failures
            run.recorded_files, run.counted = per_microservice_counts(stack, run.aip_id)
    if observed:
        # Read once the stack has stopped: each process exports what it still holds when it ends.
        run.spans = sink.received.spans
    return run


def _ingest(stack: EphemeralStack, folder: Path, data_dir: Path, chosen: list[str]) -> Run:
    pids = stack.pids()
    with RssSampler(stack.pids) as sampler:
        cpu_before = {name: tree_cpu(pid) for name, pid in pids.items()}
        workers_before = {name: tree_cpu_parts(pid) for name, pid in pids.items() if name.startswith("worker")}
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "amber_cli", "ingest", str(folder), "--wait", "--json",
                                    *chosen], env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            while True:
                try:
                    process.wait(timeout=1)  # returns the moment it ends: the time is not rounded to a poll
                    break
                except subprocess.TimeoutExpired:
                    pass
                # A stack process that dies (a worker that cannot start, say) would leave --wait waiting.
                dead = [name for name, pid in pids.items() if not alive(pid)]
                if dead:
                    raise SystemExit(f"Amber's {', '.join(dead)} died during the ingest{stack_logs(data_dir)}")
        finally:
            if process.poll() is None:
                process.kill()
            stdout, stderr = process.communicate()
        seconds = time.perf_counter() - started
        cpu_by_process = {name: tree_cpu(pid) - cpu_before[name] for name, pid in pids.items()}
        for name, before in workers_before.items():
            for part, spent in tree_cpu_parts(pids[name]).items():
                cpu_by_process[f"{name}: {part}"] = spent - before.get(part, 0.0)
    lines = stdout.strip().splitlines()
    try:
        summary = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        summary = {"status": "failed", "error": f"no JSON from amber ingest: {stdout[-1000:]}"}
    if process.returncode != 0 or summary.get("status") != "stored":
        raise SystemExit(f"Amber did not store an AIP (exit {process.returncode}): {summary}\n"
                         f"{stderr[-2000:]}{stack_logs(data_dir)}")
    aip = Path(str(summary.get("aip_file") or ""))
    if not aip.is_file():
        raise SystemExit(f"Amber reported {summary} but the AIP file is not there")
    aip_id = str(summary.get("aip_id") or "")
    run = Run(seconds, sampler.peak, aip.stat().st_size, aip_id=aip_id, rss_report=sampler.report(),
               peak_pss=sampler.peak_pss,
               cpu=sum(seconds for name, seconds in cpu_by_process.items() if ":" not in name),
               cpu_by_process=cpu_by_process, stages=where_time_goes(stack, aip_id))
    run.aip_file = aip
    return run


@dataclass
class Stage:
    first: datetime
    last: datetime
    jobs: int = 0
    job_s: float = 0.0


def where_time_goes(stack: EphemeralStack, ingest_id: str) -> list[dict[str, object]]:
    """Per micro-service: its jobs' wall-clock span (first start to last end; batches overlap), the summed time of
    its jobs, and, from the worker's metrics where it counts files, the summed and mean time per file."""
    jobs: list[dict[str, object]] = []
    with stack.client() as http:
        offset = 0
        while True:
            page = http.get(f"/api/v1/ingests/{ingest_id}/jobs", params={"limit": 500, "offset": offset}).json()
            jobs.extend(page["items"])
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                break
    per_file: dict[str, dict[str, float]] = {}
    steps: dict[str, dict[str, float]] = {}
    tools: dict[str, dict[str, float]] = {}
    token_file = stack.data_dir / "metrics-token"
    port = stack.env.get("AMBER_WORKER_METRICS_PORT")
    if token_file.exists() and port:
        with contextlib.suppress(httpx.HTTPError):
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30,
                             headers={"Authorization": f"Bearer {token_file.read_text().strip()}"}).text
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name in ("amber_microservice_duration_seconds_sum",
                                       "amber_microservice_duration_seconds_count"):
                        kind = "sum" if sample.name.endswith("_sum") else "count"
                        per_file.setdefault(sample.labels["microservice"], {})[kind] = sample.value
                    if sample.name in ("amber_step_duration_seconds_sum", "amber_step_duration_seconds_count"):
                        kind = "sum" if sample.name.endswith("_sum") else "count"
                        steps.setdefault(sample.labels["step"], {})[kind] = sample.value
                    if sample.name == "amber_step_cpu_seconds_total":
                        steps.setdefault(sample.labels["step"], {})["cpu"] = sample.value
                    if sample.name in ("amber_tool_runs_total", "amber_tool_cpu_seconds_total"):
                        kind = "runs" if sample.name == "amber_tool_runs_total" else "cpu"
                        tools.setdefault(f"{sample.labels['tool']}: {sample.labels['command']}", {})[kind] = \
                            sample.value
    stages: dict[str, Stage] = {}
    for job in jobs:
        if not job.get("started_at") or not job.get("finished_at"):
            continue
        begun = datetime.fromisoformat(str(job["started_at"]))
        ended = datetime.fromisoformat(str(job["finished_at"]))
        stage = stages.setdefault(str(job["microservice"]), Stage(begun, ended))
        stage.first, stage.last = min(begun, stage.first), max(ended, stage.last)
        stage.jobs += 1
        stage.job_s += (ended - begun).total_seconds()
    out: list[dict[str, object]] = [
        {"stage": name, "jobs": stage.jobs, "span_s": round((stage.last - stage.first).total_seconds(), 3),
         "job_s": round(stage.job_s, 3)}
        for name, stage in sorted(stages.items(), key=lambda item: item[1].first)
    ]
    for name, figures in sorted(per_file.items()):
        count = figures.get("count", 0.0)
        out.append({"stage": f"per file: {name}", "files": int(count), "thread_s": round(figures.get("sum", 0.0), 3),
                    "mean_ms": round(1000 * figures.get("sum", 0.0) / count, 2) if count else None})
    for name, figures in sorted(steps.items()):
        out.append({"stage": f"step: {name}", "times": int(figures.get("count", 0.0)),
                    "total_s": round(figures.get("sum", 0.0), 3), "worker_cpu_s": round(figures.get("cpu", 0.0), 3)})
    for name, figures in sorted(tools.items(), key=lambda item: -item[1].get("cpu", 0.0)):
        runs = figures.get("runs", 0.0)
        out.append({"stage": f"tool: {name}", "runs": int(runs), "cpu_s": round(figures.get("cpu", 0.0), 3),
                    "mean_ms": round(1000 * figures.get("cpu", 0.0) / runs, 2) if runs else None})
    return out


def print_where_time_goes(run: Run) -> None:
    whole = {name: seconds for name, seconds in run.cpu_by_process.items() if ":" not in name}
    print("where the time went (CPU s per process, tools included): " + ", ".join(
        f"{name} {seconds:.1f}" for name, seconds in sorted(whole.items(), key=lambda i: -i[1])))
    print("  of which in the workers: " + ", ".join(
        f"{name} {seconds:.1f}" for name, seconds in sorted(run.cpu_by_process.items(), key=lambda i: -i[1])
        if ":" in name))
    tools = [stage for stage in run.stages if str(stage["stage"]).startswith("tool: ")]
    for stage in run.stages:
        if stage in tools:
            continue
        figures = ", ".join(f"{key} {value}" for key, value in stage.items() if key != "stage")
        print(f"  {stage['stage']}: {figures}")
    if tools:
        total = sum(float(str(stage["cpu_s"])) for stage in tools)
        print(f"one-off tools by command (CPU of each run as reaped, {total:.1f} s in all; the AIP's 7z is in "
              "'step: compress: 7z'):")
        for stage in tools:
            print(f"  {str(stage['stage']).removeprefix('tool: ')}: runs {stage['runs']}, cpu_s {stage['cpu_s']}, "
                  f"mean_ms {stage['mean_ms']}")


# --- a3m ------------------------------------------------------------------------------------------------------

def ensure_a3m() -> Path:
    """bench/.a3m-venv with a3m (made with the system python3 when missing) and the Debian tools a3m calls."""
    missing = [package for package in A3M_APT
               if subprocess.run(["dpkg", "-s", package], capture_output=True).returncode != 0]
    if missing:
        apt = [] if os.geteuid() == 0 else ["sudo"]
        print(f"installing {' '.join(missing)} for a3m")
        subprocess.run([*apt, "apt-get", "update", "-qq"], check=True)
        subprocess.run([*apt, "apt-get", "install", "-y", "-qq", *missing], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    a3m = A3M_VENV / "bin" / "a3m"
    if not a3m.exists():
        python = shutil.which("python3", path="/usr/bin") or "python3"
        print(f"making {A3M_VENV} with {python} and installing a3m")
        subprocess.run([python, "-m", "venv", str(A3M_VENV)], check=True)
        subprocess.run([str(A3M_VENV / "bin" / "pip"), "install", "-q", "a3m"], check=True)
    return a3m


def tree_cpu_parts(pid: int) -> dict[str, float]:
    """CPU seconds of a process tree by part: the process itself, its live children by name (clamd, ExifTool, …),
    and the one-off tools it has already reaped."""
    parts: dict[str, float] = {}
    try:
        process = psutil.Process(pid)
        for member in (process, *process.children(recursive=True)):
            times = member.cpu_times()
            name = "self" if member.pid == pid else member.name()
            parts[name] = parts.get(name, 0.0) + times.user + times.system
            parts["one-off tools"] = parts.get("one-off tools", 0.0) + times.children_user + times.children_system
    except psutil.Error:
        pass
    return parts


def tree_cpu(pid: int) -> float:
    """CPU seconds used by a process and its live children."""
    total = 0.0
    try:
        process = psutil.Process(pid)
        for member in (process, *process.children(recursive=True)):
            times = member.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    except psutil.Error:
        pass
    return total


def a3m_version() -> str:
    done = subprocess.run([str(A3M_VENV / "bin" / "python"), "-c",
                           "import importlib.metadata as m; print(m.version('a3m'))"], capture_output=True, text=True)
    return done.stdout.strip() or "?"


def run_a3m(a3m: Path, folder: Path, work: Path, normalize: bool = False) -> Run:
    """`normalize`: a3m's `normalize=yes` (preservation normalization only; a3m has no access copies)."""
    home = work / "a3m"
    share = home / "share"
    env = {
        **os.environ,
        "A3M_SHARED_DIRECTORY": f"{share}/",
        "A3M_TEMP_DIR": f"{share}/tmp/",
        "A3M_PROCESSING_DIRECTORY": f"{share}/currentlyProcessing/",
        "A3M_REJECTED_DIRECTORY": f"{share}/rejected/",
        "A3M_DB_NAME": str(home / "db.sqlite"),
        "HOME": str(home),
        # a3m's per-file helpers start with `#!/usr/bin/env python`: its own interpreter must come first, as in
        # a3m's images, not a version manager's shim (about 90 ms per start here)
        "PATH": f"{A3M_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(A3M_VENV),
    }
    home.mkdir(parents=True, exist_ok=True)
    name = "bench-a3m"
    command = [str(a3m), "--name", name, "--no-input", "-p", f"normalize={'yes' if normalize else 'no'}",
               *A3M_AS_AMBER, folder.as_uri()]
    output: list[str] = []
    accepted: list[float] = []
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if not accepted and "is being generated" in line:
                accepted.append(time.perf_counter() - started)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    with RssSampler(lambda: {"a3m": process.pid}) as sampler:
        busy, busy_at = -1.0, time.perf_counter()
        while process.poll() is None:
            time.sleep(2)
            now, cpu = time.perf_counter(), tree_cpu(process.pid)
            if cpu > busy:
                busy, busy_at = cpu, now
            elif now - busy_at > A3M_STALL_S:
                process.kill()
                process.wait()
                raise SystemExit(f"a3m stalled: no CPU used for {A3M_STALL_S} s (it has dropped the package)\n"
                                 f"{''.join(output)[-3000:]}")
        code = process.wait()
        seconds = time.perf_counter() - started
    reader.join()
    text = "".join(output)
    match = re.search(r"AIP ([0-9a-f-]{36}) is being generated", text)
    aips = sorted((share / "completed").glob(f"{name}-*.7z")) if (share / "completed").is_dir() else []
    if code != 0 or match is None or not aips:
        failed = sorted(p.name for p in (share / "failed").rglob("*")) if (share / "failed").is_dir() else []
        raise SystemExit(f"a3m produced no AIP (exit {code}; AIPs found: {aips}; failed: {failed[:10]}):\n"
                         f"{text[-6000:]}")
    aip = aips[-1]
    listing = subprocess.run(["7z", "l", "-ba", str(aip)], capture_output=True, text=True, check=True).stdout
    mets = f"data/METS.{match.group(1)}.xml"
    if mets not in listing:
        raise SystemExit(f"a3m's AIP {aip} has no {mets}")
    members = sum(1 for line in listing.splitlines() if "/data/objects/" in line and not line[20:25].startswith("D"))
    run = Run(seconds, sampler.peak, aip.stat().st_size, accepted[0] if accepted else 0.0, members, a3m_version())
    run.aip_file = aip
    return run


def premis_events(aip: Path) -> dict[str, dict[str, int]]:
    """PREMIS events in a 7z AIP's METS by type and outcome (the METS streamed out of the archive, never held)."""
    counts: dict[str, dict[str, int]] = {}
    with subprocess.Popen(["7z", "x", "-so", str(aip), "*/data/METS.*.xml"], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL) as unpack:
        assert unpack.stdout is not None
        kind = ""
        for _, element in etree.iterparse(unpack.stdout, events=("end",), huge_tree=True):
            name = etree.QName(element).localname
            if name == "eventType":
                kind = (element.text or "").strip()
            elif name == "eventOutcome" and kind:
                outcome = (element.text or "").strip().lower() or "?"
                counts.setdefault(kind, {}).setdefault(outcome, 0)
                counts[kind][outcome] += 1
                kind = ""
            if name in ("eventOutcomeInformation", "event"):
                element.clear()
    return counts


def overhead(folder: Path, work: Path, database: Path, files: int, pairs: int,
             on_first: bool = False) -> dict[str, object]:
    """Pairs of runs in ABBA order (off-on, on-off, ...), so that a drift of the machine weighs on both alike."""
    times: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    observed_runs: list[Run] = []
    for index in range(pairs):
        for observed in ((False, True) if (index % 2 == 0) != on_first else (True, False)):
            label = f"-{'on' if observed else 'off'}-{index}"
            run = run_amber(folder, work, database, observed=observed, label=label)
            shutil.rmtree(work / f"amber-data{label}", ignore_errors=True)
            times[observed].append(run.seconds)
            cpu[observed].append(run.cpu)
            extra = ""
            if observed:
                observed_runs.append(run)
                extra = (f", {run.spans} spans exported, {run.scrapes} scrapes ({run.scrape_failures} failed); "
                         f"{run.recorded_files} files recorded, counted per micro-service: "
                         + ", ".join(f"{name} {count:.0f}" for name, count in sorted(run.counted.items())))
            print(f"observability {'on ' if observed else 'off'}: {run.seconds:.2f} s, "
                  f"{files / run.seconds:.1f} files/s, {run.cpu:.1f} CPU s{extra}", flush=True)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    cpu_off, cpu_on = statistics.median(cpu[False]), statistics.median(cpu[True])
    print(f"overhead: on / off = {on / off:.3f} ({(on / off - 1) * 100:+.1f} %) in time, {cpu_on / cpu_off:.3f} "
          f"({(cpu_on / cpu_off - 1) * 100:+.1f} %) in CPU; medians of {pairs} runs each")
    return {
        "off_s": [round(t, 3) for t in times[False]], "on_s": [round(t, 3) for t in times[True]],
        "off_median_s": round(off, 3), "on_median_s": round(on, 3), "overhead_ratio": round(on / off, 4),
        "off_cpu_s": [round(t, 2) for t in cpu[False]], "on_cpu_s": [round(t, 2) for t in cpu[True]],
        "cpu_overhead_ratio": round(cpu_on / cpu_off, 4),
        "spans_exported": [r.spans for r in observed_runs], "scrapes": [r.scrapes for r in observed_runs],
        "scrape_failures": sum(r.scrape_failures for r in observed_runs),
        "counters_add_up": all(
            r.counted and all(r.counted.get(m) == r.recorded_files for m in PER_FILE_MICROSERVICES)
            for r in observed_runs
        ),
    }


# --- main -----------------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (transfer, AIPs, logs)")
    parser.add_argument("--skip-a3m", action="store_true", help="run Amber only")
    parser.add_argument("--skip-references", action="store_true",
                        help="no sha256sum + 7z floor and no clamscan of the folder (for the longest runs)")
    parser.add_argument("--overhead", action="store_true",
                        help="Amber only, observability off against on (metrics scraped, traces exported)")
    parser.add_argument("--repeat", type=int, default=2, help="pairs of runs with --overhead")
    parser.add_argument("--on-first", action="store_true", help="with --overhead, begin with observability on")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for Amber's stack, e.g. AMBER_WORKERS=2 (repeatable)")
    args = parser.parse_args()
    STACK_ENV.update(item.split("=", 1) for item in args.env)
    a3m = None if args.skip_a3m or args.overhead else ensure_a3m()
    work = Path(tempfile.mkdtemp(prefix="amber-bench-"))
    try:
        folder = work / "bench-transfer"
        started = time.perf_counter()
        total, kinds = make_transfer(folder, args.files, make_seeds(work / "seeds"))
        made_s = time.perf_counter() - started
        print(f"made {args.files} files, {total / 1e6:.1f} MB in {made_s:.1f} s: "
              + ", ".join(f"{count} {kind}" for kind, count in kinds.items()))
        database = eicar_database(work / "clamav-db")
        if args.overhead:
            print(json.dumps({"bench": "ingest-observability", "files": args.files, "bytes": total,
                              **overhead(folder, work, database, args.files, args.repeat, args.on_first)}))
            return
        floor_s = scan_s = None
        if not args.skip_references:
            floor_s = floor(folder, work)
            print(f"floor (sha256sum + 7z bzip2 -mx5): {floor_s:.2f} s")
            scan_s = clamscan(folder, database)
            if scan_s is not None:
                print(f"clamscan of the folder (EICAR database): {scan_s:.2f} s")

        amber = run_amber(folder, work, database)
        print(f"amber: {amber.seconds:.2f} s to a stored AIP, {args.files / amber.seconds:.1f} files/s, "
              f"peak RSS {amber.peak_rss / 1e6:.0f} MB, AIP {amber.aip_bytes / 1e6:.1f} MB")
        print(amber.rss_report)
        print_where_time_goes(amber)
        figures: dict[str, object] = {
            "bench": "ingest", "files": args.files, "bytes": total,
            "amber_s": round(amber.seconds, 3), "amber_files_per_s": round(args.files / amber.seconds, 1),
            "peak_rss_mb": round(amber.peak_rss / 1e6, 1), "peak_pss_mb": round(amber.peak_pss / 1e6, 1),
            "floor_s": None if floor_s is None else round(floor_s, 3),
            "ratio_vs_floor": None if floor_s is None else round(amber.seconds / floor_s, 2),
            "clamscan_s": None if scan_s is None else round(scan_s, 3),
            "amber_cpu_s": {name: round(seconds, 2) for name, seconds in amber.cpu_by_process.items()},
            "amber_stages": amber.stages,
        }
        if a3m is not None:
            base = run_a3m(a3m, folder, work)
            print(f"a3m {base.version}: {base.seconds:.2f} s (start-up {base.startup:.1f} s), "
                  f"{args.files / base.seconds:.1f} files/s, peak RSS {base.peak_rss / 1e6:.0f} MB, "
                  f"AIP {base.aip_bytes / 1e6:.1f} MB with {base.objects} objects")
            print(f"speedup vs a3m: {base.seconds / amber.seconds:.2f}x")
            said = {"amber": premis_events(amber.aip_file), "a3m": premis_events(base.aip_file)} \
                if amber.aip_file and base.aip_file else {}
            for who, events in said.items():
                print(f"PREMIS events in {who}'s AIP: " + "; ".join(
                    f"{kind} {sum(outcomes.values())} ({', '.join(f'{o} {n}' for o, n in outcomes.items())})"
                    for kind, outcomes in sorted(events.items())))
            figures["premis_events"] = said
            figures.update({
                "a3m_s": round(base.seconds, 3), "a3m_files_per_s": round(args.files / base.seconds, 1),
                "a3m_startup_s": round(base.startup, 2), "a3m_peak_rss_mb": round(base.peak_rss / 1e6, 1),
                "speedup_vs_a3m": round(base.seconds / amber.seconds, 2), "a3m_version": base.version,
            })
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        print(json.dumps(figures))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
