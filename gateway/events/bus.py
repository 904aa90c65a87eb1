"""Wakes the SSE streams and the webhook dispatcher of this gateway when the event log grows."""

from __future__ import annotations

import asyncio

from servicekit.background import wait_event


class EventBus:
    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def notify(self) -> None:
        self._changed.set()
        # Everyone waiting now has been woken; later waiters wait for the next change.
        self._changed = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        changed = self._changed
        await wait_event(changed, timeout)
