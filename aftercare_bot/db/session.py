"""Engine and session factory, built by functions so that tests can make their own."""

from __future__ import annotations

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def normalise_url(url: str) -> str:
    """Let admins write plain sqlite:/// or postgresql:// URLs; the async drivers are implied."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}
    if parsed.drivername in driver:
        parsed = parsed.set(drivername=driver[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str) -> AsyncEngine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            # WAL lets readers work while the dispatcher writes; the busy timeout waits out short locks.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Deleted content is overwritten, not left in free pages: erased people stay erased on disk.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()
            # SQLite's own lower() changes ASCII letters only: "Éva" would never match a search for "éva".
            dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

        return engine
    engine = create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    event.listen(engine.sync_engine, "before_cursor_execute", _without_nul_characters, retval=True)
    return engine


async def settle_erasure(engine: AsyncEngine) -> None:
    """After an erasure on SQLite, move the write-ahead log into the database file (where secure_delete has
    overwritten what was deleted) and empty it, so the erased data is readable in neither file."""
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL: VACUUM and backups are the operator's (docs/operations.md, Privacy)
    async with engine.connect() as connection:
        await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _lower(value: object) -> object:
    """lower() for SQLite, as PostgreSQL's: every letter, not only ASCII ones."""
    return value.lower() if isinstance(value, str) else value


def _without_nul_characters(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
    """PostgreSQL text cannot hold the NUL character, which a modified Telegram client can still send;
    it is stored as U+FFFD instead of failing the whole update."""

    def clean(value: object) -> object:
        return value.replace("\x00", "\ufffd") if isinstance(value, str) and "\x00" in value else value

    def clean_row(row):  # type: ignore[no-untyped-def]
        if isinstance(row, dict):
            return {key: clean(value) for key, value in row.items()}
        return type(row)(clean(value) for value in row) if isinstance(row, list | tuple) else row

    if executemany and isinstance(parameters, list | tuple):
        return statement, type(parameters)(clean_row(row) for row in parameters)
    return statement, clean_row(parameters)


async def ping(session: AsyncSession) -> None:
    """Raises unless the database answers."""
    await session.execute(text("SELECT 1"))


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
