"""HTTP operations on processing configurations (which Archivematica's API never offered)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from clients.ingest.processing import ProcessingConfigRead, ProcessingConfigWrite
from servicekit.auth import CallerDep
from servicekit.deps import SessionDep
from services.ingest.processing_configs import service

router = APIRouter(prefix="/processing-configurations", tags=["processing configurations"])
ConfigName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]


@router.get("", response_model=list[ProcessingConfigRead], summary="List processing configurations")
async def list_processing_configurations(session: SessionDep, caller: CallerDep) -> list[ProcessingConfigRead]:
    return await service.list_configs(session)


@router.get("/{name}", response_model=ProcessingConfigRead, summary="Get a processing configuration")
async def get_processing_configuration(name: ConfigName, session: SessionDep,
                                       caller: CallerDep) -> ProcessingConfigRead:
    return await service.read_config(session, name)


@router.put("/{name}", response_model=ProcessingConfigRead, summary="Create or replace a processing configuration",
            responses={201: {"model": ProcessingConfigRead, "description": "Created"}})
async def put_processing_configuration(name: ConfigName, body: ProcessingConfigWrite, response: Response,
                                       session: SessionDep, caller: CallerDep) -> ProcessingConfigRead:
    config, created = await service.put_config(session, name, body.fields)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return config


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a processing configuration")
async def delete_processing_configuration(name: ConfigName, session: SessionDep, caller: CallerDep) -> None:
    await service.delete_config(session, name)
