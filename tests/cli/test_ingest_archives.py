"""`amber ingest` accepts every archive format intake accepts, and sends each as what intake finds it to be."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from amber_cli.ingest import archive_format, start_transfer
from clients.transfer import ArchiveFormat, TransferStatus
from services.transfer.transfers.archives import detect_format
from tests.transfer.harness import files_under, make_7z, make_tar, make_zip, transfer_stack


def test_every_format_intake_accepts_has_a_file_name_ending() -> None:
    assert {archive_format(Path(f"box{suffix}")) for suffix in (".zip", ".tar", ".tar.gz", ".tgz", ".7z")} == set(
        ArchiveFormat
    )
    assert archive_format(Path("BOX.7Z")) is ArchiveFormat.seven_z
    assert archive_format(Path("box.rar")) is None


@pytest.mark.parametrize("name", ["box.7z", "box.zip", "box.tar"])
def test_the_name_and_the_bytes_agree(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "box"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"a")
    archive = tmp_path / name
    if name.endswith(".7z"):
        make_7z(folder, archive)
    else:
        archive.write_bytes(make_zip({"a.txt": b"a"}) if name.endswith(".zip") else make_tar([("a.txt", b"a")]))
    assert archive_format(archive) is detect_format(archive)


async def test_a_7z_archive_is_sent_and_placed(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    folder = tmp_path / "box"
    folder.mkdir()
    (folder / "letter.txt").write_bytes(b"dear archivist")
    archive = tmp_path / "box.7z"
    make_7z(folder, archive)
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        transfer = await start_transfer(stack.client, archive, "Box 7", None, None)
        assert transfer.status is not TransferStatus.failed, transfer.error
        placed = files_under(stack.transfer_dir(transfer.uuid))
    assert {path: data for path, data in placed.items() if path.startswith("objects/")} == {
        "objects/letter.txt": b"dear archivist"  # intake takes the archive's one top folder as the transfer
    }
