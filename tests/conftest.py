"""Shared fixtures: a migrated database per test on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from aftercare_bot.config import SHIPPED_MESSAGES_DIR, Settings
from aftercare_bot.db.migrate import upgrade
from aftercare_bot.db.models import Base
from aftercare_bot.db.session import create_engine, normalise_url

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]
TOKEN = "123456:TEST-token_for-the-emulator"
STAFF_CHAT_ID = -100200300
ADMIN_ID = 900001
# Tests under these folders get the marker of the same name (see pytest_collection_modifyitems below).
LAYER_MARKERS = ("system", "e2e")
TESTS_DIR = Path(__file__).resolve().parent
# PTB warns (an error under pytest) whenever it builds a RetryAfter unless time periods are timedeltas;
# the bot reads either form.
os.environ.setdefault("PTB_TIMEDELTA", "true")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in tests/system and tests/e2e from its folder, so that no test has to say so itself."""
    for item in items:
        try:
            layer = item.path.resolve().relative_to(TESTS_DIR).parts[0]
        except ValueError:
            continue
        if layer in LAYER_MARKERS:
            item.add_marker(layer)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; each test copies the file, which is much faster than migrating again."""
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def migrate() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """A private database for this run, migrated once and dropped at the end."""
    if not POSTGRES_URL:
        yield None
        return
    admin_url = normalise_url(POSTGRES_URL)
    name = f"aftercare_test_{secrets.token_hex(4)}"
    test_url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    async def create() -> None:
        admin = create_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        engine = create_engine(test_url)
        await upgrade(engine)
        await engine.dispose()

    async def drop() -> None:
        admin = create_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    asyncio.run(create())
    yield test_url
    asyncio.run(drop())


@pytest.fixture(params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, postgres_database: str | None
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "bot.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    assert postgres_database is not None
    engine = create_engine(postgres_database)
    async with engine.begin() as connection:
        tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()
    yield postgres_database


@pytest.fixture
def make_settings(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Settings for a test; keyword arguments override the defaults."""
    for name in list(os.environ):
        if name in Settings.model_fields or name.lower() in Settings.model_fields:
            monkeypatch.delenv(name)
    monkeypatch.chdir(Path(__file__).parent)  # so that no developer's .env leaks into a test

    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "telegram_bot_token": TOKEN,
            "database_url": database_url,
            "staff_chat_id": STAFF_CHAT_ID,
            "admin_ids": [ADMIN_ID],
            "clinic_name": "Glow & Co <Clinic>",
            "clinic_phone": "+44 20 7946 0000",
            "clinic_timezone": "Europe/London",
            "quiet_hours": "off",
            "messages_dir": SHIPPED_MESSAGES_DIR,
            "dispatch_tick": "1s",
            "flood_limits": False,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return factory


@pytest.fixture
async def rigs() -> AsyncIterator[Callable[..., Any]]:
    """Builds domain test rigs (see tests/support/domain_helpers.py) and closes their databases afterwards."""
    from tests.support.domain_helpers import make_rig

    created = []

    def factory(*args: Any, **kwargs: Any) -> Any:
        rig = make_rig(*args, **kwargs)
        created.append(rig)
        return rig

    yield factory
    for rig in created:
        await rig.services.engine.dispose()


@pytest.fixture
async def bot_factory(make_settings: Callable[..., Settings]) -> AsyncIterator[Callable[..., Any]]:
    """Starts the real bot against a fresh Bot API emulator; stops both afterwards.

    Every test using it also checks that the bot never made a call the Bot API spec does not allow.
    """
    from aftercare_bot.clock import ManualClock
    from aftercare_bot.sandbox.emulator.server import BotApiEmulator
    from tests.support.harness import BotHarness

    started: list[BotHarness] = []

    async def factory(**overrides: Any) -> BotHarness:
        telegram = BotApiEmulator(token=TOKEN, bot_username="glow_aftercare_bot")
        await telegram.start()
        settings = make_settings(telegram_api_base_url=telegram.base_url, **overrides)
        harness = BotHarness(telegram, settings, ManualClock())
        started.append(harness)
        await harness.start()
        return harness

    yield factory
    for harness in started:
        await harness.stop()
        await harness.telegram.stop()
    for harness in started:
        assert harness.telegram.spec_violations == [], "the bot made calls the Bot API would refuse"


@pytest.fixture
async def bot(bot_factory: Callable[..., Any]) -> Any:
    return await bot_factory()
