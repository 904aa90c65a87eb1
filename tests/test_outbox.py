"""The outbox: an event exists exactly when the change it was recorded with commits; a pull waits for one."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.db import session_factory, unit_of_work
from servicekit.outbox import Outbox, outbox_table


@pytest.fixture
async def outbox(db_engine: AsyncEngine) -> Outbox:
    metadata = MetaData()
    table = outbox_table(metadata)
    async with db_engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return Outbox(table, "test")


async def test_events_commit_and_roll_back_with_their_transaction(outbox: Outbox, db_engine: AsyncEngine) -> None:
    sessions = session_factory(db_engine)
    subject = uuid.uuid4()
    with pytest.raises(RuntimeError):
        async with unit_of_work(sessions) as session:
            await outbox.record(session, "thing.failed.v1", subject, {"reason": "no"})
            raise RuntimeError("the change fails")
    async with unit_of_work(sessions) as session:
        first = await outbox.record(session, "thing.created.v1", subject, {"at": subject, "n": [1, None]})
        second = await outbox.record(session, "thing.stored.v1", subject, related=first)
    async with unit_of_work(sessions) as session:
        events = await outbox.oldest(session, 10)
    assert [(e.event_id, e.type, e.source) for e in events] == [(first, "thing.created.v1", "test"),
                                                              (second, "thing.stored.v1", "test")]
    assert events[0].payload == {"at": str(subject), "n": [1, None]} and events[1].related == first
    async with unit_of_work(sessions) as session:
        assert await outbox.acknowledge(session, [first, uuid.uuid4()]) == 1
    async with unit_of_work(sessions) as session:
        assert await outbox.acknowledge(session, [first]) == 0  # acknowledged twice: harmless
        assert [e.event_id for e in await outbox.oldest(session, 10)] == [second]


async def test_a_pull_waits_for_the_next_commit(outbox: Outbox, db_engine: AsyncEngine) -> None:
    sessions = session_factory(db_engine)
    started = asyncio.get_running_loop().time()
    assert (await outbox.pull(sessions, 10, 0.2)).events == []
    assert asyncio.get_running_loop().time() - started >= 0.2

    async def later() -> None:
        await asyncio.sleep(0.1)
        async with unit_of_work(sessions) as session:
            await outbox.record(session, "thing.created.v1", None)

    pulling = asyncio.create_task(outbox.pull(sessions, 10, 10))
    await later()
    batch = await asyncio.wait_for(pulling, 2)  # woken by the commit, not after the full wait
    assert [e.type for e in batch.events] == ["thing.created.v1"]
