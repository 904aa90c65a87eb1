"""A process's background loops: waiting for a wake-up in a way a cancellation always ends, and stopping them
on shutdown."""

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


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait up to `timeout` seconds for `event`; True if it was set.

    Not `asyncio.wait_for(event.wait(), timeout)`: on Python 3.11, a cancellation that arrives as the event is set
    finds the inner wait already done, and `wait_for` returns its result instead of raising. A background loop
    built on it then goes round again with its cancellation spent, and whatever awaits it after cancelling (a
    service's shutdown) waits for ever: the metadata service's search indexer hung a test's teardown that way
    (a request woke it as the app stopped). `asyncio.timeout` tells its own cancellation from the caller's, so
    the caller's always wins.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
            return True
    return False
