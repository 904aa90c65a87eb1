"""What long package operations need besides a request: settings, sessions, events, metrics and a bound on work."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit.roots import AllowedRoots
from services.storage.events import EventRecorder
from services.storage.packages.metrics import StorageMetrics
from services.storage.settings import StorageSettings


@dataclass
class Runtime:
    settings: StorageSettings
    sessions: async_sessionmaker[AsyncSession]
    events: EventRecorder
    # Whole-package reads (fixity, replication, recovery) each keep a disk busy: only a few at once, so
    # stores and downloads keep their share of the disk and of the thread pool.
    limiter: anyio.CapacityLimiter
    metrics: StorageMetrics
    background: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def roots(self) -> AllowedRoots:
        return self.settings.location_roots()

    def spawn(self, coroutine: object) -> None:
        task = asyncio.ensure_future(coroutine)  # type: ignore[call-overload]
        self.background.add(task)
        task.add_done_callback(self.background.discard)


def request_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(request_runtime)]
