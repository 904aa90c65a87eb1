"""Streaming a package's AIP METS (and its pointer file) out of the record, one chunk of files at a time."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Sequence
from uuid import UUID

from lxml import etree
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit.db import utcnow
from servicekit.problems import NotFound
from services.metadata.agents import repository as agents_repository
from services.metadata.agents.models import Agent
from services.metadata.db import AnyRow
from services.metadata.events import repository as events_repository
from services.metadata.files import repository as files_repository
from services.metadata.mets.writer import (
    METS_NS,
    MetsAgent,
    MetsCharacteristics,
    MetsEvent,
    MetsFile,
    MetsRights,
    MetsWriter,
    PathMetadata,
    StructMapBuilder,
    attr,
    loads_relationships,
    ordered_uses,
)
from services.metadata.packages import repository as packages_repository
from services.metadata.packages.models import Package
from services.metadata.packages.service import require_package
from services.metadata.record import repository as record_repository
from services.metadata.settings import MetadataSettings

CHUNK_FILES = 2000
"""Files read (with their events) per short database session while streaming."""
PART_CHARS = 512 * 1024
"""The document is sent on in parts of about this many characters."""
CHARACTERISTICS_CHARS = 8 * 1024 * 1024
"""Characterization output read at once while writing amdSecs (more only when one file alone has more): at up to
1 MiB per tool and file, a whole chunk of files' outputs could run to gigabytes."""
log = logging.getLogger(__name__)

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


