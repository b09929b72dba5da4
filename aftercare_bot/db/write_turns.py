"""Writers on SQLite take turns in this process rather than in SQLite's busy handler.

SQLite lets one connection write at a time. The others wait in its busy handler, which sleeps in growing steps
(up to 100 ms) and leaves the database idle while they sleep: under a burst of red flags, most of a message's
wait was that idle time. A writer that takes its turn here queues in the event loop instead and starts the
moment the previous one has committed. PostgreSQL locks rows, not the database: there nobody waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

_turns: weakref.WeakKeyDictionary[AsyncEngine, asyncio.Lock] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def write_turn(session: AsyncSession) -> AsyncIterator[None]:
    """Hold this around a transaction's writes and its commit, and around nothing that waits on others (such as
    Telegram): on SQLite, the other writers of this process wait meanwhile. The session's connection is taken
    first: a writer holding the turn while it waits for a connection, all of them held by writers waiting for
    the turn, would wait forever."""
    connection = await session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    engine = connection.engine
    turn = _turns.get(engine)
    if turn is None:
        turn = _turns[engine] = asyncio.Lock()
    async with turn:
        yield
