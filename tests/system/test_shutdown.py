"""SIGTERM stops the bot gracefully: updates stop, the message being sent is finished and recorded, exit 0.
The dispatcher's part, in process: tests/domain/test_dispatcher_stopping.py."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from sqlalchemy import select

from aftercare_bot.db.models import Delivery, DeliveryState
from aftercare_bot.db.session import create_engine
from aftercare_bot.sandbox.emulator.server import BotApiEmulator
from tests.conftest import TOKEN
from tests.support.bot_process import WEBHOOK_SECRET, BotProcess, bot_environment, free_port, schedule_due_messages

CLIENT_ID = 5001


async def wait_for_state(database_url: str, state: DeliveryState, timeout: float = 20.0) -> Delivery:  # noqa: ASYNC109
    engine = create_engine(database_url)
    try:
        async with asyncio.timeout(timeout):
            while True:
                async with engine.connect() as connection:
                    row = (await connection.execute(select(Delivery))).one()
                if row.state == state:
                    return row
                await asyncio.sleep(0.05)
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("mode", "signum"),
    [("polling", signal.SIGTERM), ("webhook", signal.SIGTERM), ("polling", signal.SIGINT)],
    ids=["polling-SIGTERM", "webhook-SIGTERM", "polling-SIGINT"],
)
async def test_stop_signal_lets_the_message_being_sent_finish(
    mode: str, signum: signal.Signals, database_url: str, tmp_path: Path
) -> None:
    async with BotApiEmulator(token=TOKEN, bot_username="glow_aftercare_bot") as telegram:
        telegram.user(CLIENT_ID, "Ann")
        await schedule_due_messages(database_url, [CLIENT_ID], "microneedling", ["same_evening"])
        telegram.set_delay("sendMessage", 1.5)  # the send is still on its way when the signal comes
        port = free_port()
        settings: dict[str, object] = {
            "telegram_api_base_url": telegram.base_url, "database_url": database_url, "dispatch_tick": "1s",
            "shutdown_timeout": "10s", "webhook_listen": "127.0.0.1",
        }
        args: list[str] = []
        if mode == "webhook":
            settings |= {"webhook_url": f"http://127.0.0.1:{port}/telegram", "webhook_port": port,
                         "webhook_secret": WEBHOOK_SECRET}  # fmt: skip
            args = ["--webhook"]
        else:
            settings |= {"health_port": port}
        bot = BotProcess(tmp_path, "bot", bot_environment(**settings), *args)
        await bot.start()
        try:
            await bot.wait_healthy(port)
            claimed = await wait_for_state(database_url, DeliveryState.SENDING)
            assert claimed.attempts == 1
            exit_code = await bot.stop(signum)
        finally:
            await bot.kill()

        log = bot.log
        assert exit_code == 0, log
        assert f"{signum.name} received: taking no more updates" in log
        assert "aftercare bot stopped cleanly" in log
        row = await wait_for_state(database_url, DeliveryState.SENT, timeout=1)
        sent = telegram.bot_messages(CLIENT_ID)
        assert [m.message_id for m in sent] == [row.telegram_message_id], "sent once, and recorded as sent"
        assert f"Hello C{CLIENT_ID}" in (sent[0].plain_text or "")
        if mode == "webhook":
            # Other replicas may still be serving the same address, so stopping leaves the webhook in place.
            assert telegram.webhook is not None and telegram.webhook["secret_token"] == WEBHOOK_SECRET
            assert telegram.calls_to("getUpdates") == []
            assert telegram.calls_to("deleteWebhook") == []
        assert telegram.spec_violations == []
