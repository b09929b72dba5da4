"""The migrations build exactly the schema the models describe, and every migration can be undone."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from aftercare_bot.db.migrate import alembic_config
from aftercare_bot.db.models import Base
from aftercare_bot.db.session import create_engine


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


def _migrate(connection: Connection, action: str, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)


async def test_migrated_database_matches_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def test_every_migration_can_be_undone_and_applied_again(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_migrate, "downgrade", "base")
        async with engine.connect() as connection:
            assert len(await connection.run_sync(_differences)) > 0, "downgrading to base left the tables"
        async with engine.begin() as connection:
            await connection.run_sync(_migrate, "upgrade", "head")
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()
