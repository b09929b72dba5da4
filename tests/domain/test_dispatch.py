"""The durable schedule: enrolment creates rows, the dispatcher sends them once, at the right time."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.app import build_runtime
from aftercare_bot.bot import jobs
from aftercare_bot.config import SHIPPED_MESSAGES_DIR
from aftercare_bot.db.models import Client, ClientStatus, Delivery, DeliveryState, Enrolment, OutboxMessage
from aftercare_bot.db.repositories import deliveries
from aftercare_bot.db.session import create_engine
from aftercare_bot.delivery.ports import OutboundMessage, RecipientBlocked, SendRejected, SendRetryLater
from aftercare_bot.services import NotStartedError
from tests.conftest import STAFF_CHAT_ID
from tests.support.bot_process import schedule_due_messages
from tests.support.escalation_rig import FakeMessenger

# A Tuesday in winter, so Europe/London is UTC and clock arithmetic is easy to read.
SESSION = datetime(2026, 1, 13, 14, 0, tzinfo=UTC)


def no_wake(delay: float) -> None:
    """No job queue here: what is postponed waits for the test's next pass."""


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
    """Run one after the other (tests, the sandbox's clock), the client lane goes first, plans last."""
    rig = rigs(make_settings(), SESSION)
    order: list[str] = []

    class Recorder:
        def __init__(self, name: str) -> None:
            self.name = name

        async def run_due(self) -> None:
            order.append(self.name)

        async def run_lane(self, lane: str) -> None:
            order.append(f"{self.name} ({lane})")

        run_if_due = run_due

    runtime = build_runtime(rig.services, sender=rig.sender, messenger=FakeMessenger(), wake=no_wake, owner="test")
    rig.services.set_runtime(replace(
        runtime, dispatcher=Recorder("plan messages"), timer_runner=Recorder("timers"), retention=Recorder("purge"),
    ))
    await jobs.run_pending_work(rig.services)
    assert order == ["timers (client)", "timers (staff)", "plan messages", "purge"]


async def test_the_runtime_is_built_once_and_not_read_before(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    assert not rig.services.started
    with pytest.raises(NotStartedError, match="before start-up built it"):
        _ = rig.services.runtime.outbox
    runtime = build_runtime(rig.services, sender=rig.sender, messenger=FakeMessenger(), wake=no_wake, owner="test")
    rig.services.set_runtime(runtime)
    assert rig.services.started and rig.services.runtime is runtime
    with pytest.raises(RuntimeError, match="built once"):
        rig.services.set_runtime(runtime)


async def test_the_blocked_notice_is_queued_with_the_block_and_sent_after_it(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    messenger = FakeMessenger(chat_failures={STAFF_CHAT_ID: [SendRetryLater("flood")]})
    runtime = build_runtime(rig.services, sender=rig.sender, messenger=messenger, wake=no_wake, owner="test")
    rig.services.set_runtime(runtime)
    dispatcher = runtime.dispatcher  # as start-up wires it: a block is told to the team through the outbox
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

    await runtime.outbox.deliver(STAFF_CHAT_ID)
    [notice] = messenger.texts_to(STAFF_CHAT_ID)
    assert "Ann" in notice and "blocked the bot" in notice


# -- claiming while sending --------------------------------------------------------------------------------


class WatchingSender:
    """Sends after a short, uneven pause, and notes what was on its way to each chat and in the database."""

    def __init__(self, database_url: str, steps: list[str]) -> None:
        self.engine = create_engine(database_url)
        self.steps = steps
        self.sent: list[tuple[int, str]] = []  # (chat, step) in the order Telegram got them
        self.on_the_way: set[int] = set()
        self.most_claimed = 0

    async def send(self, message: OutboundMessage) -> int:
        assert message.chat_id not in self.on_the_way, f"two messages on their way to chat {message.chat_id}"
        self.on_the_way.add(message.chat_id)
        async with self.engine.connect() as connection:
            claimed = await connection.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.SENDING)
            )
        self.most_claimed = max(self.most_claimed, claimed or 0)
        await asyncio.sleep(0.001 * (len(self.sent) % 5))
        self.on_the_way.discard(message.chat_id)
        step = next(step for step in self.steps if step in message.html)
        self.sent.append((message.chat_id, step))
        return len(self.sent)


