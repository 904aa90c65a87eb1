"""Recording PREMIS file objects (idempotently, in bulk, with their events) and listing them."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from clients.metadata.schemas import (
    AgentRecord,
    BulkResult,
    EventRecord,
    FileRead,
    FileRecord,
    FileRelationships,
)
from servicekit.pagination import Page, PageParams
from servicekit.problems import Conflict, NotFound
from services.metadata.events.service import invalid, record_events
from services.metadata.files import repository
from services.metadata.packages.service import require_package


async def add_files(session: AsyncSession, package_uuid: UUID, files: Sequence[FileRecord],
                    agents_of: Callable[[EventRecord], Sequence[AgentRecord]] | None = None) -> BulkResult:
    """Record the files a batch of work produced; a retried batch finds them all and writes nothing.
    `agents_of`: the agents of an event, when not its own (`FilesBulk.events_agents`)."""
    await require_package(session, package_uuid)
    uuids = [file.uuid for file in files]
    if len(set(uuids)) != len(uuids):
        raise invalid("The same file uuid appears more than once in the request")
    paths = [file.path for file in files]
    if len(set(paths)) != len(paths):
        raise invalid("The same path appears more than once in the request")

    known = await repository.existing(session, uuids)
    moved = [
        str(file.uuid)
        for file in files
        if (row := known.get(file.uuid)) is not None and (row.package_uuid != package_uuid or row.path != file.path)
    ]
    if moved:
        raise Conflict(f"Files already recorded with another package or path: {', '.join(moved[:10])}")
    new = [file for file in files if file.uuid not in known]
    taken = await repository.taken_paths(session, package_uuid, [file.path for file in new])
    if taken:
        raise Conflict(f"Paths already hold another file: {', '.join(sorted(taken)[:10])}")
    await repository.insert(
        session,
        [
            {
                **file.model_dump(exclude={"events", "relationships", "characteristics"}),
                "relationships": json.dumps([r.model_dump(mode="json") for r in file.relationships])
                if file.relationships else None,
                "package_uuid": package_uuid,
            }
            for file in new
        ],
        # Only with a new file: a recorded file's outputs are left as they were, like the file itself.
        [
            {**record.model_dump(), "file_uuid": file.uuid, "ordinal": ordinal}
            for file in new
            for ordinal, record in enumerate(file.characteristics)
        ],
    )
    await record_events(session, package_uuid, [(file.uuid, event) for file in files for event in file.events],
                        agents_of)
    return BulkResult(created=len(new), unchanged=len(known))


async def list_files(
    session: AsyncSession, package_uuid: UUID, params: PageParams, filters: Mapping[str, str | None] | None = None
) -> Page[FileRead]:
    await require_package(session, package_uuid)
    rows = await repository.page(session, package_uuid, params.limit, params.offset, filters)
    total = await repository.count(session, package_uuid, filters)
    items = [
        FileRead.model_validate(
            {**row.model_dump(), "relationships": json.loads(row.relationships) if row.relationships else []}
        )
        for row in rows
    ]
    return Page.of(items, total, params)


async def add_relationships(session: AsyncSession, package_uuid: UUID,
                            files: Sequence[FileRelationships]) -> BulkResult:
    """Add relationships to recorded files (the `is source of` of an original whose derivative came later).
    Idempotent: a relationship the file has already is not added again."""
    await require_package(session, package_uuid)
    stored = await repository.relationships_of(session, package_uuid, [f.file_uuid for f in files])
    missing = [str(f.file_uuid) for f in files if f.file_uuid not in stored]
    if missing:
        raise NotFound("File", ", ".join(missing[:10]))
    changed = 0
    for item in files:
        current = json.loads(stored[item.file_uuid] or "[]")
        added = [r.model_dump(mode="json") for r in item.relationships]
        merged = current + [r for r in added if r not in current]
        if len(merged) != len(current) or item.use is not None:
            changed += len(merged) != len(current)
            stored[item.file_uuid] = json.dumps(merged)
            await repository.set_relationships(session, item.file_uuid, json.dumps(merged), item.use)
    return BulkResult(created=changed, unchanged=len(files) - changed)
