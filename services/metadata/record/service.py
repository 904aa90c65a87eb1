"""The path-keyed record: idempotent bulk writes of what the transfer journal carries, and reading it back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from uuid import UUID

from lxml import etree
from sqlalchemy.ext.asyncio import AsyncSession

from clients.metadata.schemas import (
    BulkResult,
    DescriptiveRead,
    DescriptiveRecord,
    DirectoryRead,
    IdentifiersRecord,
    RightsRead,
    RightsRecord,
    RightsStatementRecord,
    StructMapRead,
    StructMapUpload,
)
from servicekit.ids import derived_id
from servicekit.pagination import Page, PageParams
from servicekit.problems import Problem
from services.metadata.mets import safexml
from services.metadata.mets.writer import METS_NS
from services.metadata.packages.service import require_package
from services.metadata.record import repository

STRUCTMAP_MAX_BYTES = 10_000_000


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


async def add_descriptive(
    session: AsyncSession, package_uuid: UUID, kind: str, records: Sequence[DescriptiveRecord]
) -> BulkResult:
    """One record per path and kind; a path already described keeps its first record (a retry changes nothing)."""
    await require_package(session, package_uuid)
    merged: dict[str, dict[str, list[str]]] = {}
    for record in records:
        target = merged.setdefault(record.path, {})
        for name, values in record.elements.items():
            target.setdefault(name, []).extend(v for v in values if v is not None)
    known = await repository.existing_descriptive(session, package_uuid, kind, list(merged))
    rows = [
        {"package_uuid": package_uuid, "path": path, "kind": kind, "elements": canonical(elements)}
        for path, elements in merged.items() if path not in known
    ]
    await repository.insert_descriptive(session, rows)
    return BulkResult(created=len(rows), unchanged=len(merged) - len(rows))


async def list_descriptive(session: AsyncSession, package_uuid: UUID, params: PageParams) -> Page[DescriptiveRead]:
    await require_package(session, package_uuid)
    rows = await repository.descriptive_page(session, package_uuid, params.limit, params.offset)
    total = await repository.count_of(session, repository.descriptive_table, package_uuid)
    items = [DescriptiveRead(path=r.path, kind=r.kind, elements=json.loads(r.elements)) for r in rows]
    return Page.of(items, total, params)


def rights_uuid(package_uuid: UUID, path: str, statement: RightsStatementRecord) -> UUID:
    """Derived from the content: the same statement about the same path is the same record on every retry."""
    return derived_id(package_uuid, "rights", path, canonical(statement.model_dump(mode="json")))


async def add_rights(session: AsyncSession, package_uuid: UUID, records: Sequence[RightsRecord]) -> BulkResult:
    await require_package(session, package_uuid)
    rows = {}
    for record in records:
        uuid = rights_uuid(package_uuid, record.path, record.statement)
        rows[uuid] = {
            "uuid": uuid, "package_uuid": package_uuid, "path": record.path, "basis": record.statement.basis,
            "statement": canonical(record.statement.model_dump(mode="json")),
        }
    known = await repository.existing_rights(session, list(rows))
    new = [row for uuid, row in rows.items() if uuid not in known]
    await repository.insert_rights(session, new)
    return BulkResult(created=len(new), unchanged=len(rows) - len(new))


async def list_rights(session: AsyncSession, package_uuid: UUID, params: PageParams) -> Page[RightsRead]:
    await require_package(session, package_uuid)
    rows = await repository.rights_page(session, package_uuid, params.limit, params.offset)
    total = await repository.count_of(session, repository.rights_table, package_uuid)
    items = [RightsRead(uuid=r.uuid, path=r.path, statement=json.loads(r.statement)) for r in rows]
    return Page.of(items, total, params)


async def add_identifiers(
    session: AsyncSession, package_uuid: UUID, records: Sequence[IdentifiersRecord]
) -> BulkResult:
    await require_package(session, package_uuid)
    unique = {
        (record.path, identifier.type, identifier.value)
        for record in records for identifier in record.identifiers
    }
    before = await repository.count_of(session, repository.identifier_table, package_uuid)
    await repository.insert_identifiers(
        session, [{"package_uuid": package_uuid, "path": p, "type": t, "value": v} for p, t, v in sorted(unique)]
    )
    created = await repository.count_of(session, repository.identifier_table, package_uuid) - before
    return BulkResult(created=created, unchanged=len(unique) - created)


def directory_uuid(package_uuid: UUID, path: str) -> UUID:
    return derived_id(package_uuid, "directory", path)


async def add_directories(
    session: AsyncSession, package_uuid: UUID, paths: Sequence[str], *, empty: bool
) -> BulkResult:
    await require_package(session, package_uuid)
    unique = sorted(set(paths))
    known = await repository.existing_directories(session, package_uuid, unique)
    rows = [
        {"uuid": directory_uuid(package_uuid, path), "package_uuid": package_uuid, "path": path, "empty": empty}
        for path in unique if path not in known
    ]
    await repository.insert_directories(session, rows)
    return BulkResult(created=len(rows), unchanged=len(unique) - len(rows))


async def list_directories(session: AsyncSession, package_uuid: UUID, params: PageParams) -> Page[DirectoryRead]:
    await require_package(session, package_uuid)
    rows = await repository.directories_page(session, package_uuid, params.limit, params.offset)
    total = await repository.count_of(session, repository.directory_table, package_uuid)
    items = [DirectoryRead(uuid=r.uuid, path=r.path, empty=r.empty) for r in rows]
    return Page.of(items, total, params)


def custom_struct_maps(xml: str) -> list[etree._Element]:
    """The mets:structMap elements of an uploaded mets_structmap.xml (safely parsed), each checked."""
    root = safexml.parse_bytes(xml.encode(), STRUCTMAP_MAX_BYTES)
    tag = f"{{{METS_NS}}}structMap"
    found = [root] if root.tag == tag else list(root.iter(tag))
    if not found:
        raise Problem(422, "No structMap", "The document holds no mets:structMap element")
    return found


async def put_struct_map(
    session: AsyncSession, package_uuid: UUID, ordinal: int, body: StructMapUpload
) -> StructMapRead:
    """Attach (or replace) the custom structMap(s) at `ordinal`; sending the same document again changes nothing."""
    await require_package(session, package_uuid)
    maps = custom_struct_maps(body.xml)
    stored: list[str] = []
    for element in maps:
        if body.label and not element.get("LABEL"):
            element.set("LABEL", body.label)
        element.set("TYPE", element.get("TYPE") or "logical")
        stored.append(etree.tostring(element, encoding="unicode"))
    # Several structMaps in one document are kept as one entry: wrapped, and split again when written.
    xml = stored[0] if len(stored) == 1 else "".join(stored)
    digest = hashlib.sha256(xml.encode()).hexdigest()
    current = await repository.structmap(session, package_uuid, ordinal)
    values = {"package_uuid": package_uuid, "ordinal": ordinal, "label": body.label, "digest": digest, "xml": xml}
    if current is None:
        await repository.insert_structmap(session, values)
    elif current.digest != digest:
        await repository.replace_structmap(session, current.id, values)
    return StructMapRead(ordinal=ordinal, label=body.label, structmaps=len(maps))
