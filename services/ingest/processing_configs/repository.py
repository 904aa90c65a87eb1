"""Every query on processing configurations."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.ingest.processing_configs.models import ProcessingConfig


class ProcessingConfigRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, name: str) -> ProcessingConfig | None:
        return await self.session.get(ProcessingConfig, name)

    async def all(self) -> list[ProcessingConfig]:
        result = await self.session.execute(select(ProcessingConfig).order_by(col(ProcessingConfig.name)))
        return list(result.scalars())

    def add(self, config: ProcessingConfig) -> None:
        self.session.add(config)

    async def delete(self, config: ProcessingConfig) -> None:
        await self.session.delete(config)

    async def flush(self) -> None:
        await self.session.flush()
