"""Streaming a package's AIP METS out of the PREMIS records, one chunk of files at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from uuid import UUID

from lxml import etree
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit.db import utcnow
from services.metadata.agents import repository as agents_repository
from services.metadata.agents.models import Agent
from services.metadata.db import AnyRow
from services.metadata.events import repository as events_repository
from services.metadata.files import repository as files_repository
from services.metadata.mets.writer import ChunkSink, MetsAgent, MetsEvent, MetsFile, MetsWriter, ordered_uses
from services.metadata.packages.models import Package
from services.metadata.packages.service import require_package
from services.metadata.settings import MetadataSettings

CHUNK_FILES = 1000
"""Files read (with their events) per short database session while streaming."""
PART_BYTES = 256 * 1024
"""amdSecs are sent on in parts of about this size (a thousand of them make some 9 MB)."""

Sessions = async_sessionmaker[AsyncSession]


def default_agents(settings: MetadataSettings) -> list[MetsAgent]:
    return [
        MetsAgent(
            "preservation system",
            f"{settings.software_name}-{settings.software_version}",
            settings.software_name,
            "software",
        ),
        MetsAgent("repository code", settings.organization_code, settings.organization_name, "organization"),
    ]


class MetsStream:
    """One package's METS: opened (and checked) before the response starts, then iterated as bytes.

    Events about the package itself (compression, the AIP's fixity check) are not in it: as in Archivematica,
    they happen to the AIP that contains this document and belong in its pointer file. Archivematica's METS
    rules (its schematron) also require every amdSec to describe a file.
    """

    def __init__(
        self,
        sessions: Sessions,
        settings: MetadataSettings,
        package: Package,
        uses: list[str],
        agents: dict[int, MetsAgent],
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.package = package
        self.uses = uses
        self.agents = agents

    @property
    def filename(self) -> str:
        return f"METS.{self.package.uuid}.xml"

    async def chunks(self) -> AsyncIterator[bytes]:
        sink = ChunkSink()
        with etree.xmlfile(sink, encoding="utf-8", buffered=True) as xf:
            writer = MetsWriter(
                xf,
                package_uuid=self.package.uuid,
                package_name=self.package.name,
                default_agents=default_agents(self.settings),
            )

            def written(at_least: int = 0) -> bytes:
                writer.flush()
                return sink.drain() if sink.size >= at_least else b""

            with writer.document(utcnow()):
                yield written()
                # amdSecs and fileSec entries walk the files in the same order (use, then path),
                # so the n-th file entry's ADMID is amdSec_n without remembering anything per file.
                for use in self.uses:
                    async for files, events in self._files(use=use, with_events=True):
                        for file in files:
                            writer.file_amd_sec(file, events.get(file.uuid, ()))
                            if part := written(PART_BYTES):
                                yield part
                if self.uses:
                    with writer.file_sec():
                        for use in self.uses:
                            with writer.file_group(use):
                                async for files, _ in self._files(use=use, with_events=False):
                                    for file in files:
                                        writer.file_entry(file)
                                    yield written()
                with writer.physical_struct_map():
                    async for files, _ in self._files(use=None, with_events=False):
                        for file in files:
                            writer.struct_item(file)
                        yield written()
        yield sink.drain()

    async def _files(
        self, *, use: str | None, with_events: bool
    ) -> AsyncIterator[tuple[list[MetsFile], dict[UUID, list[MetsEvent]]]]:
        """Keyset pages of the package's files in byte order of path, each read in its own short session."""
        after: str | None = None
        while True:
            async with self.sessions() as session:
                rows = await files_repository.rows_after(
                    session, self.package.uuid, after_path=after, limit=CHUNK_FILES, use=use
                )
                if not rows:
                    return
                events: dict[UUID, list[MetsEvent]] = {}
                if with_events:
                    events = await self._events_of(session, [row.uuid for row in rows])
            yield [to_file(row) for row in rows], events
            if len(rows) < CHUNK_FILES:
                return
            after = rows[-1].path

    async def _events_of(self, session: AsyncSession, object_uuids: Sequence[UUID]) -> dict[UUID, list[MetsEvent]]:
        event_rows = await events_repository.rows_of_objects(session, object_uuids)
        links = await events_repository.links_of_objects(session, object_uuids)
        events: dict[UUID, list[MetsEvent]] = {}
        for object_uuid, event in to_events(event_rows, links, self.agents):
            if object_uuid is not None:
                events.setdefault(object_uuid, []).append(event)
        return events


def to_file(row: AnyRow) -> MetsFile:
    return MetsFile(
        uuid=row.uuid,
        path=row.path,
        original_name=row.original_name,
        size=row.size,
        checksum_type=row.checksum_type,
        checksum=row.checksum,
        format_name=row.format_name,
        format_version=row.format_version,
        puid=row.puid,
        format_basis=row.format_basis,
        modified_at=row.modified_at,
        use=row.use,
    )


def to_events(
    event_rows: Sequence[AnyRow], links: Sequence[AnyRow], agents: dict[int, MetsAgent]
) -> list[tuple[UUID | None, MetsEvent]]:
    """(object_uuid, event) pairs with each event's agents resolved."""
    agent_ids: dict[UUID, list[int]] = {}
    for link in links:
        agent_ids.setdefault(link.event_uuid, []).append(link.agent_id)
    return [
        (
            row.object_uuid,
            MetsEvent(
                uuid=row.uuid,
                type=row.type,
                datetime=row.datetime,
                detail=row.detail,
                outcome=row.outcome,
                outcome_note=row.outcome_note,
                agents=tuple(agents[i] for i in agent_ids.get(row.uuid, ()) if i in agents),
            ),
        )
        for row in event_rows
    ]


def to_agent(agent: Agent) -> MetsAgent:
    return MetsAgent(agent.identifier_type, agent.identifier_value, agent.name, agent.agent_type)


async def open_mets(sessions: Sessions, settings: MetadataSettings, package_uuid: UUID) -> MetsStream:
    """Everything small the document needs up front; raises NotFound before any byte is sent."""
    async with sessions() as session:
        package = await require_package(session, package_uuid)
        uses = ordered_uses(await files_repository.uses(session, package_uuid))
        linked = await agents_repository.of_package(session, package_uuid)
        agents = {agent_id: to_agent(agent) for agent_id, agent in linked.items()}
    return MetsStream(sessions, settings, package, uses, agents)
