"""Search: indexing packages in the background, in bulk, and querying the index.

Indexing is asked for (POST /search/packages/{uuid}/index, or by recording the stored AIP) and done by one
background task per service process, which reads queued packages from the database: a request that asked only
waits for its row to be written, and a failed index is recorded on the package's state, never raised to the
caller (an ingest must not fail because search did).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clients.metadata.schemas import IndexStatus, SearchHit
from servicekit.background import stop_tasks, wait_event
from servicekit.db import unit_of_work, utcnow
from servicekit.pagination import Page, PageParams
from services.metadata.events import repository as events_repository
from services.metadata.files import repository as files_repository
from services.metadata.packages import repository as packages_repository
from services.metadata.packages.service import require_package
from services.metadata.record import repository as record_repository
from services.metadata.search import repository

log = logging.getLogger(__name__)
_WORDS = re.compile(r"[\W_]+", re.UNICODE)
Sessions = async_sessionmaker[AsyncSession]
REMOVED = "removed"


def words(value: str | None) -> str:
    """Text as the index sees it: words only, so paths, PUIDs and names split the same on both databases."""
    return _WORDS.sub(" ", value or "").strip().lower()


def query_terms(q: str | None) -> list[str]:
    return words(q).split()


def _entry(kind: str, package_uuid: UUID, *, file_uuid: UUID | None, name: str, path: str | None,
           puid: str | None, format_name: str | None, size: int | None, date: dt.datetime | None,
           dc: str, events: str) -> dict[str, Any]:
    entry = {
        "kind": kind, "package_uuid": package_uuid, "file_uuid": file_uuid, "name": name, "path": path,
        "puid": puid, "format_name": format_name, "size": size, "date": date,
        "text_name": words(name), "text_path": words(path), "text_puid": words(puid),
        "text_format": words(format_name), "text_dc": words(dc), "text_events": words(events),
    }
    entry["text_rest"] = " ".join(str(entry[k]) for k in ("text_path", "text_puid", "text_format", "text_dc",
                                                     "text_events"))
    return entry


def _dc_text(rows: Any) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    for row in rows:
        elements = json.loads(row.elements)
        found.setdefault(row.path, []).extend(v for values in elements.values() for v in values)
    return {path: " ".join(values) for path, values in found.items()}


async def index_package(session: AsyncSession, package_uuid: UUID, batch: int) -> int | None:
    """Replace the package's entries: the package itself (name, DC, its events), then every file in batches.

    None when the package left the index (its AIP was deleted) after it was queued: it is not put back.
    """
    package = await require_package(session, package_uuid)
    await repository.lock_package(session, package_uuid)  # concurrent indexers of one package take turns
    current = await repository.state(session, package_uuid)
    if current is not None and current.state == REMOVED:
        return None
    aip = await packages_repository.aip(session, package_uuid)
    await repository.delete_package(session, package_uuid)
    dc = _dc_text(await record_repository.descriptive_of_paths(session, package_uuid, ["objects"]))
    package_events = await events_repository.rows_of_objects(session, [package_uuid])
    await repository.insert_entries(session, [_entry(
        "package", package_uuid, file_uuid=None, name=package.name, path=None, puid=None, format_name=None,
        size=aip.size if aip else None, date=aip.created_at if aip else package.created_at,
        dc=dc.get("objects", ""), events=" ".join(sorted({e.type for e in package_events})),
    )])
    count = 0
    after: str | None = None
    while True:
        # A hit promises a file the AIP holds: files removed from the SIP are left out.
        rows = await files_repository.rows_after(session, package_uuid, after_path=after, limit=batch, in_aip=True)
        if not rows:
            break
        uuids = [UUID(str(row.uuid)) for row in rows]  # read as text by rows_after
        event_types = await events_repository.types_of_objects(session, uuids)
        file_dc = _dc_text(await record_repository.descriptive_of_paths(session, package_uuid,
                                                                         [row.path for row in rows]))
        await repository.insert_entries(session, [
            _entry("file", package_uuid, file_uuid=file_uuid, name=row.path.rsplit("/", 1)[-1], path=row.path,
                   puid=row.puid, format_name=row.format_name, size=row.size, date=row.modified_at,
                   dc=file_dc.get(row.path, ""), events=" ".join(sorted(event_types.get(str(row.uuid), ()))))
            for file_uuid, row in zip(uuids, rows, strict=True)
        ])
        count += len(rows)
        if len(rows) < batch:
            break
        after = rows[-1].path
    return count


def status_of(package_uuid: UUID, state: Any) -> IndexStatus:
    if state is None:
        return IndexStatus(package_uuid=package_uuid, state="queued")
    return IndexStatus(package_uuid=package_uuid, state=state.state, indexed_at=state.indexed_at, error=state.error)


async def request_index(session: AsyncSession, package_uuid: UUID) -> IndexStatus:
    await require_package(session, package_uuid)
    state = await repository.save_state(session, package_uuid, state="queued", requested_at=utcnow(), error=None)
    return status_of(package_uuid, state)


async def remove_from_index(session: AsyncSession, package_uuid: UUID) -> IndexStatus:
    """The package's entries leave the index, and a queued or running indexing of it will not put them back."""
    await require_package(session, package_uuid)
    await repository.lock_package(session, package_uuid)
    await repository.delete_package(session, package_uuid)
    state = await repository.save_state(session, package_uuid, state=REMOVED, requested_at=utcnow(),
                                        indexed_at=None, error=None)
    return status_of(package_uuid, state)


