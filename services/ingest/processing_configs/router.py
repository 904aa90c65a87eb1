"""HTTP operations on processing configurations (which Archivematica's API never offered)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from clients.ingest.processing import ProcessingConfigRead, ProcessingConfigWrite
from clients.ingest.schemas import PROCESSING_CONFIG_NAME
from servicekit.auth import CallerDep
from servicekit.deps import SessionDep
from servicekit.openapi import binary_content
from servicekit.problems import Problem
from servicekit.roles import Role, role_operation
from services.ingest.processing_configs import service
from services.ingest.processing_configs.processing_mcp import MAX_BYTES

router = APIRouter(prefix="/processing-configurations", tags=["processing configurations"])
ConfigName = Annotated[str, Path(pattern=PROCESSING_CONFIG_NAME)]
XML = "application/xml"
XML_DOCUMENT = {"content": binary_content(XML)}


@router.get(
    "", response_model=list[ProcessingConfigRead], summary="List processing configurations",
    openapi_extra=role_operation(Role.reader),
)
async def list_processing_configurations(session: SessionDep, caller: CallerDep) -> list[ProcessingConfigRead]:
    return await service.list_configs(session)


@router.get(
    "/{name}", response_model=ProcessingConfigRead, summary="Get a processing configuration",
    openapi_extra=role_operation(Role.reader),
)
async def get_processing_configuration(name: ConfigName, session: SessionDep,
                                       caller: CallerDep) -> ProcessingConfigRead:
    return await service.read_config(session, name)


@router.put(
    "/{name}", response_model=ProcessingConfigRead, summary="Create or replace a processing configuration",
    responses={201: {"model": ProcessingConfigRead, "description": "Created"}},
    openapi_extra=role_operation(Role.admin),
)
async def put_processing_configuration(name: ConfigName, body: ProcessingConfigWrite, response: Response,
                                       session: SessionDep, caller: CallerDep) -> ProcessingConfigRead:
    config, created = await service.put_config(session, name, body.fields)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return config


@router.delete(
    "/{name}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a processing configuration",
    openapi_extra=role_operation(Role.admin),
)
async def delete_processing_configuration(name: ConfigName, session: SessionDep, caller: CallerDep) -> None:
    await service.delete_config(session, name)


@router.get(
    "/{name}/processingMCP.xml", response_class=Response, summary="Export as Archivematica's processingMCP.xml",
    responses={200: {**XML_DOCUMENT, "description": "The configuration's answered points"}},
    openapi_extra=role_operation(Role.reader),
)
async def export_processing_config_xml(name: ConfigName, session: SessionDep, caller: CallerDep) -> Response:
    """Points left at `ask`, and those Archivematica does not have (`infected_files`), are left out: Archivematica
    waits for a person where the file is silent."""
    return Response(await service.export_xml(session, name), media_type=XML)


@router.post(
    "/{name}/import", response_model=ProcessingConfigRead,
    summary="Create or replace a processing configuration from a processingMCP.xml",
    responses={201: {"model": ProcessingConfigRead, "description": "Created"}},
    openapi_extra=role_operation(Role.admin, {"requestBody": {"required": True, **XML_DOCUMENT}}),
)
async def import_processing_config_xml(name: ConfigName, request: Request, response: Response,
                                       session: SessionDep, caller: CallerDep) -> ProcessingConfigRead:
    """Archivematica's reading: every point the file does not answer asks a person; links Amber has no point for
    are ignored. Malformed XML, a document type declaration or more than 1 MiB is refused (422/413)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BYTES:
            raise Problem(413, "Document too large", f"processingMCP.xml is accepted up to {MAX_BYTES} bytes")
    config, created = await service.import_xml(session, name, bytes(body))
    if created:
        response.status_code = status.HTTP_201_CREATED
    return config
