"""Alembic environment.

The bot (aftercare_bot.db.migrate) hands over a connection. The `alembic` command (alembic.ini at the root of
the checkout) hands over none: then the database is `sqlalchemy.url` from alembic.ini if set, else the bot's
own DATABASE_URL setting, opened with the bot's async engine.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from pydantic_settings import BaseSettings
from sqlalchemy import Connection

from aftercare_bot.config import Settings
from aftercare_bot.db.migrate import wait_for_other_migrations
from aftercare_bot.db.models import Base
from aftercare_bot.db.session import create_engine, normalise_url


class _DatabaseSetting(BaseSettings):
    """DATABASE_URL read as the bot reads it, without asking for the settings only the running bot needs."""

    model_config = Settings.model_config
    database_url: str = Settings.model_fields["database_url"].default


def database_url() -> str:
    return context.config.get_main_option("sqlalchemy.url") or _DatabaseSetting().database_url


def _run(connection: Connection, *, take_lock: bool) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if take_lock:  # the bot's own upgrade takes it before handing the connection over
            wait_for_other_migrations(connection)
        context.run_migrations()


async def _run_on_own_engine() -> None:
    engine = create_engine(database_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run, take_lock=True)
    finally:
        await engine.dispose()


def _run_offline() -> None:
    """`alembic upgrade --sql`: write the SQL instead of running it."""
    url = normalise_url(database_url())
    context.configure(
        url=url,
        target_metadata=Base.metadata,
        compare_type=True,
        render_as_batch=url.startswith("sqlite"),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


handed_over = context.config.attributes.get("connection")
if handed_over is not None:
    _run(handed_over, take_lock=False)
else:
    if context.config.config_file_name is not None:
        fileConfig(context.config.config_file_name, disable_existing_loggers=False)
    if context.is_offline_mode():
        _run_offline()
    else:
        asyncio.run(_run_on_own_engine())
