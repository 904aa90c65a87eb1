"""Intake proper: bags, checksum files, compliance, metadata files and the journal, approval (SQLite, PostgreSQL)."""

from __future__ import annotations

import hashlib
import platform
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from clients.transfer import TransferStatus, TransferType
from servicekit.http import ServiceError
from tests.transfer.harness import (
    files_under,
    journal_of,
    make_bag,
    make_zip,
    transfer_stack,
)

PAYLOAD = {"a.txt": b"alpha\n", "sub/b.bin": b"\x00\x01beta", "metadata/notes.txt": b"about the bag"}


async def test_zipped_bags_at_the_root_or_in_one_folder_are_validated_and_laid_out(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        for prefix in ("", "MyBag/"):
            archive = make_zip(make_bag(PAYLOAD, prefix=prefix))
            made = await stack.client.upload_transfer(f"bag {prefix or 'root'}", _once(archive))
            assert made.status is TransferStatus.ingesting
            folder = stack.transfer_dir(made.uuid)
            files = files_under(folder)
            assert files["objects/a.txt"] == b"alpha\n"
            assert files["objects/sub/b.bin"] == b"\x00\x01beta"
            # data/metadata becomes metadata/, manifests join it, the other tag files go to logs/BagIt/.
            assert files["metadata/notes.txt"] == b"about the bag"
            assert set(files) == {
                "objects/a.txt", "objects/sub/b.bin", "metadata/notes.txt", "metadata/manifest-sha256.txt",
                "logs/BagIt/bagit.txt", "logs/BagIt/bag-info.txt", "logs/BagIt/tagmanifest-sha256.txt",
            }
            (check,) = [r for r in journal_of(folder) if r["record"] == "event"]
            assert (check["path"], check["type"], check["detail"], check["outcome"]) == (
                None, "fixity check", "Bagit - verifypayloadmanifests", "Pass"
            )
            assert made.transfer_type is TransferType.zipped_bag


async def test_an_invalid_bag_is_refused_naming_every_bad_file_and_leaves_nothing(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    entries = make_bag(PAYLOAD)
    entries["data/a.txt"] = b"ALPHA\n"  # altered after bagging
    entries["data/extra.txt"] = b"not in the manifest"
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        response = await stack.http.post(
            "/transfers/upload", params={"name": "broken bag"}, content=make_zip(entries)
        )
        assert response.status_code == 422, response.text
        problem = response.json()
        bad = {error["entry"]: error["reason"] for error in problem["errors"]}
        assert "sha256 checksum" in bad["data/a.txt"]
        assert "not listed in manifest-sha256.txt" in bad["data/extra.txt"]
        assert "Payload-Oxum" in bad["bag-info.txt"]
        assert "data/a.txt" in problem["detail"] and "data/extra.txt" in problem["detail"]
        assert stack.leftovers() == []
        (failed,) = (await stack.client.list_transfers()).items
        assert failed.status is TransferStatus.failed


async def test_a_bag_sent_as_a_bag_must_be_one(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        with pytest.raises(ServiceError) as refused:
            await stack.client.upload_transfer(
                "not a bag", _once(make_zip({"a.txt": b"a"})), transfer_type=TransferType.zipped_bag
            )
        assert refused.value.status == 422
        assert stack.leftovers() == []


async def test_checksum_files_are_verified_with_one_event_per_file(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    good, other = b"good bytes", b"other bytes"
    md5 = (f"{hashlib.md5(good).hexdigest()}  good.txt\n"
           f"{hashlib.md5(other).hexdigest()}  dir/other.txt\n").encode()
    sha256 = (f"{hashlib.sha256(good).hexdigest()}  good.txt\n"
              f"{hashlib.sha256(other).hexdigest()}  dir/other.txt\n").encode()
    archive = make_zip({"t/objects/good.txt": good, "t/objects/dir/other.txt": other,
                        "t/metadata/checksum.md5": md5, "t/metadata/checksum.sha256": sha256})
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        made = await stack.client.upload_transfer("checksums", _once(archive))
        events = [r for r in journal_of(stack.transfer_dir(made.uuid)) if r["record"] == "event"]
        # The agent is what computed the digests (Python's hashlib on OpenSSL), with its real versions.
        library = f"Python {platform.python_version()}; {ssl.OPENSSL_VERSION}"
        md5_detail = f'program="python"; module="hashlib.md5()"; version="{library}"'
        sha256_detail = f'program="python"; module="hashlib.sha256()"; version="{library}"'
        assert sorted((e["path"], e["detail"], e["outcome"]) for e in events) == [
            ("objects/dir/other.txt", md5_detail, "pass"),
            ("objects/dir/other.txt", sha256_detail, "pass"),
            ("objects/good.txt", md5_detail, "pass"),
            ("objects/good.txt", sha256_detail, "pass"),
        ]
        assert "amber intake" not in str(events)
        assert all(e["type"] == "fixity check" for e in events)

        broken = make_zip({"t/objects/good.txt": good, "t/objects/dir/other.txt": b"changed",
                           "t/metadata/checksum.md5": md5})
        response = await stack.http.post("/transfers/upload", params={"name": "broken"}, content=broken)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert [error["entry"] for error in problem["errors"]] == ["objects/dir/other.txt"]
        assert "Checksum verification failed for 1 files: objects/dir/other.txt" in problem["detail"]
        failed = (await stack.client.list_transfers(TransferStatus.failed)).items[0]
        assert "objects/dir/other.txt" in (failed.error or "") and "good.txt" not in (failed.error or "")
        assert stack.leftovers() == [f"transfers/{made.uuid}"]


COMPLIANCE = {
    "t/objects/photo.jpg": b"jpeg",
    "t/objects/Thumbs.db": b"junk",
    "t/objects/sub/.DS_Store": b"junk",
    "t/objects/sub/Icon\r": b"junk",
    "t/objects/.hidden.txt": b"hidden",
    "t/objects/.hidden dir/inside.txt": b"inside",
    "t/objects/empty/": None,
    "t/loose.txt": b"loose",
    "t/processingMCP.xml": b"<processingMCP><preconfiguredChoices/></processingMCP>",
    "t/metadata/metadata.csv": (
        "\ufefffilename,dc.title,dc.creator,dc.creator,Box\r\n"
        "objects,The collection,Ann,Bob,\r\n"
        "objects/photo.jpg,A photo,,,12\r\n"
    ).encode(),
    "t/metadata/rights.csv": (
        b"file,basis,status,determination_date,jurisdiction,start_date,end_date,terms,citation,note,grant_act\r"
        b"objects/photo.jpg,copyright,copyrighted,2011-01-01,ca,2011-01-01,open,,,,disseminate\r"
    ),
    "t/metadata/identifiers.json": (
        b'[{"file": "objects/photo.jpg", "identifiers": [{"identifier": "10.1/x", "identifierType": "DOI"}]}]'
    ),
}


@pytest.mark.parametrize("remove_hidden", [False, True], ids=["hidden-kept", "hidden-removed"])
async def test_compliance_and_metadata_files_are_journalled(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment, remove_hidden: bool
) -> None:
    async with transfer_stack(
        db_engine, tmp_path, temporal_env, remove_hidden_files=remove_hidden
    ) as stack:
        made = await stack.client.upload_transfer("compliance", _once(make_zip(COMPLIANCE)))
        folder = stack.transfer_dir(made.uuid)
        files = set(files_under(folder))
        records = journal_of(folder)
        removed = {r["path"]: r["reason"] for r in records if r["record"] == "removed"}
        removal_events = {r["path"] for r in records if r["record"] == "event" and r["type"] == "file removed"}
        junk = {"objects/Thumbs.db", "objects/sub/.DS_Store", "objects/sub/Icon\r"}
        hidden = {"objects/.hidden.txt", "objects/.hidden dir/inside.txt"}
        assert junk <= set(removed) and not junk & files
        if remove_hidden:
            assert hidden <= set(removed) and not hidden & files
        else:
            assert hidden <= files and not hidden & set(removed)
        assert removal_events == set(removed)
        assert {"record": "empty_directory", "path": "objects/empty"} in records
        assert "objects/loose.txt" in files and "processingMCP.xml" in files
        assert {"record": "processing_configuration", "path": "processingMCP.xml"} in records
        (move,) = [r for r in records if r["record"] == "event" and r["type"] == "filename change"]
        assert move["path"] == "objects/loose.txt"
        assert {"record": "dublin_core", "path": "objects",
                "elements": {"dc.title": ["The collection"], "dc.creator": ["Ann", "Bob"]}} in records
        assert {"record": "dublin_core", "path": "objects/photo.jpg", "elements": {"dc.title": ["A photo"]}} in records
        assert {"record": "custom_metadata", "path": "objects/photo.jpg", "elements": {"Box": ["12"]}} in records
        (rights,) = [r for r in records if r["record"] == "rights"]
        assert rights["statement"]["basis"] == "copyright" and rights["statement"]["end_date"] == "open"
        assert {"record": "identifiers", "path": "objects/photo.jpg",
                "identifiers": [{"type": "DOI", "value": "10.1/x"}]} in records
        # Every source file is in the transfer or recorded as removed: nothing silently lost.
        for name in (n for n, c in COMPLIANCE.items() if c is not None):
            relative = name.removeprefix("t/")
            placed = relative if relative.split("/")[0] in ("objects", "metadata", "processingMCP.xml") \
                else f"objects/{relative}"
            assert placed in files or placed in removed, placed


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("metadata.csv", b"filename,dc.title\nobjects/missing.jpg,x\n",
     "metadata/metadata.csv, row 2, column 'filename': 'objects/missing.jpg' is not in the transfer"),
    ("metadata.csv", b"title,dc.title\nobjects/a.txt,x\n",
     "metadata/metadata.csv, row 1, column 'title': the first column must be 'filename'"),
    ("rights.csv", b"file,basis,start_date\nobjects/a.txt,copyright,yesterday\n",
     "metadata/rights.csv, row 2, column 'start_date': 'yesterday' is not a date"),
    ("rights.csv", b"file,basis\r\nobjects/a.txt,whim\r\n",
     "metadata/rights.csv, row 2, column 'basis': 'whim' is not one of"),
    ("identifiers.json", b"{not json", "metadata/identifiers.json: is not valid JSON"),
    ("mets_structmap.xml", b'<mets:structMap xmlns:mets="http://www.loc.gov/METS/"><mets:div>\n<mets:shelf/>'
     b"</mets:div></mets:structMap>", "metadata/mets_structmap.xml is not valid METS (1 errors): line 2: Element "),
    ("mets_structmap.xml", b"<mets:structMap", "metadata/mets_structmap.xml is not valid METS"),
])
async def test_bad_metadata_files_are_refused_naming_row_and_column(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment,
    name: str, content: bytes, expected: str,
) -> None:
    archive = make_zip({"t/objects/a.txt": b"a", f"t/metadata/{name}": content})
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        response = await stack.http.post("/transfers/upload", params={"name": "bad metadata"}, content=archive)
        assert response.status_code == 422, response.text
        assert expected in response.json()["detail"]
        assert stack.leftovers() == []


async def test_approval_rejection_hiding_and_deletion(
    db_engine: AsyncEngine, tmp_path: Path, temporal_env: WorkflowEnvironment
) -> None:
    archive = make_zip({"a.txt": b"a"})
    async with transfer_stack(db_engine, tmp_path, temporal_env) as stack:
        first = await stack.client.upload_transfer("wait 1", _once(archive), auto_approve=False)
        second = await stack.client.upload_transfer("wait 2", _once(archive), auto_approve=False)
        for made in (first, second):
            assert made.status is TransferStatus.awaiting_approval and made.ingest_uuid is None
            assert made.step == "awaiting approval"
        waiting = await stack.client.list_transfers(TransferStatus.awaiting_approval)
        assert {item.uuid for item in waiting.items} == {first.uuid, second.uuid}
        assert (await stack.ingest_http.get("/ingests")).json()["total"] == 0

        approved = await stack.client.approve_transfer(first.uuid)
        assert approved.status is TransferStatus.ingesting and approved.ingest_uuid is not None
        with pytest.raises(ServiceError) as again:
            await stack.client.approve_transfer(first.uuid)
        assert again.value.status == 409

        rejected = await stack.client.reject_transfer(second.uuid, "not ours")
        assert rejected.status is TransferStatus.rejected and rejected.error == "Rejected: not ours"
        assert not stack.transfer_dir(second.uuid).exists()
        assert (await stack.ingest_http.get("/ingests")).json()["total"] == 1

        hidden = await stack.client.hide_transfer(second.uuid)
        assert hidden.hidden
        assert [item.uuid for item in (await stack.client.list_transfers()).items] == [first.uuid]
        assert (await stack.client.list_transfers(include_hidden=True)).total == 2
        await stack.client.delete_transfer(second.uuid)
        with pytest.raises(ServiceError) as gone:
            await stack.client.get_transfer(second.uuid)
        assert gone.value.status == 404


async def _once(content: bytes) -> AsyncIterator[bytes]:
    yield content