async def read_status(session: AsyncSession, package_uuid: UUID) -> IndexStatus:
    await require_package(session, package_uuid)
    state = await repository.state(session, package_uuid)
    if state is None:
        from servicekit.problems import NotFound

        raise NotFound("Search index request for package", package_uuid)
    return status_of(package_uuid, state)


async def search(
    session: AsyncSession, *, q: str | None, filters: dict[str, Any], sort: str, descending: bool, page: PageParams,
) -> Page[SearchHit]:
    terms = query_terms(q)
    if sort == "relevance" and not terms:
        sort = "path"
    rows, total = await repository.search(
        session, terms=terms, filters=filters, sort=sort, descending=descending, limit=page.limit,
        offset=page.offset,
    )
    items = [
        SearchHit(kind=r.kind, package_uuid=r.package_uuid, package_name=r.package_name, file_uuid=r.file_uuid,
                  path=r.path, name=r.name, puid=r.puid, format_name=r.format_name, size=r.size, date=r.date)
        for r in rows
    ]
    return Page.of(items, total, page)


class Indexer:
    """The service's background indexing task: woken by requests, and every `interval` seconds regardless."""

    def __init__(self, sessions: Sessions, batch: int, interval: float = 30.0) -> None:
        self.sessions = sessions
        self.batch = batch
        self.interval = interval
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="search-indexer")

    async def stop(self) -> None:
        if self.task is not None:
            await stop_tasks([self.task])

    async def _run(self) -> None:
        while True:
            await wait_event(self.wake, self.interval)
            self.wake.clear()
            try:
                await self.drain()
            except Exception:  # a broken database must not end the task; the next wake retries
                log.exception("search indexing failed")

    async def drain(self) -> None:
        while True:
            async with unit_of_work(self.sessions) as session:
                pending = await repository.queued(session)
            if not pending:
                return
            for package_uuid in pending:
                await self.index(package_uuid)

    async def index(self, package_uuid: UUID) -> None:
        try:
            async with unit_of_work(self.sessions) as session:
                count = await index_package(session, package_uuid, self.batch)
                if count is None:
                    log.info("package %s left the index before it was indexed", package_uuid)
                    return
                await repository.save_state(session, package_uuid, state="indexed", indexed_at=utcnow(), error=None)
            log.info("indexed package %s (%d files)", package_uuid, count)
        except Exception as exc:
            log.exception("indexing package %s failed", package_uuid)
            async with unit_of_work(self.sessions) as session:
                await repository.save_state(session, package_uuid, state="failed", error=f"{type(exc).__name__}: {exc}")
