# The one image of every Amber container: `amber serve <service>` or `amber worker` (see compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AMBER_DATA_DIR=/data

# The tools of the processing chain: 7-Zip and unar (packages), ClamAV (clamd, started by each worker), ExifTool,
# MediaInfo and FFmpeg (characterization), MediaConch, pngcheck and qpdf (validation), and what the format policy
# registry's shipped rules call: libvips, Ghostscript, dcraw, LibreOffice (headless, -nogui), libtiff tools,
# jpeginfo, gifsicle, flac, mp3val, Tesseract. More at build time:
#   docker build --build-arg EXTRA_APT_PACKAGES="imagemagick ghostscript" .
ARG EXTRA_APT_PACKAGES=""
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends p7zip-full unar clamav \
       clamav-daemon clamav-freshclam libimage-exiftool-perl mediainfo mediaconch ffmpeg pngcheck qpdf \
       libvips-tools ghostscript dcraw libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui \
       libtiff-tools jpeginfo gifsicle flac mp3val tesseract-ocr tesseract-ocr-eng chromium \
       ${EXTRA_APT_PACKAGES} \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
RUN pip install . && rm -rf /src

RUN useradd --system --create-home --home-dir /home/amber --uid 10001 amber \
    && mkdir -p /data && chown amber:amber /data
USER amber
WORKDIR /home/amber
VOLUME ["/data"]
EXPOSE 8000 8001 8002 8003 8004

CMD ["amber", "--help"]
