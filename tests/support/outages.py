"""A database outage for fault tests: PostgreSQL restarting (this run's database only), or SQLite locked."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from aftercare_bot.db.session import normalise_url
from tests.conftest import POSTGRES_URL


class PostgresRestart:
    """What a server restart looks like to the bot: its connections cut, new ones refused, until it is back.

    Only this test run's own database is touched; the shared server keeps running.
    """

    def __init__(self, database_url: str) -> None:
        assert POSTGRES_URL is not None
        self.name = make_url(database_url).database
        self.admin = create_async_engine(normalise_url(POSTGRES_URL), poolclass=NullPool,
                                         isolation_level="AUTOCOMMIT")
        self._cutter: asyncio.Task[None] | None = None

    async def _run(self, sql: str) -> None:
        async with self.admin.connect() as connection:
            await connection.execute(text(sql), {"name": self.name})

    async def _cut(self) -> None:
        await self._run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()")

    async def begin(self) -> None:
        await self._run(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        await self._cut()

        async def keep_cutting() -> None:
            while True:
                await asyncio.sleep(0.1)
                await self._cut()

        self._cutter = asyncio.create_task(keep_cutting())

    async def end(self) -> None:
        if self._cutter is not None:
            self._cutter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cutter
            self._cutter = None
        await self._run(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')

    async def close(self) -> None:
        await self.end()
        await self.admin.dispose()


class SqliteLock:
    """Another program holding the database file locked (BEGIN EXCLUSIVE) for a while."""

    def __init__(self, database_url: str) -> None:
        self.path = make_url(database_url).database
        self._release = threading.Event()
        self._holder: asyncio.Task[None] | None = None

    def _hold(self, acquired: threading.Event) -> None:
        connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            connection.execute("BEGIN EXCLUSIVE")
            acquired.set()
            self._release.wait(30)
            connection.execute("ROLLBACK")
        finally:
            connection.close()

    async def begin(self) -> None:
        acquired = threading.Event()
        self._release.clear()
        self._holder = asyncio.create_task(asyncio.to_thread(self._hold, acquired))
        assert await asyncio.to_thread(acquired.wait, 10), "could not lock the database"

    async def end(self) -> None:
        self._release.set()
        if self._holder is not None:
            await self._holder
            self._holder = None

    async def close(self) -> None:
        await self.end()


def shorten_sqlite_busy_timeout(bot, milliseconds: int) -> None:  # type: ignore[no-untyped-def]
    """The bot waits out locks up to its busy timeout (30 s); a shorter one makes a short test lock a failure."""

    @event.listens_for(bot.services.engine.sync_engine, "connect")
    def _busy_timeout(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={milliseconds}")
        cursor.close()


async def database_outage(database_url: str, bot) -> PostgresRestart | SqliteLock:  # type: ignore[no-untyped-def]
    """The outage for the test's database. On SQLite, the bot's connections are reopened with a short busy
    timeout, so that the test's lock makes its writes fail instead of waiting the lock out."""
    if database_url.startswith("postgresql"):
        return PostgresRestart(database_url)
    shorten_sqlite_busy_timeout(bot, 200)
    await bot.services.engine.dispose()
    return SqliteLock(database_url)
