"""Waiting for an `asyncio.Event` with a timeout, in a way a cancellation always ends."""

from __future__ import annotations

import asyncio
import contextlib


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
