"""`wait_event`: a background loop built on it ends when cancelled, even as its event is set.

The race these tests make on purpose: the event is set and the waiting task cancelled in the same turn of the
loop. With `asyncio.wait_for(event.wait(), timeout)` on Python 3.11 the cancellation is lost and the loop goes
round again, so whatever awaits it after cancelling (a service's shutdown) waits for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest

from servicekit.background import wait_event
from services.metadata.search.service import Indexer


async def _loop(wait: Callable[[asyncio.Event, float], Awaitable[object]], event: asyncio.Event,
                rounds: list[int]) -> None:
    while True:
        await wait(event, 30)
        event.clear()
        rounds.append(1)


async def _ends_when_cancelled_as_set(wait: Callable[[asyncio.Event, float], Awaitable[object]]) -> list[int]:
    event, rounds = asyncio.Event(), list[int]()
    task = asyncio.create_task(_loop(wait, event, rounds))
    await asyncio.sleep(0)  # the task is waiting
    event.set()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    if not done:
        task.cancel()  # a second cancellation does end it; the first was lost
        with contextlib.suppress(asyncio.CancelledError):
            await task
        pytest.fail("the cancellation was lost: the loop went round again and waited on")
    assert task.cancelled()
    return rounds


async def test_a_loop_on_wait_event_ends_when_cancelled_as_its_event_is_set() -> None:
    assert await _ends_when_cancelled_as_set(wait_event) == []


async def test_the_race_is_real_with_wait_for() -> None:
    """The same race against the pattern `wait_event` replaces: on 3.11 the cancellation is lost (from 3.12,
    `wait_for` is built on `asyncio.timeout` and keeps it), so the test above can fail."""
    async def wait_for(event: asyncio.Event, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    import sys

    if sys.version_info >= (3, 12):
        pytest.skip("wait_for keeps a cancellation from Python 3.12 on")
    with pytest.raises(pytest.fail.Exception, match="cancellation was lost"):
        await _ends_when_cancelled_as_set(wait_for)


async def test_wait_event_says_whether_the_event_was_set() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 5) is True


async def test_the_search_indexer_stops_when_woken_as_it_stops() -> None:
    # No database: an indexer that went round again after its cancellation would try to drain and fail (logged),
    # then wait on for its interval.
    indexer = Indexer(sessions=None, batch=10, interval=30)  # type: ignore[arg-type]
    indexer.start()
    await asyncio.sleep(0)
    indexer.wake.set()
    stopping = asyncio.create_task(indexer.stop())
    done, _ = await asyncio.wait({stopping}, timeout=5)
    if not done:
        stopping.cancel()  # cancels the indexer a second time, which ends it
        with contextlib.suppress(asyncio.CancelledError):
            await stopping
        pytest.fail("the indexer's stop() did not return: its cancellation was lost")
    assert indexer.task is not None and indexer.task.cancelled()
