"""The intake stage against the real sample transfers of ../shared/corpus/transfers (its EXPECTED.tsv rows)."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from clients.transfer import TransferStatus, TransferType
from servicekit.http import ServiceError
from tests.transfer.harness import journal_of, transfer_stack

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "transfers"

pytestmark = pytest.mark.skipif(
    not (CORPUS / "EXPECTED.tsv").is_file(), reason=f"the sample transfer corpus is absent ({CORPUS})"
)

VALID_BAGS = {"bag", "bag with payload oxum", "bag with tag manifest", "bag with payload oxum and tag manifest"}
INVALID_BAGS = {
    "bag fail manifest": ["data/bagTest/README"],
    "bag fail payload oxum": ["bag-info.txt"],
    "bag fail tag manifest": ["bag-info.txt"],
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expected_sha256() -> dict[str, str]:
    with (CORPUS / "FILES.tsv").open(encoding="utf-8", newline="") as table:
        return {row["path"]: row["sha256"] for row in csv.DictReader(table, delimiter="\t")}


async def test_bagit_tests_are_valid_or_invalid_exactly_as_listed(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    folders = sorted(path for path in (CORPUS / "bagitTests").iterdir() if path.is_dir())
    assert {folder.name for folder in folders} == VALID_BAGS | set(INVALID_BAGS)
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        for folder in folders:
            if folder.name in VALID_BAGS:
                made = await stack.client.upload_transfer(folder.name, folder)
                assert made.status is TransferStatus.ingesting, folder.name
                records = journal_of(stack.transfer_dir(made.uuid))
                assert any(r["record"] == "event" and r["detail"] == "Bagit - verifypayloadmanifests"
                           for r in records)
                continue
            with pytest.raises(ServiceError) as refused:
                await stack.client.upload_transfer(folder.name, folder)
            assert refused.value.status == 422, folder.name
            for bad in INVALID_BAGS[folder.name]:
                assert bad in str(refused.value), (folder.name, str(refused.value))


async def test_fixity_check_should_fail_names_only_the_altered_file(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        response = await stack.http.post(
            "/transfers/upload", params={"name": "fixityCheckShouldFail"},
            content=await _tar_of(CORPUS / "fixityCheckShouldFail"),
        )
        assert response.status_code == 422, response.text
        problem = response.json()
        assert [error["entry"] for error in problem["errors"]] == ["objects/Nemastylis_geminiflora_Flower.PNG"]
        for passing in ("WFPC01.GIF", "oakland03.jp2"):
            assert passing not in problem["detail"]
        (failed,) = (await stack.client.list_transfers()).items
        assert failed.status is TransferStatus.failed
        assert "Nemastylis_geminiflora_Flower.PNG" in (failed.error or "")
        assert stack.leftovers() == []


async def test_sample_bags_are_accepted_in_every_packaging(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    bags = CORPUS / "SampleBags"
    sources = sorted((bags / "dir").iterdir()) + sorted((bags / "zip").iterdir()) + sorted((bags / "targz").iterdir())
    assert len(sources) == 11
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        for source in sources:
            made = await stack.client.upload_transfer(source.name.replace(".", "_"), source)
            assert made.status is TransferStatus.ingesting, source
            folder = stack.transfer_dir(made.uuid)
            assert (folder / "logs" / "BagIt" / "bagit.txt").is_file(), source
            assert any(path.is_file() for path in (folder / "objects").rglob("*")), source
            if "ProcessingMCP" in source.name:
                assert (folder / "processingMCP.xml").is_file()
                assert {"record": "processing_configuration", "path": "processingMCP.xml"} in journal_of(folder)


async def test_zipped_directory_is_unpacked_with_its_processing_configuration(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    archive = CORPUS / "ZippedDirectoryTransfer" / "ZippedDirectoryTransferWithProcessing.zip"
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        made = await stack.client.upload_transfer("ZippedDirectoryTransfer", archive)
        assert made.transfer_type is TransferType.zipped_directory
        folder = stack.transfer_dir(made.uuid)
        assert sorted(p.name for p in (folder / "objects").iterdir()) == ["LICENSE", "README", "SumiyoshiHonsha.png"]
        assert (folder / "processingMCP.xml").stat().st_size == 59
        assert {"record": "processing_configuration", "path": "processingMCP.xml"} in journal_of(folder)


@pytest.mark.parametrize("remove_hidden", [False, True], ids=["hidden-kept", "hidden-removed"])
@pytest.mark.parametrize("name", ["badNames", "hiddenFile"])
async def test_bad_names_and_hidden_files_lose_nothing(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment, name: str, remove_hidden: bool
) -> None:
    source = CORPUS / name
    known = expected_sha256()
    async with transfer_stack(db_engine, tmp_path, temporal_env, remove_hidden_files=remove_hidden) as stack:
        made = await stack.client.upload_transfer(name, source)
        folder = stack.transfer_dir(made.uuid)
        removed = {r["path"] for r in journal_of(folder) if r["record"] == "removed"}
        checked = 0
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            relative = path.relative_to(source).as_posix()
            placed = folder / relative
            if relative in removed:
                assert not placed.exists()
            else:
                assert placed.is_file(), f"{relative} was lost"
                assert sha256(placed) == known.get(f"{name}/{relative}", sha256(path)), relative
            checked += 1
        assert checked >= 4
        if remove_hidden and name == "hiddenFile":
            assert {"objects/.WFPC01.GIF", "objects/.More images/.Landing zone.jpg"} <= removed


async def _tar_of(folder: Path) -> bytes:
    from clients.transfer import tar_stream

    return b"".join([chunk async for chunk in tar_stream(folder)])
