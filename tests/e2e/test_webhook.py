"""Webhook mode: Telegram's calls with the secret token, forged calls refused, /healthz, `aftercare-bot health`."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from aftercare_bot.app import build_services
from aftercare_bot.bot.runner import ALLOWED_UPDATES, BotRunner, Mode
from aftercare_bot.bot.webhook import SECRET_HEADER, webhook_path
from aftercare_bot.cli import main
from aftercare_bot.clock import ManualClock
from aftercare_bot.config import Settings, describe_errors
from aftercare_bot.db.session import create_engine, create_session_factory
from aftercare_bot.sandbox.emulator.server import BotApiEmulator
from tests.conftest import ADMIN_ID, TOKEN
from tests.support.bot_process import WEBHOOK_SECRET, free_port

PATH = "/telegram/updates"


@dataclasses.dataclass
class RunningBot:
    telegram: BotApiEmulator
    runner: BotRunner
    port: int

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"


@pytest.fixture
async def start_bot(make_settings: Callable[..., Settings]) -> AsyncIterator[Callable[..., Any]]:
    """Starts the bot in this process (webhook or polling mode) against a fresh emulator; stops both after."""
    started: list[RunningBot] = []

    async def factory(mode: Mode = Mode.WEBHOOK, **overrides: Any) -> RunningBot:
        telegram = BotApiEmulator(token=TOKEN, bot_username="glow_aftercare_bot")
        await telegram.start()
        port = free_port()
        values: dict[str, Any] = {"webhook_listen": "127.0.0.1", "staff_chat_id": None}
        if mode == Mode.WEBHOOK:
            values |= {"webhook_url": f"http://127.0.0.1:{port}{PATH}", "webhook_port": port,
                       "webhook_secret": WEBHOOK_SECRET}  # fmt: skip
        else:
            values |= {"health_port": port}
        settings = make_settings(telegram_api_base_url=telegram.base_url, **(values | overrides))
        runner = BotRunner(build_services(settings, clock=ManualClock()), mode)
        running = RunningBot(telegram, runner, port)
        started.append(running)
        await runner.start()
        return running

    yield factory
    for running in started:
        await running.runner.stop()
        await running.telegram.stop()
        assert running.telegram.spec_violations == [], "the bot made calls the Bot API would refuse"


def forged_help(user_id: int) -> dict[str, Any]:
    """An update as Telegram would send it, made up by someone who found the address."""
    sender = {"id": user_id, "is_bot": False, "first_name": "Mallory"}
    chat = {"id": user_id, "type": "private", "first_name": "Mallory"}
    return {"update_id": 990001, "message": {
        "message_id": 501, "date": int(time.time()), "chat": chat, "from": sender, "text": "/help",
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
    }}  # fmt: skip


async def post(url: str, body: Any, headers: dict[str, str] | None = None) -> int:
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers or {}) as response:
        return response.status


async def get_json(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


async def test_webhook_is_registered_with_the_secret_and_updates_are_answered(start_bot) -> None:
    bot = await start_bot()
    telegram = bot.telegram
    assert telegram.webhook == {"url": bot.webhook_url, "secret_token": WEBHOOK_SECRET, "max_connections": 40}
    assert telegram.allowed_updates == list(ALLOWED_UPDATES)
    ann = telegram.user(5001, "Ann")
    telegram.send_command(ann, "help")
    answer = await telegram.wait_for_message(ann, since=0)
    assert "clinic" in (answer.plain_text or "").lower()
    assert telegram.calls_to("getUpdates") == [], "webhook mode never polls"


async def test_requests_without_the_right_secret_are_refused_and_logged(start_bot, caplog) -> None:
    bot = await start_bot()
    telegram = bot.telegram
    mallory = telegram.user(6001, "Mallory")
    caplog.set_level(logging.WARNING, logger="aftercare_bot.bot.webhook")

    assert await post(bot.webhook_url, forged_help(6001)) == 403
    assert await post(bot.webhook_url, forged_help(6001), {SECRET_HEADER: WEBHOOK_SECRET + "x"}) == 403
    assert await post(bot.webhook_url, forged_help(6001), {SECRET_HEADER: ""}) == 403
    refusals = [r.getMessage() for r in caplog.records if "refused a webhook request" in r.getMessage()]
    assert len(refusals) == 3 and "no secret token from 127.0.0.1" in refusals[0]
    assert "wrong secret token" in refusals[1]
    assert WEBHOOK_SECRET not in caplog.text, "the secret never goes to the log"
    # With the right secret, a body that is not an update is refused as such.
    assert await post(bot.webhook_url, ["not", "an", "update"], {SECRET_HEADER: WEBHOOK_SECRET}) == 400

    # The genuine update, delivered by the emulator after the forged ones, is the only one answered.
    telegram.send_command(mallory, "help")
    await telegram.wait_for_message(mallory, since=0)
    await asyncio.sleep(0.2)
    assert len(telegram.bot_messages(mallory)) == 1


async def test_while_stopping_updates_are_left_with_telegram(start_bot) -> None:
    bot = await start_bot()
    assert bot.runner.webhook_server is not None
    bot.runner.webhook_server.stop_accepting()
    ann = bot.telegram.user(5001, "Ann")
    assert await post(bot.webhook_url, forged_help(5001), {SECRET_HEADER: WEBHOOK_SECRET}) == 503
    # Telegram keeps an update it could not deliver: the emulator records the failure and retries later.
    with bot.telegram.subscribe() as events:
        bot.telegram.send_command(ann, "help")
        async with asyncio.timeout(5):
            event = await events.get()
            while event.kind != "webhook_failed":
                event = await events.get()
    assert "503" in event.data["error"]
    assert bot.telegram.pending_updates, "the update is still waiting at Telegram"
    assert bot.telegram.bot_messages(ann) == []


async def stall(dispatcher: Any) -> None:
    """Make the dispatcher look hung an hour ago: passes already queued become no-ops, then time is set back."""

    async def hung() -> None:
        return None

    await dispatcher.wait_idle(5)
    dispatcher.run_due = hung
    dispatcher.last_progress = time.monotonic() - 3600


async def test_health_reports_database_and_dispatcher(start_bot) -> None:
    bot = await start_bot()
    status, body = await get_json(bot.health_url)
    assert status == 200, body
    assert body["status"] == "ok" and body["mode"] == "webhook" and body["database"] == "ok"
    assert body["dispatcher"] == "ok" and 0 <= body["dispatcher_last_tick_age_s"] < 5
    assert body["due_messages"] == 0 and body["replica"]

    dispatcher = bot.runner.services.runtime.dispatcher
    run_due = dispatcher.run_due
    await stall(dispatcher)
    status, body = await get_json(bot.health_url)
    assert status == 503 and body["dispatcher"] == "stalled" and body["database"] == "ok"
    await run_due()
    assert (await get_json(bot.health_url))[0] == 200, "a pass of the dispatcher makes it healthy again"


async def test_health_is_503_when_the_database_does_not_answer(start_bot, tmp_path: Path) -> None:
    bot = await start_bot()
    monitor = bot.runner.monitor
    unreachable = create_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/folder/bot.db")
    monitor.services = dataclasses.replace(monitor.services, session_factory=create_session_factory(unreachable))
    try:
        status, body = await get_json(bot.health_url)
    finally:
        await unreachable.dispose()
    assert status == 503 and body["status"] == "unhealthy"
    assert body["database"].startswith("error: ") and body["dispatcher"] == "ok"


async def test_health_says_stopping_once_a_stop_began(start_bot) -> None:
    bot = await start_bot()
    bot.runner.monitor.stopping = True
    status, body = await get_json(bot.health_url)
    assert status == 503 and body["status"] == "stopping"


async def test_polling_mode_serves_health_on_health_port_and_no_webhook(start_bot) -> None:
    bot = await start_bot(Mode.POLLING)
    status, body = await get_json(bot.health_url)
    assert status == 200 and body["mode"] == "polling"
    assert await post(f"http://127.0.0.1:{bot.port}/", forged_help(6001), {SECRET_HEADER: "x"}) in {404, 405}
    ann = bot.telegram.user(5001, "Ann")
    bot.telegram.send_command(ann, "help")
    await bot.telegram.wait_for_message(ann, since=0)
    assert bot.telegram.webhook is None


def bot_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("CLINIC_PHONE", "+44 20 7946 0000")
    monkeypatch.setenv("ADMIN_IDS", str(ADMIN_ID))
    for name, value in values.items():
        monkeypatch.setenv(name.upper(), value)


async def test_health_command_asks_the_running_bot(start_bot, monkeypatch, capsys) -> None:
    bot = await start_bot()
    bot_env(monkeypatch, webhook_listen="127.0.0.1", webhook_url=bot.webhook_url, webhook_port=str(bot.port),
            telegram_api_base_url=bot.telegram.base_url)  # fmt: skip
    # The command blocks while it waits for the answer, so it runs beside the event loop serving it.
    assert await asyncio.to_thread(main, ["health"]) == 0
    assert capsys.readouterr().out.startswith("healthy: status=ok, mode=webhook, database=ok")

    # A stalled dispatcher: no pass runs (the scheduler is paused) and the last one was an hour ago.
    await stall(bot.runner.services.runtime.dispatcher)
    assert await asyncio.to_thread(main, ["health"]) == 1
    assert "dispatcher=stalled" in capsys.readouterr().out

    assert await asyncio.to_thread(main, ["health", "--port", str(free_port()), "--timeout", "2"]) == 1
    assert "unhealthy: no answer from http://127.0.0.1:" in capsys.readouterr().out


def test_health_command_without_a_port_says_what_to_set(make_settings, monkeypatch, capsys) -> None:
    bot_env(monkeypatch)
    assert main(["health"]) == 1
    assert "set HEALTH_PORT" in capsys.readouterr().err


def test_webhook_mode_needs_an_address_and_a_secret(make_settings, monkeypatch, capsys) -> None:
    bot_env(monkeypatch)
    assert main(["run", "--webhook"]) == 2
    err = capsys.readouterr().err
    assert "WEBHOOK_URL: is required in webhook mode" in err and "WEBHOOK_SECRET: is required" in err

    with pytest.raises(SystemExit) as stopped:
        main(["run", "--webhook-url", "https://bot.example.org/tg", "--secret-token", "not allowed!"])
    assert stopped.value.code == 2
    assert "WEBHOOK_SECRET: must be 1 to 256 characters" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("x" * 257, "must be 1 to 256 characters"),
        ("tab\there", "must be 1 to 256 characters"),
        ("ünïcode", "must be 1 to 256 characters"),
    ],
)
def test_webhook_secret_shape_is_checked(value: str, problem: str) -> None:
    base = {"_env_file": None, "telegram_bot_token": "1:a", "clinic_phone": "1", "admin_ids": "5"}
    with pytest.raises(ValidationError) as caught:
        Settings(**base, webhook_secret=value)  # type: ignore[arg-type]
    assert f"WEBHOOK_SECRET: {problem}" in describe_errors(caught.value)
    ok = Settings(**base, webhook_secret="A-z_09" * 40)  # type: ignore[arg-type]
    assert ok.webhook_secret is not None


def test_webhook_url_must_be_https_unless_a_local_bot_api_server_is_used() -> None:
    base = {"_env_file": None, "telegram_bot_token": "1:a", "clinic_phone": "1", "admin_ids": "5"}
    with pytest.raises(ValidationError) as caught:
        Settings(**base, webhook_url="http://bot.example.org/tg")  # type: ignore[arg-type]
    assert "WEBHOOK_URL: Telegram only delivers to https:// addresses" in describe_errors(caught.value)
    with pytest.raises(ValidationError):
        Settings(**base, webhook_url="bot.example.org/tg")  # type: ignore[arg-type]
    local = Settings(**base, webhook_url="http://bot:8080/tg", telegram_api_base_url="http://api:8081/bot")  # type: ignore[arg-type]
    assert local.webhook_url == "http://bot:8080/tg"
    assert Settings(**base, webhook_url="", health_port="").webhook_url is None  # type: ignore[arg-type]
    assert webhook_path("https://bot.example.org/tg/hook") == "/tg/hook" and webhook_path("https://b.org") == "/"


def test_flags_override_settings_and_the_mode_follows_webhook_url(make_settings, monkeypatch, tmp_path) -> None:
    chosen: list[tuple[Settings, Mode]] = []

    async def fake_serve(services, mode) -> int:  # type: ignore[no-untyped-def]
        chosen.append((services.settings, mode))
        await services.engine.dispose()
        return 0

    monkeypatch.setattr("aftercare_bot.bot.runner.serve", fake_serve)
    bot_env(monkeypatch, database_url=f"sqlite+aiosqlite:///{tmp_path}/bot.db", webhook_url="https://b.example.org/t",
            webhook_secret="from-env", webhook_port="9000")  # fmt: skip
    assert main(["run", "--port", "9100", "--listen", "127.0.0.1", "--secret-token", "from-flag"]) == 0
    settings, mode = chosen[-1]
    assert mode == Mode.WEBHOOK and settings.webhook_port == 9100 and settings.webhook_listen == "127.0.0.1"
    assert settings.webhook_secret is not None and settings.webhook_secret.get_secret_value() == "from-flag"
    assert main(["run", "--polling"]) == 0
    assert chosen[-1][1] == Mode.POLLING and chosen[-1][0].webhook_port == 9000


async def test_run_says_so_and_exits_1_when_the_port_is_taken(make_settings, monkeypatch, tmp_path, caplog) -> None:
    async with BotApiEmulator(token=TOKEN, bot_username="glow_aftercare_bot") as telegram:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            bot_env(monkeypatch, database_url=f"sqlite+aiosqlite:///{tmp_path}/bot.db", webhook_listen="127.0.0.1",
                    telegram_api_base_url=telegram.base_url, webhook_url=f"http://127.0.0.1:{port}/tg",
                    webhook_port=str(port), webhook_secret=WEBHOOK_SECRET)  # fmt: skip
            # `run` runs its own event loop, so it runs beside this one (which serves the emulator).
            assert await asyncio.to_thread(main, ["run"]) == 1
    assert "the bot could not start" in caplog.text and str(port) in caplog.text
    assert telegram.webhook is None, "nothing was registered for a bot that is not listening"
