"""Admission control: at most `max_active_ingests` packages are processed at once; the rest wait in line.

Archivematica starts everything it is given at once and drowns its database; here an ingest waits, queued
and visible with its place in line, until a slot is free. Admission is recorded in the database before the
workflow is started, and a workflow start is idempotent, so a crash between the two only delays an ingest:
the next round starts it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from uuid import UUID

from opentelemetry import context as trace_context
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from servicekit.db import unit_of_work, utcnow
from servicekit.tracing import tracing_enabled
from services.ingest.ingests.models import Ingest
from services.ingest.ingests.repository import IngestRepository
from services.ingest.ingests.service import workflow_params
from services.ingest.processing.temporal import start_ingest_workflow
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)
# An admitted workflow reports "processing" within seconds; one silent for this long is started again.
LOST_START_AFTER = timedelta(seconds=30)
# Traces of ingests still waiting in line; past this many the oldest start traces of their own.
REMEMBERED_TRACES = 10_000


class Admission:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], temporal: Callable[[], Awaitable[Client]],
                 settings: IngestSettings) -> None:
        self.sessions = sessions
        self.temporal = temporal
        self.settings = settings
        self.lock = asyncio.Lock()
        self.traces: OrderedDict[UUID, trace_context.Context] = OrderedDict()

    def remember_trace(self, ingest_uuid: UUID) -> None:
        """Keep the current trace for the ingest, so its workflow joins it even when started later, from the
        admission loop (in this process: after a restart the workflow starts a trace of its own)."""
        if not tracing_enabled():
            return
        self.traces[ingest_uuid] = trace_context.get_current()
        while len(self.traces) > REMEMBERED_TRACES:
            self.traces.popitem(last=False)

    async def admit(self) -> int:
        """Give free slots to the oldest waiting ingests and start their workflows; returns how many."""
        async with self.lock:
            async with unit_of_work(self.sessions) as session:
                repo = IngestRepository(session)
                free = self.settings.max_active_ingests - await repo.count_active()
                admitted: list[Ingest] = await repo.next_waiting(free) if free > 0 else []
                now = utcnow()
                for ingest in admitted:
                    ingest.admitted_at = now
                lost = await repo.admitted_but_queued(now - LOST_START_AFTER)
            for ingest in [*admitted, *lost]:
                await self.start(ingest)
            return len(admitted)

    async def start(self, ingest: Ingest) -> None:
        remembered = self.traces.pop(ingest.uuid, None)
        token = trace_context.attach(remembered) if remembered is not None else None
        try:
            client = await self.temporal()
            await start_ingest_workflow(client, self.settings, workflow_params(ingest, self.settings))
        except Exception:
            # Left admitted: the lost-start sweep of a later round starts it again.
            log.exception("could not start the workflow of ingest %s", ingest.uuid)
        finally:
            if token is not None:
                trace_context.detach(token)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.admit()
            except Exception:
                log.exception("admission round failed")
            await asyncio.sleep(self.settings.admission_interval_seconds)
