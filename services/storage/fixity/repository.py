"""Queries on audits."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from clients.storage.schemas import AuditStatus
from services.storage.fixity.models import Audit


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, audit_uuid: UUID) -> Audit | None:
        return await self.session.get(Audit, audit_uuid, populate_existing=True)

    async def add(self, audit: Audit) -> Audit:
        self.session.add(audit)
        await self.session.flush()
        return audit

    async def progress(self, audit_uuid: UUID, checked: int, failed: int, failures: list[str]) -> None:
        await self.session.execute(
            update(Audit)
            .where(col(Audit.uuid) == audit_uuid)
            .values(checked=checked, failed=failed, failed_packages=list(failures))
        )

    async def finish(
        self, audit_uuid: UUID, status: AuditStatus, at: datetime, checked: int, failed: int, failures: list[str]
    ) -> None:
        await self.session.execute(
            update(Audit)
            .where(col(Audit.uuid) == audit_uuid)
            .values(status=status, finished_at=at, checked=checked, failed=failed, failed_packages=list(failures))
        )
