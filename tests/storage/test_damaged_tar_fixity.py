"""A tar.gz AIP damaged inside its compressed stream fails its fixity check; it never makes the check crash."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from services.storage.fixity.bag import validate_package
from services.storage.packages.archive import PackageFormat


def test_a_tar_gz_cut_inside_its_stream_is_a_failed_check(tmp_path: Path) -> None:
    package = tmp_path / "aip.tar.gz"
    with tarfile.open(package, "w:gz") as archive:
        payload = bytes(range(256)) * 4096  # 1 MiB that gzip cannot shrink to nothing
        info = tarfile.TarInfo("aip/data/objects/blob.bin")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    whole = package.read_bytes()
    package.write_bytes(whole[: len(whole) // 2])  # "unexpected end of data" from tarfile while reading
    check = validate_package(PackageFormat.tar, package, "7z", tmp_path / "work")
    assert check.errors, check
