"""Small files of each format family, made by the real tools (nothing is downloaded), and ways to damage them."""

from __future__ import annotations

import io
import struct
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

FFMPEG = ["ffmpeg", "-v", "error", "-y"]
TONE = ["-f", "lavfi", "-i", "sine=frequency=440:duration=2"]
PICTURE = ["-f", "lavfi", "-i", "testsrc=size=96x64:rate=10:duration=2"]
PAGE_PS = b"""%!PS
/Helvetica findfont 28 scalefont setfont
72 700 moveto (Amber test page) show
72 650 moveto (The quick brown fox) show
showpage
"""


def run(*argv: str | Path | float, cwd: Path | None = None) -> None:
    subprocess.run([str(a) for a in argv], check=True, capture_output=True, cwd=cwd, timeout=120)


def image(path: Path) -> Path:
    """A 96x64 RGB gradient in the format the suffix names (vips writes it)."""
    raw = path.with_suffix(".v")
    run("vips", "xyz", raw.with_name("xyz.v"), 96, 64)
    run("vips", "extract_band", raw.with_name("xyz.v"), raw.with_name("band.v"), 0)
    run("vips", "linear", raw.with_name("band.v"), raw.with_name("lin.v"), 2.5, 10, "--uchar")
    run("vips", "bandjoin", f"{raw.with_name('lin.v')} {raw.with_name('band.v')} {raw.with_name('lin.v')}",
        raw.with_name("rgb.v"))
    run("vips", "cast", raw.with_name("rgb.v"), raw.with_name("cast.v"), "uchar")
    run("vips", "copy", raw.with_name("cast.v"), raw, "--interpretation", "srgb")
    if path.suffix in (".gif", ".bmp"):
        png = path.with_name(f".{path.name}.png")
        run("vips", "copy", raw, png)
        run(*FFMPEG, "-i", png, path)
        png.unlink()
    else:
        run("vips", "copy", raw, f"{path}[lossless]" if path.suffix == ".jp2" else path)
    for name in ("xyz.v", "band.v", "lin.v", "rgb.v", "cast.v"):
        raw.with_name(name).unlink()
    raw.unlink()
    return path


def pdf(path: Path) -> Path:
    source = path.with_suffix(".ps")
    source.write_bytes(PAGE_PS)
    run("gs", "-q", "-dBATCH", "-dNOPAUSE", "-dSAFER", "-sDEVICE=pdfwrite", f"-sOutputFile={path}", source)
    source.unlink()
    return path


def audio(path: Path) -> Path:
    codec = {".wav": ["-c:a", "pcm_s16le"], ".mp3": ["-c:a", "libmp3lame", "-b:a", "64k"], ".flac": ["-c:a", "flac"],
             ".aif": ["-c:a", "pcm_s16be"], ".ogg": ["-c:a", "libvorbis"]}[path.suffix]
    run(*FFMPEG, *TONE, *codec, path)
    return path


def video(path: Path) -> Path:
    codec = {
        ".mp4": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"],
        ".avi": ["-c:v", "mpeg4", "-c:a", "pcm_s16le"],
        ".mkv": ["-c:v", "ffv1", "-level", "3", "-g", "1", "-slicecrc", "1", "-slices", "4", "-c:a", "flac"],
        ".mov": ["-c:v", "mpeg4", "-c:a", "aac"],
    }[path.suffix]
    run(*FFMPEG, *PICTURE, *TONE, "-shortest", *codec, path)
    return path


def office(path: Path) -> Path:
    """DOCX/ODT from text, XLSX/ODS from CSV, PPTX/ODP from a minimal presentation (LibreOffice writes them)."""
    work = path.parent / f".make-{path.stem}"
    work.mkdir()
    kind = path.suffix
    if kind in (".docx", ".odt", ".doc", ".rtf"):
        source = work / f"{path.stem}.txt"
        source.write_text("Amber test document\n\nThe quick brown fox jumps over the lazy dog.\n")
    elif kind in (".xlsx", ".ods", ".xls"):
        source = work / f"{path.stem}.csv"
        source.write_text("name,value\nalpha,1\nbeta,2\n")
    else:
        source = work / f"{path.stem}.odp"
        source.write_bytes(minimal_odp())
    if source.suffix == kind:
        source.replace(path)
    else:
        run("soffice", f"-env:UserInstallation=file://{work}/profile", "--headless", "--norestore",
            "--convert-to", kind.lstrip("."), "--outdir", work, source)
        (work / f"{path.stem}{kind}").replace(path)
    subprocess.run(["rm", "-rf", str(work)], check=True)
    return path


