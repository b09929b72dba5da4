"""SIGTERM stops the bot gracefully: updates stop, the message being sent is finished and recorded, exit 0."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from aftercare_bot.db.models import Delivery, DeliveryState
from aftercare_bot.db.session import create_engine
from aftercare_bot.delivery.ports import OutboundMessage
from aftercare_bot.sandbox.emulator.server import BotApiEmulator
from tests.bot_process import WEBHOOK_SECRET, BotProcess, bot_environment, free_port, schedule_due_messages
from tests.conftest import TOKEN

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


async def test_a_stopping_dispatcher_finishes_its_batch_and_claims_no_more(make_settings, rigs, database_url) -> None:
    rig = rigs(make_settings(dispatch_batch_size=2), datetime.now(UTC))
    await schedule_due_messages(database_url, [5001, 5002, 5003, 5004, 5005], "microneedling", ["same_evening"])
    release, both_sending = asyncio.Event(), asyncio.Event()
    in_flight: list[int] = []

    class SlowSender:
        async def send(self, message: OutboundMessage) -> int:
            in_flight.append(message.chat_id)
            if len(in_flight) == 2:
                both_sending.set()
            await release.wait()
            return len(in_flight)

    rig.dispatcher.sender = SlowSender()
    passing = asyncio.create_task(rig.dispatcher.run_due())
    await asyncio.wait_for(both_sending.wait(), 5)
    rig.dispatcher.stop_claiming()  # as on SIGTERM, while the first batch is on its way
    assert await rig.dispatcher.wait_idle(0.05) is False, "a pass is still sending"
    release.set()
    assert await rig.dispatcher.wait_idle(5) is True
    report = await passing
    assert report.sent == 2 and sorted(in_flight) == [5001, 5002]
    async with rig.services.session_factory() as session:
        rows = (await session.scalars(select(Delivery).order_by(Delivery.chat_id))).all()
    assert [(r.chat_id, r.state) for r in rows] == [(5001, "sent"), (5002, "sent")] + [
        (chat, "pending") for chat in (5003, 5004, 5005)
    ], "the rest stays in the queue for another replica"
    assert all(r.attempts == 0 for r in rows[2:])
    assert (await rig.dispatcher.run_due()).sent == 0, "a stopped dispatcher claims nothing"
