"""A transfer names its processing configuration; the real ingest service is asked whether it exists and gets
it with the transfer (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from amber_cli.ingest import start_transfer
from amber_cli.main import app as cli
from clients.ingest import ProcessingConfigFields
from clients.transfer import TransferFromLocation, TransferRead, TransferStatus, UploadSessionCreate
from servicekit.http import ServiceError
from tests.transfer.harness import TransferStack, make_zip, transfer_stack
from tests.transfer.test_transfer_locations import source_location

ARCHIVE = make_zip({"a.txt": b"alpha"})


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def ingest_config_of(stack: TransferStack, transfer: TransferRead) -> str:
    response = await stack.ingest_http.get(f"/ingests/{transfer.ingest_uuid}")
    assert response.status_code == 200, response.text
    return str(response.json()["processing_config"])


def assert_unknown_config(response: httpx.Response, name: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["title"] == "Unknown processing configuration"
    assert f"'{name}'" in problem["detail"]


async def test_every_way_of_creating_a_transfer_hands_its_configuration_to_ingest(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    (tmp_path / "source" / "Box").mkdir(parents=True)
    (tmp_path / "source" / "Box" / "a.txt").write_bytes(b"alpha")
    archive_file = tmp_path / "box.zip"
    archive_file.write_bytes(ARCHIVE)
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        await stack.ingest_http.put("/processing-configurations/careful", json={"fields": ProcessingConfigFields(
            store_aip="ask").model_dump()})
        location = await source_location(stack)
        copied = await stack.client.create_transfer_from_location(
            TransferFromLocation(name="copied", location_uuid=location, path="Box", processing_config="careful")
        )
        uploaded = await stack.client.upload_transfer("uploaded", _once(ARCHIVE), processing_config="default")
        resumed = await stack.client.upload_resumable("resumed", archive_file, processing_config="careful")
        plain = await stack.client.upload_transfer("plain", _once(ARCHIVE))
        # What `amber ingest --processing-config default box.zip` does once it has its clients.
        from_cli = await start_transfer(stack.client, archive_file, "cli", None, None, "default")
        for transfer, name in ((copied, "careful"), (uploaded, "default"), (resumed, "careful"),
                               (plain, "automated"), (from_cli, "default")):
            assert transfer.status is TransferStatus.ingesting
            assert transfer.processing_config == name
            assert (await stack.client.get_transfer(transfer.uuid)).processing_config == name
            assert await ingest_config_of(stack, transfer) == name

        # A transfer approved later keeps the configuration it was created with.
        waiting = await stack.client.upload_transfer("later", _once(ARCHIVE), auto_approve=False,
                                                     processing_config="default")
        approved = await stack.client.approve_transfer(waiting.uuid)
        assert approved.processing_config == "default"
        assert await ingest_config_of(stack, approved) == "default"


async def test_an_unknown_configuration_is_refused_at_creation_and_leaves_nothing(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    (tmp_path / "source" / "Box").mkdir(parents=True)
    (tmp_path / "source" / "Box" / "a.txt").write_bytes(b"alpha")
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        location = await source_location(stack)
        assert_unknown_config(await stack.http.post("/transfers", json={
            "name": "copied", "location_uuid": str(location), "path": "Box", "processing_config": "nope"}), "nope")
        assert_unknown_config(await stack.http.post(
            "/transfers/upload", params={"name": "uploaded", "processing_config": "nope"}, content=ARCHIVE
        ), "nope")
        assert_unknown_config(await stack.http.post("/uploads", json={
            "name": "resumed", "size": len(ARCHIVE), "sha256": hashlib.sha256(ARCHIVE).hexdigest(),
            "processing_config": "nope"}), "nope")
        with pytest.raises(ServiceError) as refused:
            await stack.client.upload_transfer("client", _once(ARCHIVE), processing_config="nope")
        assert refused.value.status == 422
        # Names that could never be a configuration are refused by the schema itself.
        bad_name = await stack.http.post(
            "/transfers/upload", params={"name": "x", "processing_config": "../etc"}, content=ARCHIVE
        )
        assert bad_name.status_code == 422
        assert (await stack.client.list_transfers(include_hidden=True)).items == []
        assert stack.leftovers() == []


async def test_a_configuration_deleted_while_uploading_is_refused_on_completion(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        await stack.ingest_http.put("/processing-configurations/brief", json={"fields": {}})
        session = await stack.client.create_upload_session(UploadSessionCreate(
            name="resumed", size=len(ARCHIVE), sha256=hashlib.sha256(ARCHIVE).hexdigest(), processing_config="brief"
        ))
        assert session.processing_config == "brief"
        await stack.client.put_upload_chunk(session.uuid, 0, ARCHIVE, length=len(ARCHIVE), total=len(ARCHIVE))
        assert (await stack.ingest_http.delete("/processing-configurations/brief")).status_code == 204
        assert_unknown_config(await stack.http.post(f"/uploads/{session.uuid}/complete"), "brief")
        # Nothing was extracted; the verified bytes wait for the session to be abandoned.
        assert (await stack.client.list_transfers()).items == []
        assert (await stack.client.get_upload_session(session.uuid)).offset == len(ARCHIVE)


async def test_ingest_unreachable_while_checking_is_said_so(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    async with transfer_stack(db_engine, tmp_path, temporal_env, ingest_reachable=False) as stack:
        response = await stack.http.post("/uploads", json={
            "name": "resumed", "size": len(ARCHIVE), "sha256": hashlib.sha256(ARCHIVE).hexdigest()})
        assert response.status_code == 503
        assert response.json()["title"] == "Ingest service unavailable"
        location = uuid.uuid4()
        response = await stack.http.post("/transfers", json={"name": "x", "location_uuid": str(location),
                                                             "path": "Box"})
        assert response.status_code == 503
        assert (await stack.client.list_transfers()).items == []


def test_the_cli_takes_a_processing_configuration() -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(cli, ["ingest", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--processing-config" in result.output
