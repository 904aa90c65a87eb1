"""Stopping a process's background loops on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel every task, then wait for each to end: a loop still running would outlive the clients it uses,
    which shutdown closes next."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
