"""Characterization with the real ExifTool (one stay-open process), MediaInfo and FFprobe."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lxml import etree

from services.ingest.microservices.characterization import (
    Characterizer,
    ExifTool,
    ExifToolPool,
    is_audio_video,
)
from services.ingest.microservices.results import Status


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("media")
    png = base / "pixel ü.png"
    wav = base / "tone.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=8x8", "-frames:v", "1", str(png)],
                   check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=0.2", str(wav)],
                   check=True)
    text = base / "notes.txt"
    text.write_text("plain text\n")
    return {"png": png, "wav": wav, "text": text}


def test_exiftool_stays_open_across_files_and_threads(media: dict[str, Path]) -> None:
    with ExifTool() as exiftool:
        outputs = [exiftool.characterize(media["png"]) for _ in range(3)]
        with ThreadPoolExecutor(4) as pool:
            outputs += list(pool.map(exiftool.characterize, [media["text"]] * 8))
        assert exiftool.starts == 1
        root = etree.fromstring(outputs[0].text.encode())
        assert root.tag.endswith("RDF")
        assert b"PNG" in outputs[0].text.encode()
        assert all("notes.txt" in o.text for o in outputs[3:])

        # Killed from outside, it is started again and answers.
        assert exiftool._process is not None
        exiftool._process.kill()
        exiftool._process.wait()
        again = exiftool.characterize(media["png"])
        assert exiftool.starts == 2 and "PNG" in again.text


def test_exiftool_reports_missing_file_without_dying(tmp_path: Path) -> None:
    with ExifTool() as exiftool:
        out = exiftool.characterize(tmp_path / "missing.bin")
        assert "not found" in out.text.lower() or "error" in out.text.lower()
        assert exiftool.starts == 1


def test_tools_chosen_by_format(media: dict[str, Path]) -> None:
    characterizer = Characterizer()
    try:
        image = characterizer.characterize(media["png"], "fmt/11", "Portable Network Graphics")
        assert image.outcome.status is Status.PASSED and image.outcome.events == ()
        assert [o.tool for o in image.outputs] == ["ExifTool"]

        audio = characterizer.characterize(media["wav"], "fmt/141", "Waveform Audio")
        assert [o.tool for o in audio.outputs] == ["MediaInfo", "FFprobe"]
        for output in audio.outputs:
            etree.fromstring(output.text.encode())  # both are XML, for objectCharacteristicsExtension
        assert "440" in audio.outputs[1].text or "pcm_s16le" in audio.outputs[1].text
        assert audio.outputs[0].version.startswith("MediaInfoLib")
    finally:
        characterizer.close()


def test_format_classes() -> None:
    assert is_audio_video(Path("x.bin"), "fmt/569", None)
    assert is_audio_video(Path("x"), None, "QuickTime Video")
    assert not is_audio_video(Path("x.pdf"), "fmt/276", "Acrobat PDF 1.7")
    assert is_audio_video(Path("clip.mov"), None, None)


def test_awkward_names(tmp_path: Path, media: dict[str, Path]) -> None:
    import os
    import shutil

    newline = tmp_path / "two\nlines.png"
    shutil.copy(media["png"], newline)
    latin1 = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.png"))
    shutil.copy(media["png"], latin1)
    with ExifTool() as exiftool:
        for path in (newline, latin1):
            out = exiftool.characterize(path)
            assert "PNG" in out.text, out.text[:300]
        assert exiftool.starts == 1


def test_output_is_bounded() -> None:
    from services.ingest.microservices.characterization import MAX_OUTPUT, TRUNCATED_TAG, _cap

    text, truncated = _cap(b"<x>" + b"&" * MAX_OUTPUT + b"</x>")
    assert truncated
    root = etree.fromstring(text.encode())  # still XML, so it can go into objectCharacteristicsExtension
    assert root.tag == TRUNCATED_TAG and root.get("kept") == str(MAX_OUTPUT)
    assert _cap(b"<a/>") == ("<a/>", False)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    characterizer = Characterizer()
    try:
        result = characterizer.characterize(tmp_path / "gone.png", "fmt/11", "Portable Network Graphics")
        assert result.outcome.status is Status.ERROR and result.outputs == ()
        assert "ExifTool" in result.outcome.message
    finally:
        characterizer.close()


def test_an_exiftool_that_stops_answering_is_replaced_at_the_timeout(media: dict[str, Path]) -> None:
    with ExifTool(timeout=2) as exiftool:
        assert "PNG" in exiftool.characterize(media["png"]).text
        assert exiftool._process is not None
        os.kill(exiftool._process.pid, signal.SIGSTOP)  # hung, as on a file it cannot get through
        started = time.monotonic()
        again = exiftool.characterize(media["png"])
        assert 2 <= time.monotonic() - started < 15
        assert "PNG" in again.text and exiftool.starts == 2


def test_a_pool_characterizes_from_several_threads_with_one_process_each(media: dict[str, Path]) -> None:
    pool = ExifToolPool(size=2)
    try:
        with ThreadPoolExecutor(4) as threads:
            outputs = list(threads.map(pool.characterize, [media["png"], media["text"]] * 10))
        assert all(o.version == pool.version for o in outputs)
        assert sum("PNG" in o.text for o in outputs) == 10 and sum("notes.txt" in o.text for o in outputs) == 10
        assert 1 <= pool.starts <= 2
    finally:
        pool.close()
