"""Typed dependencies every service's routers use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit.db import session_scope


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    async for session in session_scope(request.app.state.sessions):
        yield session


# Committed when the operation returns, before the response goes out: with the default ("request") scope the
# commit ran after the client had its answer, so its next request could miss what it had just been told was
# made, and a failed commit followed a success already sent.
SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]


def request_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    """The session factory, for operations that must open short transactions around long I/O."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(request_sessions)]