def minimal_odp() -> bytes:
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
        'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" office:version="1.2">'
        '<office:body><office:presentation><draw:page draw:name="p1">'
        '<draw:frame svg:x="2cm" svg:y="2cm" svg:width="20cm" svg:height="3cm"><draw:text-box>'
        '<text:p>Amber test slide</text:p></draw:text-box></draw:frame>'
        '</draw:page></office:presentation></office:body></office:document-content>'
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:version="1.2" '
        'manifest:media-type="application/vnd.oasis.opendocument.presentation"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        '</manifest:manifest>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.presentation")
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def dng(path: Path) -> Path:
    """A tiny linear (demosaiced) DNG: a TIFF with DNGVersion and a camera model, as a camera's converter
    writes; dcraw reads it like any raw file."""
    width, height = 32, 24
    pixels = b"".join(struct.pack("<HHH", (x * 2000) % 65535, (y * 2500) % 65535, 20000)
                      for y in range(height) for x in range(width))
    model = b"Amber Test Camera\x00"
    entries: list[tuple[int, int, int, bytes]] = []  # tag, type, count, value bytes

    def short(tag: int, *values: int) -> None:
        entries.append((tag, 3, len(values), struct.pack(f"<{len(values)}H", *values)))

    def long(tag: int, *values: int) -> None:
        entries.append((tag, 4, len(values), struct.pack(f"<{len(values)}I", *values)))

    def srational(tag: int, *values: tuple[int, int]) -> None:
        entries.append((tag, 10, len(values), b"".join(struct.pack("<ii", n, d) for n, d in values)))

    header = 8
    long(254, 0)
    long(256, width)
    long(257, height)
    short(258, 16, 16, 16)
    short(259, 1)
    short(262, 34892)  # LinearRaw
    entries.append((271, 2, 6, b"Amber\x00"))
    entries.append((272, 2, len(model), model))
    long(273, 0)  # strip offset, patched below
    short(277, 3)
    long(278, height)
    long(279, len(pixels))
    short(284, 1)
    entries.append((50706, 1, 4, bytes([1, 4, 0, 0])))  # DNGVersion
    entries.append((50707, 1, 4, bytes([1, 1, 0, 0])))  # DNGBackwardVersion
    entries.append((50708, 2, len(model), model))  # UniqueCameraModel
    srational(50721, (10000, 10000), (0, 10000), (0, 10000), (0, 10000), (10000, 10000), (0, 10000),
              (0, 10000), (0, 10000), (10000, 10000))  # ColorMatrix1
    short(50778, 21)  # CalibrationIlluminant1: D65
    entries.sort()
    ifd_size = 2 + 12 * len(entries) + 4
    extra_offset = header + ifd_size
    extra = b""
    table = b""
    data_offset = extra_offset + sum(len(v) + (len(v) % 2) for _, _, _, v in entries if len(v) > 4)
    for tag, kind, count, value in entries:
        if tag == 273:
            value = struct.pack("<I", data_offset)
        if len(value) <= 4:
            table += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\x00")
        else:
            table += struct.pack("<HHII", tag, kind, count, extra_offset + len(extra))
            extra += value + (b"\x00" if len(value) % 2 else b"")
    body = b"II*\x00" + struct.pack("<I", header) + struct.pack("<H", len(entries)) + table + b"\x00" * 4
    path.write_bytes(body + extra + pixels)
    return path


def warc(path: Path) -> Path:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with path.open("wb") as output:
        writer = WARCWriter(output, gzip=False)
        for number in range(3):
            payload = (f"<html><body>page {number} " + "text " * 200 + "</body></html>").encode()
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.0")
            record = writer.create_warc_record(f"http://example.org/{number}", "response",
                                               payload=io.BytesIO(payload), http_headers=headers)
            writer.write_record(record)
    return path


def xml(path: Path) -> Path:
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<records>\n'
                    + "".join(f'  <record id="{n}"><title>Item {n}</title></record>\n' for n in range(50))
                    + "</records>\n")
    return path


def zip_archive(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for number in range(3):
            archive.writestr(f"doc{number}.txt", f"document {number} " * 500)
    return path


def seven_zip(path: Path) -> Path:
    source = path.parent / f".src-{path.stem}"
    source.mkdir()
    for number in range(3):
        (source / f"doc{number}.txt").write_text(f"document {number} " * 500)
    run("7z", "a", "-bd", "-y", path, ".", cwd=source)
    subprocess.run(["rm", "-rf", str(source)], check=True)
    return path


MAKERS: dict[str, Callable[[Path], Path]] = {
    **{ext: image for ext in (".tif", ".jpg", ".png", ".gif", ".bmp", ".jp2")},
    ".pdf": pdf,
    **{ext: audio for ext in (".wav", ".mp3", ".flac", ".aif", ".ogg")},
    **{ext: video for ext in (".mp4", ".avi", ".mkv", ".mov")},
    **{ext: office for ext in (".docx", ".odt", ".xlsx", ".ods", ".pptx", ".odp", ".doc")},
    ".dng": dng, ".warc": warc, ".xml": xml, ".zip": zip_archive, ".7z": seven_zip,
}


def make(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    return MAKERS[path.suffix](path)


def truncated(path: Path, target: Path, keep: float = 0.6) -> Path:
    data = path.read_bytes()
    target.write_bytes(data[: max(1, int(len(data) * keep))])
    return target


def cut_middle(path: Path, target: Path, fraction: float = 0.2) -> Path:
    """Bytes cut from the middle: everything before and after stays, so headers and trailers still look right."""
    data = path.read_bytes()
    start = len(data) // 2 - int(len(data) * fraction / 2)
    target.write_bytes(data[:start] + data[start + int(len(data) * fraction):])
    return target
