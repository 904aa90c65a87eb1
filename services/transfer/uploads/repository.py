"""Every query on upload sessions."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.transfer.uploads.models import UploadSession


class UploadSessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, upload: UploadSession) -> None:
        self.session.add(upload)

    async def get(self, upload_uuid: UUID) -> UploadSession | None:
        return await self.session.get(UploadSession, upload_uuid)

    async def get_for_update(self, upload_uuid: UUID) -> UploadSession | None:
        return await self.session.get(UploadSession, upload_uuid, with_for_update=True)

    async def delete(self, upload: UploadSession) -> None:
        await self.session.delete(upload)
