# The one image of every Amber container: `amber serve <service>` or `amber worker` (see compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AMBER_DATA_DIR=/data

# 7-Zip packs and unpacks archives. More preservation tools (see the docs) can be added at build time:
#   docker build --build-arg EXTRA_APT_PACKAGES="libimage-exiftool-perl mediainfo ffmpeg" .
ARG EXTRA_APT_PACKAGES=""
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends p7zip-full ${EXTRA_APT_PACKAGES} \
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
