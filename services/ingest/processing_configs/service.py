"""Processing configurations: the built-ins, and those users create and edit through the API."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from clients.ingest.processing import ProcessingConfigFields, ProcessingConfigRead
from servicekit.db import utcnow
from servicekit.problems import Conflict, NotFound, Problem
from services.ingest.processing.decisions import BUILTIN_CONFIGS
from services.ingest.processing_configs.models import ProcessingConfig
from services.ingest.processing_configs.processing_mcp import decisions_from_processing_mcp, render_processing_mcp
from services.ingest.processing_configs.repository import ProcessingConfigRepository


def config_read(config: ProcessingConfig) -> ProcessingConfigRead:
    return ProcessingConfigRead(name=config.name, builtin=config.builtin,
                                fields=ProcessingConfigFields.model_validate(config.fields),
                                created_at=config.created_at, updated_at=config.updated_at)


async def ensure_builtins(session: AsyncSession) -> None:
    """Create the built-in configurations once; later edits by users are kept."""
    repo = ProcessingConfigRepository(session)
    for name, fields in BUILTIN_CONFIGS.items():
        if await repo.get(name) is None:
            now = utcnow()
            repo.add(ProcessingConfig(name=name, builtin=True, fields=fields.model_dump(), created_at=now,
                                      updated_at=now))
    await repo.flush()


async def list_configs(session: AsyncSession) -> list[ProcessingConfigRead]:
    return [config_read(c) for c in await ProcessingConfigRepository(session).all()]


async def get_fields(session: AsyncSession, name: str) -> ProcessingConfigFields:
    config = await ProcessingConfigRepository(session).get(name)
    if config is None:
        raise NotFound("Processing configuration", name)
    return ProcessingConfigFields.model_validate(config.fields)


async def read_config(session: AsyncSession, name: str) -> ProcessingConfigRead:
    config = await ProcessingConfigRepository(session).get(name)
    if config is None:
        raise NotFound("Processing configuration", name)
    return config_read(config)


async def put_config(session: AsyncSession, name: str, fields: ProcessingConfigFields) -> tuple[ProcessingConfigRead,
                                                                                                 bool]:
    repo = ProcessingConfigRepository(session)
    config = await repo.get(name)
    now = utcnow()
    created = config is None
    if config is None:
        config = ProcessingConfig(name=name, fields=fields.model_dump(), created_at=now, updated_at=now)
        repo.add(config)
    else:
        config.fields = fields.model_dump()
        config.updated_at = now
    await repo.flush()
    return config_read(config), created


async def export_xml(session: AsyncSession, name: str) -> str:
    return render_processing_mcp(await get_fields(session, name))


async def import_xml(session: AsyncSession, name: str, data: bytes) -> tuple[ProcessingConfigRead, bool]:
    """Create or replace `name` from a processingMCP.xml; what the file leaves unanswered asks a person, as it
    would in Archivematica, and Amber's own points take the answers of `automated`."""
    try:
        decisions = decisions_from_processing_mcp(data)
    except ValueError as exc:
        raise Problem(422, "Invalid processingMCP.xml", str(exc)) from exc
    return await put_config(session, name, ProcessingConfigFields.model_validate(
        {**ProcessingConfigFields().model_dump(), **decisions}))


async def delete_config(session: AsyncSession, name: str) -> None:
    repo = ProcessingConfigRepository(session)
    config = await repo.get(name)
    if config is None:
        raise NotFound("Processing configuration", name)
    if config.builtin:
        raise Conflict(f"{name} is a built-in processing configuration; edit it instead of deleting it")
    await repo.delete(config)