async def test_pipelined_claims_send_each_message_once_and_in_order_per_chat(
    make_settings, rigs, database_url, tmp_path
) -> None:
    steps = [f"step{n}" for n in range(1, 4)]
    plans = tmp_path / "messages"
    shutil.copytree(SHIPPED_MESSAGES_DIR, plans)
    # Every plan needs a warning-sign step (with the clinic's phone and urgent-care advice): here each one is.
    (plans / "plans" / "bulk.yaml").write_text("treatment: bulk\ntitle:\n  en: Bulk\nsteps:\n" + "".join(
        f"  - key: {key}\n    due: {n}m\n    grace: 1d\n    warning_signs: true\n    text:\n"
        f"      en: \"{key} for {{client_name}}: call {{clinic_phone}} or emergency services\"\n"
        for n, key in enumerate(steps, start=1)
    ))
    users = list(range(6001, 6041))
    rig = rigs(make_settings(dispatch_batch_size=7, messages_dir=plans), datetime.now(UTC))
    # Three messages per chat, all due, so that most claims meet chats with a message still on its way.
    await schedule_due_messages(database_url, users, "bulk", steps)
    sender = WatchingSender(database_url, steps)
    rig.dispatcher.sender = sender
    try:
        report = await rig.dispatcher.run_due()
    finally:
        await sender.engine.dispose()

    assert report.sent == len(users) * len(steps)
    assert sorted(sender.sent) == sorted((user, step) for user in users for step in steps), "each one once"
    for user in users:
        assert [step for chat, step in sender.sent if chat == user] == steps, f"chat {user} out of order"
    assert sender.most_claimed <= 2 * 7, "never more than two batches claimed and not yet recorded"
    async with rig.services.session_factory() as session:
        rows = (await session.scalars(select(Delivery))).all()
    assert {row.state for row in rows} == {DeliveryState.SENT}
    assert all(row.attempts == 1 for row in rows), "no row was claimed twice"


class HeldSender:
    """Holds the message to the first chat until `release` is set; the others go straight through."""

    def __init__(self, held_chat: int, others: int) -> None:
        self.held_chat = held_chat
        self.release = asyncio.Event()
        self.others_sent = asyncio.Event()
        self.others = others
        self.sent: list[int] = []

    async def send(self, message: OutboundMessage) -> int:
        if message.chat_id == self.held_chat:
            await self.release.wait()
        self.sent.append(message.chat_id)
        if len(self.sent) == self.others:
            self.others_sent.set()
        return len(self.sent)


async def delivery_state(rig, chat_id: int) -> str:  # type: ignore[no-untyped-def]
    async with rig.services.session_factory() as session:
        return await session.scalar(select(Delivery.state).where(Delivery.chat_id == chat_id))


async def recorded_as_sent(rig, chat_id: int, within: float) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(int(within / 0.02)):
        if await delivery_state(rig, chat_id) == DeliveryState.SENT:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_slow_message_holds_up_neither_the_next_claim_nor_the_record_of_the_others(
    make_settings, rigs, database_url
) -> None:
    rig = rigs(make_settings(dispatch_batch_size=2), datetime.now(UTC))
    await schedule_due_messages(database_url, [5001, 5002, 5003, 5004], "microneedling", ["same_evening"])
    sender = HeldSender(held_chat=5001, others=3)
    rig.dispatcher.sender = sender
    passing = asyncio.create_task(rig.dispatcher.run_due())
    try:
        # 5001 and 5002 are the first batch; 5003 and 5004 can only go out if claimed while 5001 waits.
        await asyncio.wait_for(sender.others_sent.wait(), 10)
        assert sorted(sender.sent) == [5002, 5003, 5004]
        assert await recorded_as_sent(rig, 5004, within=10)
        assert await delivery_state(rig, 5002) == DeliveryState.SENT, "recorded without waiting for 5001"
        assert await delivery_state(rig, 5001) == DeliveryState.SENDING
    finally:
        sender.release.set()
    report = await passing
    assert report.sent == 4 and await delivery_state(rig, 5001) == DeliveryState.SENT


