"""PREMIS events about stored packages, recorded in the metadata service (service-to-service, internal token).

An event that cannot be recorded (metadata service down, package unknown to it) is logged and reported back
as not recorded; it never undoes the storage operation it describes.
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from typing import Annotated
from uuid import UUID

from fastapi import Depends, FastAPI, Request

from clients.metadata import MetadataClient
from clients.metadata.schemas import AgentRecord, ObjectEventRecord
from servicekit.db import utcnow
from servicekit.http import ServiceError
from servicekit.ids import new_id

log = logging.getLogger(__name__)


class EventRecorder:
    def __init__(self, client: MetadataClient | None) -> None:
        self.client = client

    async def record(
        self,
        package_uuid: UUID,
        event_type: str,
        outcome: str,
        detail: str = "",
        note: str = "",
        user: str | None = None,
    ) -> UUID | None:
        if self.client is None:
            return None
        agents = [
            AgentRecord(identifier_type="preservation system", identifier_value=f"Amber-{version('amber')}",
                        name="Amber storage service", agent_type="software"),
        ]
        if user:
            agents.append(AgentRecord(identifier_type="Amber user", identifier_value=user[:255],
                                      name=f'username="{user}"'[:1024], agent_type="Amber user"))
        event = ObjectEventRecord(
            uuid=new_id(), type=event_type, datetime=utcnow(), detail=detail[:8000], outcome=outcome,
            outcome_note=note[:8000], agents=agents,
        )
        try:
            await self.client.add_events(package_uuid, [event])
        except ServiceError as exc:
            log.warning("could not record the %r event of package %s: %s", event_type, package_uuid, exc)
            return None
        return event.uuid


def event_recorder(app: FastAPI) -> EventRecorder:
    return EventRecorder(getattr(app.state, "metadata_client", None))


def request_event_recorder(request: Request) -> EventRecorder:
    return event_recorder(request.app)


EventsDep = Annotated[EventRecorder, Depends(request_event_recorder)]


async def open_metadata_client(app: FastAPI) -> None:
    """A client of the metadata service, unless one was put on app.state already (tests inject theirs)."""
    if getattr(app.state, "metadata_client", None) is None:
        app.state.metadata_client = MetadataClient(
            app.state.settings.metadata_url, token=app.state.internal_token, retries=2
        )
        app.state.owns_metadata_client = True


async def close_metadata_client(app: FastAPI) -> None:
    if getattr(app.state, "owns_metadata_client", False):
        await app.state.metadata_client.aclose()
        app.state.metadata_client = None
        app.state.owns_metadata_client = False
