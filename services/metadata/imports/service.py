"""Reading PREMIS (2.2 and 3.0) out of user-supplied documents, element by element, into the record.

Both readers use iterparse and clear every element once read, so a document of 100,000 files costs the memory
of one file's metadata plus a map from ids to paths. Elements are matched by local name, so PREMIS 2.2
(`info:lc/xmlns/premis-v2`, Archivematica before 1.10) and 3.0 read alike; where 2.2 differs (eventDetail
directly under event) both shapes are accepted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clients.metadata.schemas import (
    DELETED_USE,
    AgentRecord,
    EventRecord,
    FileRecord,
    ImportResult,
    RightsRecord,
    RightsStatementRecord,
)
from servicekit.db import unit_of_work
from servicekit.ids import derived_id
from servicekit.problems import Problem
from services.metadata.events.service import record_events
from services.metadata.files import repository as files_repository
from services.metadata.files.service import add_files
from services.metadata.mets import safexml
from services.metadata.packages.service import require_package
from services.metadata.record.service import add_rights

METS = "{http://www.loc.gov/METS/}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
PREMIS_VERSIONS = {"http://www.loc.gov/premis/v3": "3.0", "info:lc/xmlns/premis-v2": "2.2"}
BATCH = 1000
Sessions = async_sessionmaker[AsyncSession]


def local(element: Any) -> str:
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def child(element: Any, *names: str) -> Any:
    """The first descendant along `names` (by local name), or None."""
    for name in names:
        if element is None:
            return None
        element = next((c for c in element if local(c) == name), None)
    return element


def children(element: Any, name: str) -> Iterator[Any]:
    return (c for c in element if local(c) == name)


def text(element: Any, *names: str) -> str:
    found = child(element, *names)
    return (found.text or "").strip() if found is not None else ""


def as_uuid(value: str, *scope: object) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        return derived_id(*scope, value)


def parse_datetime(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def event_record(element: Any, agents: dict[tuple[str, str], AgentRecord], package_uuid: UUID) -> EventRecord:
    detail = text(element, "eventDetailInformation", "eventDetail") or text(element, "eventDetail")
    outcome = child(element, "eventOutcomeInformation")
    linked = []
    for link in children(element, "linkingAgentIdentifier"):
        key = (text(link, "linkingAgentIdentifierType"), text(link, "linkingAgentIdentifierValue"))
        if key[0] and key[1]:
            linked.append(agents.get(key) or AgentRecord(identifier_type=key[0], identifier_value=key[1],
                                                         name=key[1], agent_type="unknown"))
    return EventRecord(
        uuid=as_uuid(text(element, "eventIdentifier", "eventIdentifierValue"), package_uuid, "event"),
        type=text(element, "eventType")[:100] or "unknown",
        datetime=parse_datetime(text(element, "eventDateTime")),
        detail=detail[:8000],
        outcome=text(outcome, "eventOutcome")[:255] if outcome is not None else "",
        outcome_note=text(outcome, "eventOutcomeDetail", "eventOutcomeDetailNote")[:8000]
        if outcome is not None else "",
        agents=linked,
    )


def agent_record(element: Any) -> AgentRecord | None:
    kind, value = text(element, "agentIdentifier", "agentIdentifierType"), text(element, "agentIdentifier",
                                                                                 "agentIdentifierValue")
    if not kind or not value:
        return None
    return AgentRecord(identifier_type=kind[:255], identifier_value=value[:255], name=text(element, "agentName")[:1024],
                       agent_type=text(element, "agentType")[:255])


def _dates(element: Any) -> tuple[str | None, str | None]:
    if element is None:
        return None, None
    return text(element, "startDate") or None, text(element, "endDate") or None


def rights_statement(element: Any) -> RightsStatementRecord:
    """Our rights shape from a PREMIS rightsStatement (2.2 and 3.0 use the same element names here)."""
    basis = text(element, "rightsBasis") or "Other"
    info = next((c for c in element if local(c) in ("copyrightInformation", "licenseInformation",
                                                      "statuteInformation", "otherRightsInformation")), None)
    values: dict[str, Any] = {"basis": basis if basis.lower() in ("copyright", "license", "statute", "donor", "policy")
                              else "Other"}
    if info is not None:
        name = local(info)
        start, end = _dates(next((c for c in info if local(c).endswith("ApplicableDates")), None))
        values.update(start_date=start, end_date=end)
        if name == "copyrightInformation":
            values.update(status=text(info, "copyrightStatus"), jurisdiction=text(info, "copyrightJurisdiction"),
                          determination_date=text(info, "copyrightStatusDeterminationDate") or None,
                          note=text(info, "copyrightNote"))
        elif name == "licenseInformation":
            values.update(license_terms=text(info, "licenseTerms"), note=text(info, "licenseNote"))
        elif name == "statuteInformation":
            values.update(jurisdiction=text(info, "statuteJurisdiction"),
                          statute_citation=text(info, "statuteCitation"),
                          determination_date=text(info, "statuteInformationDeterminationDate") or None,
                          note=text(info, "statuteNote"))
        else:
            values.update(other_basis=text(info, "otherRightsBasis"), note=text(info, "otherRightsNote"))
    granted = []
    for grant in children(element, "rightsGranted"):
        start, end = _dates(child(grant, "termOfGrant"))
        granted.append({"act": text(grant, "act") or "unknown",
                        "restrictions": [r.text.strip() for r in children(grant, "restriction") if r.text],
                        "start_date": start, "end_date": end, "note": text(grant, "rightsGrantedNote")})
    values["granted"] = granted
    return RightsStatementRecord.model_validate(values)


def linked_objects(element: Any) -> list[str]:
    return [text(link, "linkingObjectIdentifierValue") for link in children(element, "linkingObjectIdentifier")]


def _premis_version(tag: str) -> str:
    namespace = tag[1:].split("}")[0] if tag.startswith("{") else ""
    return PREMIS_VERSIONS.get(namespace, "")


def _object_path(element: Any) -> str:
    """The package path of a PREMIS object: its originalName without Archivematica's location prefixes."""
    name = text(element, "originalName")
    for prefix in ("%transferDirectory%", "%SIPDirectory%"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name.lstrip("/")


async def import_transfer_premis(sessions: Sessions, package_uuid: UUID, path: Path, max_bytes: int) -> ImportResult:
    """A transfer's metadata/premis.xml: events and rights of its objects, matched to the package's files by
    original name (or to the package for objects named `objects`)."""
    async with unit_of_work(sessions) as session:
        await require_package(session, package_uuid)
    result = ImportResult()
    # First pass: agents (after the events in the document) and each object's identifier -> path.
    agents: dict[tuple[str, str], AgentRecord] = {}
    object_paths: dict[str, str] = {}
    for _, element in safexml.iterparse(path, max_bytes):
        name = local(element)
        if name == "premis" and not result.premis_version:
            result.premis_version = _premis_version(element.tag)
        if name == "agent":
            if agent := agent_record(element):
                agents[(agent.identifier_type, agent.identifier_value)] = agent
            element.clear(keep_tail=False)
        elif name == "object":
            for identifier in children(element, "objectIdentifier"):
                object_paths[text(identifier, "objectIdentifierValue")] = _object_path(element)
            element.clear(keep_tail=False)
        elif name in ("event", "rightsStatement"):
            element.clear(keep_tail=False)
    if not result.premis_version:
        raise Problem(422, "Not PREMIS", "The document's root is not a PREMIS 2.2 or 3.0 premis element")
    events: list[tuple[str, EventRecord]] = []
    rights: list[tuple[list[str], RightsStatementRecord]] = []
    for _, element in safexml.iterparse(path, max_bytes):
        name = local(element)
        if name == "event":
            links = linked_objects(element)
            record = event_record(element, agents, package_uuid)
            events.extend((object_paths.get(link, ""), record) for link in links or [""])
            element.clear(keep_tail=False)
        elif name == "rightsStatement":
            links = linked_objects(element)
            try:
                statement = rights_statement(element)
            except ValidationError:
                ident = text(element, "rightsStatementIdentifier", "rightsStatementIdentifierValue")
                result.unmatched.append(f"rights statement {ident}")
            else:
                rights.append(([object_paths.get(link, "") for link in links] or ["objects"], statement))
            element.clear(keep_tail=False)
        elif name == "object":
            element.clear(keep_tail=False)
        if len(events) >= BATCH:
            await _record_events(sessions, package_uuid, events, result)
            events = []
    await _record_events(sessions, package_uuid, events, result)
    records = [RightsRecord(path=p or "objects", statement=s) for paths, s in rights for p in paths]
    for start in range(0, len(records), BATCH):
        async with unit_of_work(sessions) as session:
            await add_rights(session, package_uuid, records[start:start + BATCH])
    result.rights = len(records)
    return result


async def _record_events(sessions: Sessions, package_uuid: UUID, events: list[tuple[str, EventRecord]],
                         result: ImportResult) -> None:
    if not events:
        return
    async with unit_of_work(sessions) as session:
        known = await files_repository.uuids_of_paths(session, package_uuid, sorted({p for p, _ in events if p}))
        pairs: dict[UUID, tuple[UUID, EventRecord]] = {}
        for object_path, event in events:
            if object_path in ("", "objects"):
                object_uuid = package_uuid
            elif object_path in known:
                object_uuid = known[object_path]
            else:
                if len(result.unmatched) < 100:
                    result.unmatched.append(object_path)
                continue
            pairs.setdefault(event.uuid, (object_uuid, event))
        await record_events(session, package_uuid, list(pairs.values()))
    result.events += len(pairs)


async def import_aip_mets(sessions: Sessions, package_uuid: UUID, path: Path, max_bytes: int) -> ImportResult:
    """An AIP METS (Archivematica's): every file of the fileSec with its PREMIS object and events."""
    async with unit_of_work(sessions) as session:
        await require_package(session, package_uuid)
    result = ImportResult()
    # First pass: the fileSec (after the amdSecs in the document) maps each amdSec to a file's href and use.
    files_of: dict[str, tuple[str, str]] = {}
    for _, element in safexml.iterparse(path, max_bytes, tag=f"{METS}file"):
        group = element.getparent()
        flocat = child(element, "FLocat")
        admid = element.get("ADMID") or ""
        use = group.get("USE") if group is not None and group.get("USE") else "original"
        if flocat is not None and admid:
            files_of[admid.split()[0]] = (unquote(flocat.get(XLINK_HREF) or ""), use)
        elif admid and use == DELETED_USE:  # no bytes, so no FLocat: the path comes from the object's originalName
            files_of[admid.split()[0]] = ("", use)
        element.clear(keep_tail=False)
    batch: list[FileRecord] = []
    for _, element in safexml.iterparse(path, max_bytes, tag=f"{METS}amdSec"):
        target = files_of.get(element.get("ID") or "")
        record = _file_from_amd_sec(element, target, package_uuid, result) if target else None
        element.clear(keep_tail=False)
        while element.getprevious() is not None:  # the cleared siblings too: memory stays flat
            del element.getparent()[0]
        if record is None:
            continue
        batch.append(record)
        if len(batch) >= BATCH:
            await _add_files(sessions, package_uuid, batch, result)
            batch = []
    await _add_files(sessions, package_uuid, batch, result)
    return result


def _file_from_amd_sec(element: Any, target: tuple[str, str], package_uuid: UUID,
                       result: ImportResult) -> FileRecord | None:
    href, use = target
    obj = next((o for o in element.iter() if local(o) == "object" and "techMD" in {local(a) for a in
                                                                                  o.iterancestors()}), None)
    if obj is None:
        return None
    result.premis_version = result.premis_version or _premis_version(obj.tag)
    href = href or _object_path(obj)
    agents = {}
    for agent_element in (a for a in element.iter() if local(a) == "agent"):
        if agent := agent_record(agent_element):
            agents[(agent.identifier_type, agent.identifier_value)] = agent
    events = [event_record(e, agents, package_uuid) for e in element.iter() if local(e) == "event"]
    chars = child(obj, "objectCharacteristics")
    fmt = child(chars, "format")
    file_uuid = as_uuid(text(obj, "objectIdentifier", "objectIdentifierValue"), package_uuid, "file", href)
    size = text(chars, "size")
    try:
        return FileRecord(
            uuid=file_uuid, path=href, original_name=text(obj, "originalName") or href,
            size=int(size) if size.isdigit() else 0,
            checksum_type=text(chars, "fixity", "messageDigestAlgorithm") or "sha256",
            checksum=text(chars, "fixity", "messageDigest") or "unknown",
            format_name=text(fmt, "formatDesignation", "formatName") or "Unknown",
            format_version=text(fmt, "formatDesignation", "formatVersion") or None,
            puid=text(fmt, "formatRegistry", "formatRegistryKey") or None,
            use=use, events=list({e.uuid: e for e in events}.values()),
        )
    except ValidationError:
        if len(result.unmatched) < 100:
            result.unmatched.append(href)
        return None


async def _add_files(sessions: Sessions, package_uuid: UUID, batch: list[FileRecord], result: ImportResult) -> None:
    if not batch:
        return
    async with unit_of_work(sessions) as session:
        await add_files(session, package_uuid, batch)
    result.files += len(batch)
    result.events += sum(len(f.events) for f in batch)
