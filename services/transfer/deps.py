"""The transfer service's peers and settings, as request dependencies.

The peer clients live on `app.state`; they are made at start-up unless already there, so a test (or an
embedding process) can hand in clients bound to other apps.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from clients.ingest import IngestClient
from clients.storage import StorageClient
from services.transfer.settings import TransferSettings
from services.transfer.transfers.leases import Leases


def transfer_settings(request: Request) -> TransferSettings:
    settings: TransferSettings = request.app.state.settings
    return settings


def ingest_client(request: Request) -> IngestClient:
    client: IngestClient = request.app.state.ingest_client
    return client


def storage_client(request: Request) -> StorageClient:
    client: StorageClient = request.app.state.storage_client
    return client


def leases(request: Request) -> Leases:
    taken: Leases = request.app.state.leases
    return taken


SettingsDep = Annotated[TransferSettings, Depends(transfer_settings)]
IngestDep = Annotated[IngestClient, Depends(ingest_client)]
StorageDep = Annotated[StorageClient, Depends(storage_client)]
LeasesDep = Annotated[Leases, Depends(leases)]


async def open_peers(app: FastAPI) -> None:
    settings: TransferSettings = app.state.settings
    token = app.state.internal_token
    owned = []
    if getattr(app.state, "ingest_client", None) is None:
        app.state.ingest_client = IngestClient(settings.ingest_url, token=token)
        owned.append(app.state.ingest_client)
    if getattr(app.state, "storage_client", None) is None:
        app.state.storage_client = StorageClient(settings.storage_url, token=token)
        owned.append(app.state.storage_client)
    app.state.owned_peers = owned


async def close_peers(app: FastAPI) -> None:
    for client in app.state.owned_peers:
        await client.aclose()
        if app.state.ingest_client is client:
            app.state.ingest_client = None
        if app.state.storage_client is client:
            app.state.storage_client = None
