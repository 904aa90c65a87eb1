"""Amber's services as the adapter reaches them: the typed clients, acting as the authenticated user.

Each request gets its own clients (they carry the caller's name and role, as the proxy forwards them) over one
connection pool shared by the whole gateway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request

from clients.ingest import IngestClient
from clients.metadata import MetadataClient
from clients.storage import StorageClient
from clients.transfer import TransferClient
from gateway.archivematica.auth import DashboardUser, StorageUser
from gateway.schemas import UserRead
from gateway.settings import GatewaySettings
from servicekit.auth import INTERNAL_ROLE_HEADER, INTERNAL_USER_HEADER
from servicekit.http import ServiceClient


class SharedTransport(httpx.AsyncHTTPTransport):
    """A transport the per-request clients share; closing one of them must not close the pool."""

    async def aclose(self) -> None:
        return None

    async def close_pool(self) -> None:
        await super().aclose()


@dataclass
class Upstream:
    transfer: TransferClient
    ingest: IngestClient
    metadata: MetadataClient
    storage: StorageClient
    settings: GatewaySettings

    async def aclose(self) -> None:
        for client in (self.transfer, self.ingest, self.metadata, self.storage):
            await client.aclose()


def _acting_as(client: ServiceClient, user: UserRead) -> None:
    client.http.headers[INTERNAL_USER_HEADER] = user.username
    client.http.headers[INTERNAL_ROLE_HEADER] = user.role.value


def shared_transport(app_state: object) -> SharedTransport:
    transport = getattr(app_state, "archivematica_transport", None)
    if transport is None:
        transport = SharedTransport(retries=0)
        app_state.archivematica_transport = transport  # type: ignore[attr-defined]
    return transport


def open_upstream(request: Request, user: UserRead) -> Upstream:
    settings: GatewaySettings = request.app.state.settings
    urls = settings.service_urls()
    token = request.app.state.internal_token
    transport = shared_transport(request.app.state)
    upstream = Upstream(
        transfer=TransferClient(urls["transfer"], token=token, transport=transport),
        ingest=IngestClient(urls["ingest"], token=token, transport=transport),
        metadata=MetadataClient(urls["metadata"], token=token, transport=transport),
        storage=StorageClient(urls["storage"], token=token, transport=transport),
        settings=settings,
    )
    for client in (upstream.transfer, upstream.ingest, upstream.metadata, upstream.storage):
        _acting_as(client, user)
    return upstream


async def close_transport(app_state: object) -> None:
    transport = getattr(app_state, "archivematica_transport", None)
    if isinstance(transport, SharedTransport):
        await transport.close_pool()


async def _dashboard_upstream(request: Request, user: DashboardUser) -> AsyncIterator[Upstream]:
    upstream = open_upstream(request, user)
    try:
        yield upstream
    finally:
        await upstream.aclose()


async def _storage_upstream(request: Request, user: StorageUser) -> AsyncIterator[Upstream]:
    upstream = open_upstream(request, user)
    try:
        yield upstream
    finally:
        await upstream.aclose()


DashboardUpstream = Annotated[Upstream, Depends(_dashboard_upstream)]
StorageUpstream = Annotated[Upstream, Depends(_storage_upstream)]