async def test_a_plan_edit_reaches_the_next_message_composed(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    await rig.enrol()
    rig.advance(timedelta(hours=4, seconds=1))
    catalog = rig.services.catalog
    plan = catalog.get("microneedling")
    async with rig.services.session_factory() as session:
        [row] = (await session.scalars(select(Delivery).where(Delivery.step_key == "same_evening"))).all()
        enrolment = await session.get(Enrolment, row.enrolment_id)
        before = rig.services.composer.compose(row, enrolment)
        evening = plan.step("same_evening")
        edited = replace(evening, texts={**evening.texts, "en": "Edited evening note for {first_name}"})
        catalog.replace(replace(plan, steps=tuple(edited if s is evening else s for s in plan.steps)), revision=7)
        after = rig.services.composer.compose(row, enrolment)
    assert before is not None and "Edited" not in before.message.html and before.plan_revision is None
    assert after is not None and after.message.html == "Edited evening note for Ann" and after.plan_revision == 7


async def test_finding_claims_left_by_a_dead_sender_stays_an_index_lookup_after_analyze(
    make_settings, rigs, database_url
) -> None:
    rig = rigs(make_settings(), datetime.now(UTC))
    users = list(range(10_000, 12_000))
    await schedule_due_messages(database_url, users, "microneedling", ["same_evening", "day2_sun"])
    engine = rig.services.engine
    table = Delivery.__table__
    async with engine.begin() as connection:
        await connection.execute(update(table).values(state=DeliveryState.SENT))
        await connection.execute(update(table).where(table.c.id % 500 == 0).values(
            state=DeliveryState.SENDING, claimed_at=datetime.now(UTC) - timedelta(hours=1)))
        await connection.exec_driver_sql("ANALYZE")
    statements: list[tuple[str, object]] = []

    def capture(connection, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append((statement, parameters))

    sqlite = engine.dialect.name == "sqlite"
    async with engine.connect() as connection:
        event.listen(engine.sync_engine, "before_cursor_execute", capture)
        try:
            released = await deliveries.release_stale_claims(
                AsyncSession(bind=connection), claimed_before=datetime.now(UTC) - timedelta(minutes=2)
            )
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", capture)
        [(statement, parameters)] = statements
        explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        plan = await connection.exec_driver_sql(explain + statement, parameters)
        lines = [str(row[-1] if sqlite else row[0]) for row in plan]
        await connection.rollback()
    assert released == 8
    assert any("ix_deliveries_sending_claimed_at" in line for line in lines), lines


class InterruptedSender:
    """Runs `meanwhile` in a transaction of its own while the message is on its way, then fails with `then`
    or sends."""

    def __init__(self, rig, meanwhile, then: Exception | None) -> None:  # type: ignore[no-untyped-def]
        self.rig = rig
        self.meanwhile = meanwhile
        self.then = then

    async def send(self, message: OutboundMessage) -> int:
        async with self.rig.services.session_factory.begin() as session:
            await self.meanwhile(session)
        if self.then is not None:
            raise self.then
        return 1001


@pytest.mark.parametrize(("then", "recorded"), [
    (None, DeliveryState.SENT),  # it went out: the record says so
    (SendRetryLater("Bad Gateway"), DeliveryState.CANCELLED),  # it did not: it is not tried again
], ids=["sent", "retried"])
async def test_a_row_cancelled_while_its_send_is_in_flight_is_not_sent_again(
    make_settings, rigs, then, recorded
) -> None:
    rig = rigs(make_settings(), SESSION)
    accepted = await rig.enrol()
    client_id = accepted.enrolment.client_id

    async def stop(session: AsyncSession) -> None:  # the client sent /stop, say
        await deliveries.cancel_open_for_client(session, client_id, "client stopped")

    rig.dispatcher.sender = InterruptedSender(rig, stop, then)
    rig.advance(timedelta(hours=4, seconds=1))
    await rig.dispatcher.run_due()
    by_step = await states(rig)
    assert by_step.pop("same_evening") == recorded
    assert set(by_step.values()) == {DeliveryState.CANCELLED}


async def test_a_row_another_replica_took_over_is_left_to_it(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    await rig.enrol()

    async def taken_over(session: AsyncSession) -> None:  # the send lease ran out and another replica claimed it
        await session.execute(update(Delivery).where(Delivery.state == DeliveryState.SENDING)
                              .values(claimed_by="other"))

    rig.dispatcher.sender = InterruptedSender(rig, taken_over, SendRetryLater("Bad Gateway"))
    rig.advance(timedelta(hours=4, seconds=1))
    await rig.dispatcher.run_due()
    async with rig.services.session_factory() as session:
        row = await session.scalar(select(Delivery).where(Delivery.step_key == "same_evening"))
    assert (row.state, row.claimed_by, row.attempts) == (DeliveryState.SENDING, "other", 1)


class EndlessSender:
    """Never finishes a send; notes when one is under way and when it is called off."""

    def __init__(self) -> None:
        self.sending = asyncio.Event()
        self.called_off = False

    async def send(self, message: OutboundMessage) -> int:
        self.sending.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            for _ in range(3):  # a request takes a few turns of the event loop to wind down
                await asyncio.sleep(0)
            self.called_off = True
            raise
        return 1


async def test_a_pass_called_off_ends_its_sends_before_it_ends(make_settings, rigs) -> None:
    rig = rigs(make_settings(), SESSION)
    await rig.enrol()
    sender = EndlessSender()
    rig.dispatcher.sender = sender
    rig.advance(timedelta(hours=4, seconds=1))
    passing = asyncio.create_task(rig.dispatcher.run_due())
    await asyncio.wait_for(sender.sending.wait(), 10)
    passing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await passing
    assert sender.called_off, "no send is left running behind the pass"
    assert (await states(rig))["same_evening"] == DeliveryState.SENDING, "left to the send lease"
