"""The durable schedule: enrolment creates rows, the dispatcher sends them once, at the right time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from aftercare_bot import jobs
from aftercare_bot.db.models import Client, ClientStatus, Delivery, DeliveryState, OutboxMessage
from aftercare_bot.dispatch import Dispatcher
from aftercare_bot.outbound import RecipientBlocked, SendRejected, SendRetryLater
from aftercare_bot.outbox import Outbox
from aftercare_bot.staff_notify import blocked_notifier
from tests.conftest import STAFF_CHAT_ID
from tests.escalation_rig import FakeMessenger

# A Tuesday in winter, so Europe/London is UTC and clock arithmetic is easy to read.
SESSION = datetime(2026, 1, 13, 14, 0, tzinfo=UTC)


async def states(rig) -> dict[str, str]:  # type: ignore[no-untyped-def]
    async with rig.services.session_factory() as session:
        rows = await session.scalars(select(Delivery).order_by(Delivery.due_at))
        return {row.step_key: row.state for row in rows}


async def test_enrolment_schedules_every_step_and_sends_each_when_due(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    accepted = await rig.enrol()
    assert accepted.problem is None and accepted.scheduled == 6

    await rig.dispatcher.run_due()
    assert rig.sender.sent == []  # nothing is due at the moment of the session

    rig.advance(timedelta(hours=4, seconds=1))
    await rig.dispatcher.run_due()
    assert len(rig.sender.sent) == 1 and "Ann" in rig.sender.sent[0].html

    rig.clock.set(datetime(2026, 1, 14, 10, 0, 5, tzinfo=UTC))
    report = await rig.dispatcher.run_due()
    assert report.sent == 1
    checkin = rig.sender.sent[-1]
    assert len(checkin.buttons) == 3, "the day-1 check-in carries answer buttons"
    assert (await states(rig))["day1_checkin"] == DeliveryState.SENT

    await rig.dispatcher.run_due()
    assert len(rig.sender.sent) == 2, "a sent message is never sent again"


async def test_step_past_its_grace_period_is_skipped_not_sent(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    await rig.enrol()
    rig.clock.set(datetime(2026, 1, 15, 9, 0, tzinfo=UTC))  # day 2 before 10:00: evening and day-1 steps are stale
    report = await rig.dispatcher.run_due()
    assert report.sent == 0 and report.skipped == 2
    found = await states(rig)
    assert found["same_evening"] == found["day1_checkin"] == DeliveryState.SKIPPED
    assert found["day2_sun"] == DeliveryState.PENDING


async def test_quiet_hours_defer_to_the_morning(make_settings, rigs) -> None:
    rig = rigs(make_settings(quiet_hours="21:00-08:00"), datetime(2026, 1, 13, 19, 0, tzinfo=UTC))
    await rig.enrol()  # evening message due at 23:00, inside quiet hours
    async with rig.services.session_factory() as session:
        evening = await session.scalar(select(Delivery).where(Delivery.step_key == "same_evening"))
    assert evening.send_at == datetime(2026, 1, 14, 8, 0, tzinfo=UTC)
    rig.clock.set(datetime(2026, 1, 13, 23, 30, tzinfo=UTC))
    await rig.dispatcher.run_due()
    assert rig.sender.sent == []
    rig.clock.set(datetime(2026, 1, 14, 8, 0, 1, tzinfo=UTC))
    await rig.dispatcher.run_due()
    assert len(rig.sender.sent) == 1


async def test_transient_failures_retry_with_backoff_then_succeed(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    await rig.enrol()
    rig.sender.failures = [SendRetryLater("flood control", retry_after=30), SendRetryLater("network down")]
    rig.advance(timedelta(hours=4, seconds=1))
    report = await rig.dispatcher.run_due()
    assert report.retried == 1 and rig.sender.sent == []
    async with rig.services.session_factory() as session:
        row = await session.scalar(select(Delivery).where(Delivery.step_key == "same_evening"))
    assert row.state == DeliveryState.PENDING and row.send_at >= rig.clock.now() + timedelta(seconds=29)
    assert "flood control" in (row.last_error or "")

    rig.advance(timedelta(seconds=31))
    await rig.dispatcher.run_due()  # second failure
    rig.advance(timedelta(minutes=1))
    await rig.dispatcher.run_due()
    assert len(rig.sender.sent) == 1
    async with rig.services.session_factory() as session:
        row = await session.scalar(select(Delivery).where(Delivery.step_key == "same_evening"))
    assert row.state == DeliveryState.SENT and row.attempts == 3


async def test_refused_message_is_marked_failed_and_the_rest_go_on(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    await rig.enrol()
    rig.sender.failures = [SendRejected("can't parse entities")]
    rig.advance(timedelta(hours=4, seconds=1))
    assert (await rig.dispatcher.run_due()).failed == 1
    assert (await states(rig))["same_evening"] == DeliveryState.FAILED


async def test_blocked_client_is_unreachable_and_staff_are_told(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    await rig.enrol()
    rig.sender.failures = [RecipientBlocked("Forbidden: bot was blocked by the user")]
    rig.advance(timedelta(hours=4, seconds=1))
    await rig.dispatcher.run_due()
    assert set((await states(rig)).values()) == {DeliveryState.CANCELLED}
    async with rig.services.session_factory() as session:
        client = await session.scalar(select(Client))
    assert client.status == ClientStatus.UNREACHABLE
    assert len(rig.blocked) == 1 and rig.blocked[0][1] == 6


async def test_a_message_in_flight_at_a_crash_is_sent_again_after_the_lease(make_settings, rigs) -> None:
    settings = make_settings(send_lease="2m")
    rig = rigs(settings, SESSION)
    await rig.enrol()
    rig.advance(timedelta(hours=4, seconds=1))
    # Simulate a replica that claimed the row and died before recording the send.
    from aftercare_bot.db import deliveries

    async with rig.services.session_factory.begin() as session:
        claimed = await deliveries.claim_due(session, now=rig.clock.now(), limit=10, owner="dead")
    assert [row.step_key for row in claimed] == ["same_evening"]
    await rig.dispatcher.run_due()
    assert rig.sender.sent == [], "a fresh claim belongs to its owner"
    rig.advance(timedelta(minutes=3))
    await rig.dispatcher.run_due()
    assert len(rig.sender.sent) == 1


async def test_new_session_supersedes_what_remains_of_the_old_plan(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    await rig.enrol()
    rig.advance(timedelta(days=8))
    await rig.dispatcher.run_due()  # sends or skips everything up to day 7
    await rig.enrol()
    async with rig.services.session_factory() as session:
        cancelled = await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.CANCELLED)
        )
        pending = await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.PENDING)
        )
    assert cancelled == 1  # the week-6 message of the first session
    assert pending == 6


async def test_two_dispatchers_never_send_the_same_row(make_settings, rigs) -> None:
    settings = make_settings(dispatch_batch_size=3)
    first, second = rigs(settings, SESSION, "a"), rigs(settings, SESSION, "b")
    for user in range(20):
        await first.enrol(user_id=7000 + user, name=f"Client {user}")
    for rig in (first, second):
        rig.advance(timedelta(hours=4, seconds=1))
    await asyncio.gather(first.dispatcher.run_due(), second.dispatcher.run_due())
    chats = [m.chat_id for m in first.sender.sent + second.sender.sent]
    assert sorted(chats) == list(range(7000, 7020))


async def test_a_pass_runs_timers_before_the_plan_message_backlog(make_settings, rigs) -> None:
    """Escalation re-alerts and queued safety messages must not wait behind plan messages."""
    rig = rigs(make_settings(), SESSION)
    order: list[str] = []

    class Recorder:
        def __init__(self, name: str) -> None:
            self.name = name

        async def run_due(self) -> None:
            order.append(self.name)

    rig.services.runtime["dispatcher"] = Recorder("plan messages")
    rig.services.runtime["timer_runner"] = Recorder("timers")
    await jobs.run_pending_work(rig.services)
    assert order == ["timers", "plan messages"]


async def test_the_blocked_notice_is_queued_with_the_block_and_sent_after_it(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    messenger = FakeMessenger(chat_failures={STAFF_CHAT_ID: [SendRetryLater("flood")]})
    rig.services.runtime["outbox"] = Outbox(rig.services, messenger)
    dispatcher = Dispatcher(
        settings=rig.services.settings, session_factory=rig.services.session_factory, sender=rig.sender,
        clock=rig.clock, composer=rig.services.composer, on_blocked=blocked_notifier(rig.services), owner="test",
    )
    await rig.enrol()
    rig.sender.failures = [RecipientBlocked("Forbidden: bot was blocked by the user")]
    rig.advance(timedelta(hours=4, seconds=1))
    await dispatcher.run_due()
    async with rig.services.session_factory() as session:
        client = await session.scalar(select(Client))
        [queued] = (await session.scalars(select(OutboxMessage))).all()
    assert client.status == ClientStatus.UNREACHABLE
    assert queued.chat_id == STAFF_CHAT_ID and queued.client_id == client.id and "blocked the bot" in queued.html
    assert queued.attempts == 1, "sent at once after the commit; Telegram asked to wait, so it stays queued"

    await rig.services.runtime["outbox"].deliver(STAFF_CHAT_ID)
    [notice] = messenger.texts_to(STAFF_CHAT_ID)
    assert "Ann" in notice and "blocked the bot" in notice
