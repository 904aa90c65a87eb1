# Amber: two commands for a fresh Debian/Ubuntu machine — `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := p7zip-full python3-venv python3-dev clamav clamav-daemon clamdscan libimage-exiftool-perl \
	mediainfo mediaconch ffmpeg unar pngcheck qpdf tree \
	libvips-tools ghostscript dcraw libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui \
	libtiff-tools jpeginfo gifsicle flac mp3val tesseract-ocr tesseract-ocr-eng chromium
STAMP := $(VENV)/.installed

.PHONY: demo test lint system-deps venv up down clean

## demo: install everything, start the stack on embedded defaults, ingest the sample, show the AIP
demo: venv
	$(BIN)/amber up
	$(BIN)/amber ingest samples/demo-transfer --wait --json | tee /tmp/amber-demo.json
	@$(BIN)/python -c "import json,sys; r=json.load(open('/tmp/amber-demo.json')); \
	print('\nAIP', r['aip_id'], r['status'], '->', r.get('aip_file') or r['aip_path']); sys.exit(r['status']!='stored')"
	@echo "Contents of the AIP:"
	@7z l -ba "$$($(BIN)/python -c "import json; print(json.load(open('/tmp/amber-demo.json'))['aip_file'])")" | awk '{print "  " $$NF}'

## test: install everything, then lint and run the whole suite
test: venv
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadfile

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: system-deps $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

up: venv
	$(BIN)/amber up

down:
	$(BIN)/amber down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
