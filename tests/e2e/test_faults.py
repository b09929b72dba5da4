"""Faults end to end: Telegram refusing, failing, slow or unreachable; the database going away. The bot process
killed mid-dispatch is in tests/system/test_kill_mid_dispatch.py.

Whatever happens, every scheduled message and escalation is delivered, once (a message in flight when the
process dies may go out twice), the bot keeps running, and each fault leaves a clear line in the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.bot import jobs
from aftercare_bot.db.models import Client, ClientStatus, Delivery, DeliveryState
from aftercare_bot.db.repositories import deliveries
from aftercare_bot.db.session import create_engine
from aftercare_bot.delivery.ports import OutboundMessage, Sender
from aftercare_bot.sandbox.emulator.server import BotApiEmulator
from tests.support.bot_process import schedule_due_messages
from tests.support.outages import database_outage

EVENING = "thank you for visiting"  # the same-evening message of the micro-needling plan
CHECKIN = "how is your skin today"  # the day-1 check-in
SAFETY = "needs attention now"
REALERT = "still not claimed"
FINAL = "nobody from the team has answered yet"
URGENT_TEXT = "It is still bleeding a lot and there is pus"
EVENING_DUE = timedelta(hours=4, seconds=5)


def count(telegram: BotApiEmulator, chat: object, needle: str) -> int:
    return sum(needle in (message.plain_text or "") for message in telegram.bot_messages(chat))


async def due_now(bot, *user_ids: int) -> list:  # type: ignore[no-untyped-def]
    """Clients (in Telegram and in the database) whose evening message is due now."""
    users = [bot.telegram.user(user_id, f"C{user_id}") for user_id in user_ids]
    await schedule_due_messages(bot.settings.database_url, list(user_ids), "microneedling", ["same_evening"])
    return users


async def evening_row(bot, user_id: int = 5001) -> Delivery:  # type: ignore[no-untyped-def]
    async with bot.services.session_factory() as session:
        return await session.scalar(
            select(Delivery).where(Delivery.step_key == "same_evening", Delivery.chat_id == user_id)
        )


# -- Telegram: flood control ---------------------------------------------------------------------------------


async def test_flood_control_is_waited_out_no_sooner_than_telegram_asks(bot, caplog) -> None:
    bot.telegram.fail_next("sendMessage", status=429, retry_after=30)
    [ann] = await due_now(bot, 5001)
    await bot.run_due()
    assert count(bot.telegram, ann, EVENING) == 0
    row = await evening_row(bot)
    assert row.state == DeliveryState.PENDING
    assert row.send_at >= bot.clock.now() + timedelta(seconds=29), "Telegram asked for 30 seconds"
    assert "flood control" in caplog.text and "retrying at" in caplog.text

    await bot.jump(timedelta(seconds=25))
    assert count(bot.telegram, ann, EVENING) == 0, "not before Telegram allows"
    await bot.jump(timedelta(seconds=6))
    assert count(bot.telegram, ann, EVENING) == 1
    await bot.jump(timedelta(minutes=10))
    assert count(bot.telegram, ann, EVENING) == 1
    assert bot.telegram.stats.too_many_requests == 1
    assert (await evening_row(bot)).state == DeliveryState.SENT


async def test_with_the_rate_limiter_a_429_is_retried_in_place_after_the_wait(bot_factory, caplog) -> None:
    caplog.set_level(logging.INFO, logger="telegram.ext")
    bot = await bot_factory(flood_limits=True)  # as in production
    with bot.telegram.subscribe() as events:
        bot.telegram.fail_next("sendMessage", status=429, retry_after=1)
        [ann] = await due_now(bot, 5001)
        await bot.run_due()
        seen = events.drain()
    refused = next(e for e in seen if e.kind == "error_response" and e.data["status"] == 429)
    sent = next(e for e in seen if e.kind == "message_sent" and e.data["chat_id"] == ann.id)
    assert sent.time - refused.time >= 1.0, "retried no sooner than Telegram asked"
    assert count(bot.telegram, ann, EVENING) == 1
    assert "Rate limit hit" in caplog.text
    assert (await evening_row(bot)).attempts == 1, "the limiter retried; the dispatcher saw one success"


# -- Telegram: errors, timeouts, dropped connections ---------------------------------------------------------

FAILED_SENDS = {
    "502": (lambda telegram: telegram.fail_next("sendMessage", status=502), "network: Bad Gateway"),
    "500": (lambda telegram: telegram.fail_next("sendMessage", status=500), "network: Internal Server Error"),
    # Longer than TELEGRAM_TIMEOUT below: the bot gives up waiting for the answer.
    "timeout": (lambda telegram: telegram.set_delay("sendMessage", 1.0), "network: Timed out"),
    "dropped": (lambda telegram: telegram.drop_connections(1, "sendMessage"), "network: httpx.RemoteProtocolError"),
}


@pytest.mark.parametrize("fault", FAILED_SENDS)
async def test_a_failed_send_is_retried_with_backoff_and_delivered_once(fault, bot_factory, caplog) -> None:
    bot = await bot_factory(telegram_timeout=0.5)
    inject, logged = FAILED_SENDS[fault]
    inject(bot.telegram)
    [ann] = await due_now(bot, 5001)
    await bot.run_due()
    bot.telegram.set_delay("sendMessage", None)
    assert logged in caplog.text and "retrying at" in caplog.text
    row = await evening_row(bot)
    assert row.state == DeliveryState.PENDING and row.attempts == 1
    assert row.send_at >= bot.clock.now() + timedelta(seconds=4), "backoff starts at 5 seconds"
    if fault == "timeout":
        await asyncio.sleep(0.6)  # the abandoned call would have been answered by now
    assert count(bot.telegram, ann, EVENING) == 0

    await bot.jump(timedelta(seconds=6))
    assert count(bot.telegram, ann, EVENING) == 1
    await bot.jump(timedelta(minutes=10))
    assert count(bot.telegram, ann, EVENING) == 1
    row = await evening_row(bot)
    assert row.state == DeliveryState.SENT and row.attempts == 2


async def test_network_down_for_a_while_loses_no_message_and_no_escalation(bot, caplog) -> None:
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann")
    since = telegram.last_message_id(bot.staff_chat)
    telegram.send_text(ann, URGENT_TEXT)
    await telegram.wait_for_message(ann, SAFETY, since=0)
    await telegram.wait_for_message(bot.staff_chat, "URGENT", since=since)

    telegram.set_down(True)
    await bot.jump(timedelta(minutes=10, seconds=5))  # nobody claimed the case: the re-alert is due
    await bot.jump(EVENING_DUE)  # and the evening message, and the client's final notice
    await asyncio.sleep(1.0)  # still down: the poller fails too
    await bot.jump(timedelta(minutes=1))
    telegram.set_down(False)
    assert count(telegram, ann, EVENING) == count(telegram, bot.staff_chat, REALERT) == 0
    assert "network:" in caplog.text and "retrying at" in caplog.text  # the plan message
    assert "must wait: network:" in caplog.text  # the escalation timers
    assert "Exception happened while polling for updates" in caplog.text

    await bot.jump(timedelta(minutes=1))
    assert count(telegram, ann, EVENING) == 1
    assert count(telegram, bot.staff_chat, REALERT) == 1
    assert count(telegram, ann, FINAL) == 1
    assert count(telegram, ann, SAFETY) == 1
    # Updates flow again: the poller recovered on its own.
    since = telegram.last_message_id(ann)
    telegram.send_command(ann, "help")
    await telegram.wait_for_message(ann, bot.settings.clinic_phone, since=since, timeout=10)
    await bot.jump(timedelta(minutes=30))
    assert count(telegram, ann, EVENING) == count(telegram, bot.staff_chat, REALERT) == count(telegram, ann, FINAL) == 1


async def test_a_client_who_blocked_the_bot_holds_up_no_one_else(bot, caplog) -> None:
    """The single-client case is in test_e2e_core; here the blocked client shares a batch with others."""
    telegram = bot.telegram
    telegram.block(telegram.user(5002, "C5002"))
    clients = await due_now(bot, 5001, 5002, 5003)
    await bot.run_due()
    assert [count(telegram, client, EVENING) for client in clients] == [1, 0, 1]
    await telegram.wait_for_message(bot.staff_chat, "blocked the bot", since=0)
    await bot.jump(timedelta(days=2))
    assert count(telegram, bot.staff_chat, "blocked the bot") == 1
    async with bot.services.session_factory() as session:
        statuses = dict((await session.execute(select(Client.telegram_user_id, Client.status))).all())
    assert statuses == {5001: ClientStatus.ACTIVE, 5002: ClientStatus.UNREACHABLE, 5003: ClientStatus.ACTIVE}
    assert "client 2 blocked the bot; cancelled" in caplog.text


# -- the bot killed mid-dispatch (the kill itself: tests/system/test_kill_mid_dispatch.py) -----------------


async def test_a_pass_claims_one_batch_at_a_time(database_url: str) -> None:
    """What a dead sender leaves in flight is one batch at most; claiming the whole backlog at once would also
    let the lease hand rows still waiting in a slow batch to a second sender."""
    await schedule_due_messages(database_url, list(range(5001, 5006)), "microneedling", ["same_evening"])
    engine = create_engine(database_url)
    try:
        claimed = []
        for _ in range(4):
            async with engine.begin() as connection:
                session = AsyncSession(bind=connection)
                batch = await deliveries.claim_due(session, now=datetime.now(UTC), limit=2, owner="test")
                claimed.append(sorted(row.chat_id for row in batch))
    finally:
        await engine.dispose()
    assert claimed == [[5001, 5002], [5003, 5004], [5005], []]


# -- the database going away mid-dispatch --------------------------------------------------------------------


class OutageAfterSend:
    """A sender that starts a database outage the moment Telegram has accepted the first message."""

    def __init__(self, inner: Sender, start_outage: Callable[[], Awaitable[None]]) -> None:
        self.inner = inner
        self.start_outage: Callable[[], Awaitable[None]] | None = start_outage

    async def send(self, message: OutboundMessage) -> int:
        message_id = await self.inner.send(message)
        if self.start_outage is not None:
            start, self.start_outage = self.start_outage, None
            await start()
        return message_id


async def test_database_going_away_mid_dispatch_loses_and_repeats_nothing(
    database_url: str, bot_factory, caplog
) -> None:
    # The lease outlasts the outage twice over: a send that went out is recorded, not repeated.
    bot = await bot_factory(send_lease="5s")
    telegram = bot.telegram
    outage = await database_outage(database_url, bot)
    clients = [await bot.enrol_client(5001 + n, name) for n, name in enumerate(("Ann", "Bo"))]
    outage_over = asyncio.Event()

    async def outage_for_a_while() -> None:
        await outage.begin()

        async def later() -> None:
            await asyncio.sleep(1.0)
            await outage.end()
            outage_over.set()

        background.append(asyncio.create_task(later()))

    background: list[asyncio.Task[None]] = []
    dispatcher = bot.services.runtime.dispatcher
    dispatcher.sender = OutageAfterSend(dispatcher.sender, outage_for_a_while)
    try:
        # 1. The database goes away just after Telegram accepted a message: recording it waits.
        bot.clock.advance(EVENING_DUE)
        jobs.wake(bot.application)
        for client in clients:
            await telegram.wait_for_message(client, EVENING, since=0, timeout=10)
        await asyncio.wait_for(outage_over.wait(), 10)
        await bot.run_due()  # waits for the pass to finish recording
        async with bot.services.session_factory() as session:
            states = (await session.scalars(select(Delivery.state).where(Delivery.step_key == "same_evening"))).all()
        assert states == [DeliveryState.SENT] * 2

        # 2. The database is away when a pass starts: the pass fails, the next tick succeeds.
        outage_over.clear()
        await outage_for_a_while()
        london = bot.clock.now().astimezone(ZoneInfo("Europe/London"))
        bot.clock.set((london + timedelta(days=1)).replace(hour=10, minute=0, second=5))  # day-1 check-ins due
        jobs.wake(bot.application)
        for client in clients:
            await telegram.wait_for_message(client, CHECKIN, since=0, timeout=10)
        assert "dispatch pass failed; will retry on the next tick" in caplog.text
        await bot.run_due()
        await bot.jump(timedelta(minutes=5))
        assert [count(telegram, client, EVENING) for client in clients] == [1, 1]
        assert [count(telegram, client, CHECKIN) for client in clients] == [1, 1]
        assert "went out but the database could not record it" in caplog.text
        # Still serving updates.
        since = telegram.last_message_id(clients[0])
        telegram.send_command(clients[0], "help")
        await telegram.wait_for_message(clients[0], bot.settings.clinic_phone, since=since)
    finally:
        for task in background:
            await task
        await outage.close()