class Parts:
    """Collects the writer's strings; `take` hands them on as bytes once there are enough."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.size = 0

    def __call__(self, text: str) -> None:
        self.pieces.append(text)
        self.size += len(text)

    def take(self, at_least: int = 0) -> bytes:
        if self.size < at_least or not self.pieces:
            return b""
        data = "".join(self.pieces).encode()
        self.pieces.clear()
        self.size = 0
        return data


class MetsStream:
    """One package's METS: opened (and checked) before the response starts, then iterated as bytes.

    Events about the package as the SIP was made (the transfer bag's fixity check, junk removed at intake, names
    changed in its logs) are in an amdSec of their own, on the `objects` div, as Archivematica's SIP-level amdSec
    is. Events about the stored AIP (its compression, storage's fixity checks, replication, deletion) are not: as
    in Archivematica, they happen to the AIP that contains this document and belong in its pointer file.

    Memory: a chunk of files at a time, plus the dmdSec ids of described paths (directories and paths with
    descriptive metadata), which the structMaps point at.
    """

    def __init__(
        self,
        sessions: Sessions,
        settings: MetadataSettings,
        package: Package,
        uses: list[str],
        agents: dict[int, MetsAgent],
        *,
        has_directories: bool,
        has_rights: bool,
        has_identifiers: bool,
        structmaps: list[int],
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.package = package
        self.uses = uses
        self.agents = agents
        self.has_directories = has_directories
        self.has_rights = has_rights
        self.has_identifiers = has_identifiers
        self.structmaps = structmaps
        self.dmd_of: dict[str, list[str]] = {}

    @property
    def filename(self) -> str:
        return f"METS.{self.package.uuid}.xml"

    async def chunks(self) -> AsyncIterator[bytes]:
        parts = Parts()
        writer = MetsWriter(
            parts, package_uuid=self.package.uuid, package_name=self.package.name,
            default_agents=default_agents(self.settings),
        )
        writer.open_document(utcnow())
        async for _ in self._dmd_secs(writer):
            if data := parts.take(PART_CHARS):
                yield data
        yield parts.take()
        # amdSecs and fileSec entries walk the files in the same order (use, then path),
        # so the n-th file entry's ADMID is amdSec_n without remembering anything per file.
        for use in self.uses:
            async for files, events, extra in self._files(use=use, with_events=True):
                async for file in self._characterized(files):
                    writer.file_amd_sec(file, events.get(str(file.uuid), ()), extra.get(file.path))
                    if data := parts.take(PART_CHARS):
                        yield data
        package_amd = None
        if package_events := await self._package_events():
            package_amd = writer.package_amd_sec(package_events)
            yield parts.take()
        if self.uses:
            writer.open_file_sec()
            for use in self.uses:
                writer.open_file_group(use)
                async for files, _, _ in self._files(use=use, with_events=False):
                    for file in files:
                        writer.file_entry(file)
                    yield parts.take()
                writer.close_file_group()
            writer.close_file_sec()
        builder = writer.open_struct_map("physical", "Archivematica default")
        if package_amd:
            builder.adm_of["objects"] = package_amd
        async for part in self._tree(builder, parts, normative=False):
            yield part
        writer.close_struct_map(builder)
        if self.has_directories:
            builder = writer.open_struct_map("logical", "Normative Directory Structure")
            async for part in self._tree(builder, parts, normative=True):
                yield part
            writer.close_struct_map(builder)
        for structmap_id in self.structmaps:
            async with self.sessions() as session:
                xml = await record_repository.structmap_xml(session, structmap_id)
            for custom in await self._custom_struct_maps(xml):
                writer.raw_struct_map(custom)
            yield parts.take()
        writer.close_document()
        yield parts.take()

    async def _package_events(self) -> list[MetsEvent]:
        """The events about the package that precede the AIP, oldest first (a package has few: they are read
        whole)."""
        async with self.sessions() as session:
            rows = await events_repository.rows_of_objects(session, [self.package.uuid])
            links = await events_repository.links_of_objects(session, [self.package.uuid])
        return [event for _, event in to_events(rows, links, self.agents) if not about_stored_aip(event)]

    async def _dmd_secs(self, writer: MetsWriter) -> AsyncIterator[None]:
        """The package entity, each recorded directory's entity, then DC and custom records in path order."""
        async with self.sessions() as session:
            ids = await record_repository.identifiers_of_paths(session, self.package.uuid, ["objects"]) \
                if self.has_identifiers else []
        writer.entity_dmd_sec(self.package.uuid, writer.package_label, [(r.type, r.value) for r in ids])
        after: str | None = None
        while self.has_directories:
            async with self.sessions() as session:
                rows = await record_repository.directories_after(session, self.package.uuid, after, CHUNK_FILES)
                identifiers = await self._identifiers(session, [row.path for row in rows])
            for row in rows:
                dmd_id = writer.entity_dmd_sec(row.uuid, f"%SIPDirectory%{row.path}/", identifiers.get(row.path, ()))
                self.dmd_of.setdefault(row.path, []).append(dmd_id)
            yield None
            if len(rows) < CHUNK_FILES:
                break
            after = rows[-1].path + "/"
        key: tuple[str, str] | None = None
        while True:
            async with self.sessions() as session:
                rows = await record_repository.descriptive_paths_after(session, self.package.uuid, key, CHUNK_FILES)
            for row in rows:
                elements = json.loads(row.elements)
                if row.kind == "dublin_core":
                    dmd_id = writer.dublin_core_dmd_sec(elements)
                else:
                    dmd_id = writer.custom_dmd_sec(elements)
                self.dmd_of.setdefault(row.path, []).append(dmd_id)
            yield None
            if len(rows) < CHUNK_FILES:
                break
            key = (rows[-1].path, rows[-1].kind)

    async def _identifiers(self, session: AsyncSession, paths: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        found: dict[str, list[tuple[str, str]]] = {}
        if self.has_identifiers and paths:
            for row in await record_repository.identifiers_of_paths(session, self.package.uuid, paths):
                found.setdefault(row.path, []).append((row.type, row.value))
        return found

    async def _tree(self, builder: StructMapBuilder, parts: Parts, *, normative: bool) -> AsyncIterator[bytes]:
        """Files and directories merged in byte order of `path` (files) and `path/` (directories).

        Both structMaps point at the files (Archivematica's rules require an fptr in every Item div); only the
        normative one lists empty directories. Files removed from the SIP are in neither: the AIP has no bytes of
        theirs to point at.
        """
        builder.dmd_for = self.dmd_of.get  # implicit directories get their dmdSecs too
        directories = self._directories() if self.has_directories else None
        pending = await anext(directories, None) if directories else None
        async for files, _, _ in self._files(use=None, with_events=False, in_aip=True):
            for file in files:
                while pending is not None and pending.path + "/" < file.path:
                    if normative or not pending.empty:
                        builder.directory(pending.path, self.dmd_of.get(pending.path, ()), empty=pending.empty)
                    pending = await anext(directories, None) if directories else None
                builder.item(file.path, f"file-{file.uuid}", self.dmd_of.get(file.path, ()))
            yield parts.take()
        while pending is not None:
            if normative or not pending.empty:
                builder.directory(pending.path, self.dmd_of.get(pending.path, ()), empty=pending.empty)
            pending = await anext(directories, None) if directories else None
        yield parts.take()

    async def _directories(self) -> AsyncIterator[AnyRow]:
        after: str | None = None
        while True:
            async with self.sessions() as session:
                rows = await record_repository.directories_after(session, self.package.uuid, after, CHUNK_FILES)
            for row in rows:
                yield row
            if len(rows) < CHUNK_FILES:
                return
            after = rows[-1].path + "/"

    async def _files(
        self, *, use: str | None, with_events: bool, in_aip: bool = False
    ) -> AsyncIterator[tuple[list[MetsFile], dict[str, list[MetsEvent]], dict[str, PathMetadata]]]:
        """Keyset pages of the package's files in byte order of path, each read in its own short session."""
        after: str | None = None
        while True:
            async with self.sessions() as session:
                rows = await files_repository.rows_after(
                    session, self.package.uuid, after_path=after, limit=CHUNK_FILES, use=use, in_aip=in_aip
                )
                if not rows:
                    return
                events: dict[str, list[MetsEvent]] = {}
                extra: dict[str, PathMetadata] = {}
                if with_events:
                    event_rows = await events_repository.stream_rows_of_page(
                        session, self.package.uuid, use, after, CHUNK_FILES
                    )
                    events = events_by_object(event_rows, self.agents)
                    extra = await self._path_metadata(session, [row.path for row in rows])
            yield [to_file(row) for row in rows], events, extra
            if len(rows) < CHUNK_FILES:
                return
            after = rows[-1].path

    async def _characterized(self, files: Sequence[MetsFile]) -> AsyncIterator[MetsFile]:
        """The files, each with its characterization outputs, read in batches of about CHARACTERISTICS_CHARS."""
        async with self.sessions() as session:
            sizes = await files_repository.characteristics_sizes(session, [UUID(str(f.uuid)) for f in files])
        start = 0
        while start < len(files):
            end, chars = start, 0
            while end < len(files) and (end == start or chars + sizes.get(str(files[end].uuid), 0)
                                        <= CHARACTERISTICS_CHARS):
                chars += sizes.get(str(files[end].uuid), 0)
                end += 1
            batch = files[start:end]
            found: dict[str, list[MetsCharacteristics]] = {}
            if wanted := [UUID(str(f.uuid)) for f in batch if str(f.uuid) in sizes]:
                async with self.sessions() as session:
                    for row in await files_repository.characteristics_of(session, wanted):
                        found.setdefault(str(row.file_uuid), []).append(
                            MetsCharacteristics(row.tool, row.version, row.xml, row.truncated)
                        )
            for file in batch:
                records = found.get(str(file.uuid))
                yield dataclasses.replace(file, characteristics=tuple(records)) if records else file
            start = end

    async def _path_metadata(self, session: AsyncSession, paths: Sequence[str]) -> dict[str, PathMetadata]:
        """Identifiers of these files, and the rights statements about them or any directory above them."""
        if not (self.has_rights or self.has_identifiers):
            return {}
        extra = {path: PathMetadata() for path in paths}
        for path, identifiers in (await self._identifiers(session, paths)).items():
            extra[path].identifiers = identifiers
        if self.has_rights:
            ancestors = {"/".join(p.split("/")[:i]) for p in paths for i in range(1, p.count("/") + 1)}
            by_path: dict[str, list[MetsRights]] = {}
            rows = await record_repository.rights_of_paths(session, self.package.uuid, sorted(ancestors | set(paths)))
            for row in rows:
                by_path.setdefault(row.path, []).append(MetsRights(row.uuid, json.loads(row.statement)))
            for path in paths:
                prefixes = ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)] + [path]
                extra[path].rights = [r for prefix in prefixes for r in by_path.get(prefix, ())]
        return extra

    async def _custom_struct_maps(self, xml: str) -> list[str]:
        """Stored custom structMaps with their ids made unique and their fptr FILEIDs (paths) made file ids.

        Checked when attached (services.metadata.record.service), so parsed here without further ado.
        """
        wrapper = etree.fromstring(f"<stored>{xml}</stored>".encode(),
                                   etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
        return [await self._custom_struct_map(root) for root in wrapper]

    async def _custom_struct_map(self, root: etree._Element) -> str:
        paths: set[str] = set()
        for fptr in root.iter(f"{{{METS_NS}}}fptr"):
            if fileid := fptr.get("FILEID"):
                paths.add(fileid if fileid.startswith("objects/") else f"objects/{fileid}")
        async with self.sessions() as session:
            # A file removed from the SIP has no FLocat for an fptr to lead to: left out like an unknown one.
            known = await files_repository.uuids_of_paths(session, self.package.uuid, sorted(paths), in_aip=True)
        for fptr in list(root.iter(f"{{{METS_NS}}}fptr")):
            fileid = fptr.get("FILEID") or ""
            file_uuid = known.get(fileid if fileid.startswith("objects/") else f"objects/{fileid}")
            if file_uuid is None:
                log.warning("custom structMap of %s names a file not in the AIP, %r; left out",
                            self.package.uuid, fileid)
                parent = fptr.getparent()
                if parent is not None:
                    parent.remove(fptr)
            else:
                fptr.set("FILEID", f"file-{file_uuid}")
        root.set("ID", "__STRUCTMAP_ID__")
        for div in root.iter(f"{{{METS_NS}}}div"):
            div.attrib.pop("ID", None)  # custom ids could clash with ours
        return etree.tostring(root, encoding="unicode")


def to_file(row: AnyRow) -> MetsFile:
    return MetsFile(
        uuid=uuid_text(row.uuid),
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
        creating_application=row.creating_application,
        creating_application_version=row.creating_application_version,
        relationships=loads_relationships(row.relationships),
    )


STORAGE_PROGRAM = 'program="Amber storage"'


def about_stored_aip(event: MetsEvent) -> bool:
    """An event that happened to the compressed or stored AIP (pointer file), not to the SIP (AIP METS)."""
    return event.type == "compression" or event.detail.startswith(STORAGE_PROGRAM)


def to_events(
    event_rows: Sequence[AnyRow], links: Sequence[AnyRow], agents: dict[int, MetsAgent]
) -> list[tuple[UUID | None, MetsEvent]]:
    """(object_uuid, event) pairs with each event's agents resolved."""
    agent_ids: dict[UUID, list[int]] = {}
    for link in links:
        agent_ids.setdefault(link.event_uuid, []).append(link.agent_id)
    resolved: dict[tuple[int, ...], tuple[MetsAgent, ...]] = {}
    out = []
    for row in event_rows:
        ids = tuple(agent_ids.get(row.uuid, ()))
        linked = resolved.get(ids)
        if linked is None:
            linked = resolved[ids] = tuple(agents[i] for i in ids if i in agents)
        out.append((
            row.object_uuid,
            MetsEvent(uuid=row.uuid, type=row.type, datetime=row.datetime, detail=row.detail, outcome=row.outcome,
                      outcome_note=row.outcome_note, agents=linked),
        ))
    return out


def uuid_text(value: object) -> str:
    """A uuid read as text (hex on SQLite, asyncpg's UUID on PostgreSQL) in its canonical dashed form."""
    text = value if isinstance(value, str) else str(value)
    if len(text) == 32:
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return text


def events_by_object(event_rows: Sequence[AnyRow], agents: dict[int, MetsAgent]) -> dict[str, list[MetsEvent]]:
    """Events (read with text uuids and aggregated agent ids) grouped by the dashed uuid of their object."""
    resolved: dict[str | None, tuple[MetsAgent, ...]] = {}
    events: dict[str, list[MetsEvent]] = {}
    for row in event_rows:
        linked = resolved.get(row.agent_ids)
        if linked is None:
            ids = sorted(int(i) for i in row.agent_ids.split(",")) if row.agent_ids else []
            linked = resolved[row.agent_ids] = tuple(agents[i] for i in ids if i in agents)
        events.setdefault(uuid_text(row.object_uuid), []).append(
            MetsEvent(uuid=uuid_text(row.uuid), type=row.type, datetime=row.datetime, detail=row.detail,
                      outcome=row.outcome, outcome_note=row.outcome_note, agents=linked)
        )
    return events


def to_agent(agent: Agent) -> MetsAgent:
    return MetsAgent(agent.identifier_type, agent.identifier_value, agent.name, agent.agent_type)


async def open_mets(sessions: Sessions, settings: MetadataSettings, package_uuid: UUID) -> MetsStream:
    """Everything small the document needs up front; raises NotFound before any byte is sent."""
    async with sessions() as session:
        package = await require_package(session, package_uuid)
        uses = ordered_uses(await files_repository.uses(session, package_uuid))
        linked = await agents_repository.of_package(session, package_uuid)
        agents = {agent_id: to_agent(agent) for agent_id, agent in linked.items()}
        flags = {
            "has_directories": await record_repository.has_any(session, record_repository.directory_table,
                                                               package_uuid),
            "has_rights": await record_repository.has_any(session, record_repository.rights_table, package_uuid),
            "has_identifiers": await record_repository.has_any(session, record_repository.identifier_table,
                                                               package_uuid),
        }
        structmaps = await record_repository.structmap_ids(session, package_uuid)
    return MetsStream(sessions, settings, package, uses, agents, structmaps=structmaps, **flags)


# -- pointer file ---------------------------------------------------------------------------------------------

COMPRESSION = {
    # compression: (format name, PUID, [(transform algorithm, order)], archive extension)
    "7z-bzip2": ("7Zip format", "fmt/484", [("bzip2", 1)], ".7z"),
    "7z-lzma": ("7Zip format", "fmt/484", [("lzma", 1)], ".7z"),
    "7z-copy": ("7Zip format", "fmt/484", [("copy", 1)], ".7z"),
    "tar-gzip": ("GZIP Format", "x-fmt/266", [("gzip", 1), ("tar", 2)], ".tar.gz"),
    "tar-bzip2": ("BZIP2 Compressed Archive", "x-fmt/268", [("bzip2", 1), ("tar", 2)], ".tar.bz2"),
}


async def pointer_file(sessions: Sessions, settings: MetadataSettings, package_uuid: UUID) -> str:
    """The pointer file of a compressed AIP (Archivematica's layout, §4): small, so built whole."""
    async with sessions() as session:
        package = await require_package(session, package_uuid)
        aip = await packages_repository.aip(session, package_uuid)
        if aip is None:
            raise NotFound("Stored AIP package of", package_uuid)
        if aip.compression not in COMPRESSION:
            raise NotFound("Pointer file (the AIP is not compressed) of", package_uuid)
        linked = await agents_repository.of_package(session, package_uuid)
        agents = {agent_id: to_agent(agent) for agent_id, agent in linked.items()}
        event_rows = await events_repository.rows_of_objects(session, [package_uuid])
        links = await events_repository.links_of_objects(session, [package_uuid])
    format_name, puid, transforms, extension = COMPRESSION[aip.compression]
    parts = Parts()
    writer = MetsWriter(parts, package_uuid=package_uuid, package_name=package.name,
                        default_agents=default_agents(settings))
    writer.open_document(utcnow())
    aip_name = f"{package.name}-{package_uuid}{extension}"
    aip_file = MetsFile(
        uuid=package_uuid, path=aip.path or aip_name, original_name=aip_name, size=aip.size,
        checksum_type=aip.checksum_type, checksum=aip.checksum, format_name=format_name, format_version=None,
        puid=puid, format_basis=None, modified_at=aip.created_at, use="Archival Information Package",
        creating_application=aip.program, creating_application_version=aip.program_version or None,
        composition_level=1,
    )
    events = [event for _, event in to_events(event_rows, links, agents) if about_stored_aip(event)]
    writer.file_amd_sec(aip_file, events)
    transform = "".join(
        f'<mets:transformFile TRANSFORMORDER="{order}" TRANSFORMTYPE="decompression" '
        f'TRANSFORMALGORITHM="{algorithm}"/>'
        for algorithm, order in transforms
    )
    parts(
        '<mets:fileSec><mets:fileGrp USE="Archival Information Package">'
        f'<mets:file ID="file-{package_uuid}" ADMID="amdSec_1"><mets:FLocat xlink:href="{attr(aip_file.path)}" '
        f'LOCTYPE="OTHER" OTHERLOCTYPE="SYSTEM"/>{transform}</mets:file></mets:fileGrp></mets:fileSec>\n'
        '<mets:structMap TYPE="physical"><mets:div TYPE="Archival Information Package">'
        f'<mets:fptr FILEID="file-{package_uuid}"/></mets:div></mets:structMap>\n'
    )
    writer.close_document()
    return parts.take().decode()
