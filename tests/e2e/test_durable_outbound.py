"""Messages the bot must not lose survive Telegram failing: the safety reply, a staff reply passed on to a client,
notices to staff, and the case card when the database fails just after it went out. Each arrives exactly once,
in order, and quiet hours never hold one back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from aftercare_bot.clients import privacy
from aftercare_bot.db.models import (
    Client,
    ClientStatus,
    ConversationMessage,
    EscalationPost,
    OutboxMessage,
    Timer,
)
from aftercare_bot.delivery.outbox import OUTBOX_TIMER
from aftercare_bot.delivery.ports import OutboundMessage, SendRetryLater
from aftercare_bot.delivery.send_records import PostedCard
from aftercare_bot.escalation.timers import CARD_TIMER
from aftercare_bot.sandbox.emulator.models import StoredMessage
from tests.support.escalation_rig import EscalationRig, escalation_rigs
from tests.support.outages import database_outage

URGENT_TEXT = "It is still bleeding a lot and there is pus"
SAFETY = "needs attention now"
NIGHT = datetime(2026, 1, 13, 23, 0, tzinfo=UTC)  # London is on UTC in January: inside quiet hours below
QUIET = "21:00-08:00"
EVENING_DUE = timedelta(hours=4, seconds=5)  # the plan's same-evening message


def count(telegram: Any, chat: Any, needle: str) -> int:
    return sum(needle in (message.plain_text or "") for message in telegram.bot_messages(chat))


def cards(telegram: Any, chat: Any) -> list[StoredMessage]:
    return [m for m in telegram.bot_messages(chat) if "case #" in (m.plain_text or "") and m.buttons]


async def queued(bot: Any, chat_id: int) -> list[OutboxMessage]:
    async with bot.services.session_factory() as session:
        rows = await session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == chat_id))
        return list(rows.all())


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Poll the database until `check` holds (nothing signals a write there)."""
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def attempts_reach(bot: Any, chat_id: int, attempts: int) -> None:
    async def check() -> bool:
        return [row.attempts for row in await queued(bot, chat_id)] == [attempts]

    await eventually(check)


# -- the urgent answer to a client -----------------------------------------------------------------------------


async def test_the_safety_message_and_the_card_arrive_once_through_429_502_and_an_outage(bot_factory) -> None:
    bot = await bot_factory(quiet_hours=QUIET, escalation_realert_after="2h")
    bot.clock.set(NIGHT)
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann")
    calls = len(telegram.calls_to("sendMessage"))
    telegram.fail_next("sendMessage", status=429, retry_after=1, chat_id=ann.id)
    telegram.fail_next("sendMessage", status=502, chat_id=ann.id)
    telegram.fail_next("sendMessage", status=502, chat_id=bot.staff_chat.id)  # the card

    telegram.send_text(ann, URGENT_TEXT)
    assert await telegram.wait_until(lambda: len(telegram.calls_to("sendMessage")) >= calls + 2, 5)
    await attempts_reach(bot, ann.id, 1)
    assert count(telegram, ann, SAFETY) == 0 and cards(telegram, bot.staff_chat) == []

    await bot.jump(timedelta(seconds=6))  # the backoff after Telegram's "retry after 1"
    await attempts_reach(bot, ann.id, 2)
    telegram.set_down(True)  # Telegram unreachable for a few seconds: the next tries fail too
    await bot.jump(timedelta(seconds=11))
    await bot.jump(timedelta(seconds=25))  # the card's turn as well
    await asyncio.sleep(1.0)
    assert count(telegram, ann, SAFETY) == 0 and cards(telegram, bot.staff_chat) == []
    assert [row.attempts for row in await queued(bot, ann.id)] == [4]
    telegram.set_down(False)

    await bot.jump(timedelta(minutes=2))  # still night: quiet hours do not hold these back
    assert count(telegram, ann, SAFETY) == 1
    [card] = cards(telegram, bot.staff_chat)
    assert "URGENT" in card.plain_text
    await bot.jump(timedelta(minutes=30))
    assert count(telegram, ann, SAFETY) == 1 and len(cards(telegram, bot.staff_chat)) == 1
    assert await queued(bot, ann.id) == []
    async with bot.services.session_factory() as session:
        safety = await session.scalar(select(ConversationMessage).where(ConversationMessage.kind == "safety"))
    assert safety.telegram_message_id == telegram.bot_messages(ann)[-1].message_id


# -- a staff reply passed on to the client ---------------------------------------------------------------------


async def test_a_staff_reply_sent_while_telegram_fails_arrives_once_and_its_author_is_told(bot) -> None:
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann Smith")
    since = telegram.last_message_id(bot.staff_chat)
    telegram.send_text(ann, "Is it normal that it itches?")
    card = await telegram.wait_for_message(bot.staff_chat, lambda m: bool(m.buttons), since=since)
    await telegram.wait_for_message(ann, "is any of these happening now?", since=0)  # asked back

    telegram.fail_next("sendMessage", status=502, chat_id=ann.id)
    reply = telegram.send_text(bot.nurse, "Please use the cream twice a day", chat=bot.staff_chat, reply_to=card)
    reply_id = reply["message"]["message_id"]
    waiting = await telegram.wait_for_message(bot.staff_chat, "not taking messages", since=card.message_id)
    assert waiting.reply_to_message_id == reply_id
    assert count(telegram, ann, "use the cream") == 0

    telegram.set_down(True)
    await bot.jump(timedelta(seconds=6))
    await attempts_reach(bot, ann.id, 2)
    telegram.set_down(False)
    assert count(telegram, ann, "use the cream") == 0

    await bot.jump(timedelta(seconds=11))
    relayed = await telegram.wait_for_message(ann, "use the cream", since=0)
    assert "Glow & Co <Clinic>" in relayed.plain_text
    sent = await telegram.wait_for_message(bot.staff_chat, "✓ Sent to Ann Smith", since=waiting.message_id)
    assert sent.reply_to_message_id == reply_id
    await bot.jump(timedelta(minutes=10))
    assert count(telegram, ann, "use the cream") == 1 and count(telegram, bot.staff_chat, "✓ Sent") == 1

    # The reply is on record, with the message id the client has; a reply to the confirmation reaches her too.
    async with bot.services.session_factory() as session:
        stored = await session.scalar(select(ConversationMessage).where(ConversationMessage.author_id.is_not(None)))
    assert stored.telegram_message_id == relayed.message_id
    telegram.send_text(bot.nurse, "And sunscreen", chat=bot.staff_chat, reply_to=sent)
    await telegram.wait_for_message(ann, "And sunscreen", since=relayed.message_id)


# -- a notice to staff -----------------------------------------------------------------------------------------


async def test_the_blocked_client_notice_survives_telegram_failing_and_arrives_once(bot) -> None:
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann")
    telegram.block(ann)
    telegram.fail_next("sendMessage", status=502, chat_id=bot.staff_chat.id)
    telegram.fail_next("sendMessage", status=429, retry_after=3, chat_id=bot.staff_chat.id)

    await bot.jump(EVENING_DUE)
    await attempts_reach(bot, bot.staff_chat.id, 1)
    await bot.jump(timedelta(seconds=6))
    await attempts_reach(bot, bot.staff_chat.id, 2)
    assert count(telegram, bot.staff_chat, "blocked the bot") == 0

    await bot.jump(timedelta(seconds=11))
    notice = await telegram.wait_for_message(bot.staff_chat, "blocked the bot", since=0)
    assert "Ann" in notice.plain_text
    await bot.jump(timedelta(days=1))
    assert count(telegram, bot.staff_chat, "blocked the bot") == 1
    async with bot.services.session_factory() as session:
        assert (await session.scalar(select(Client))).status == ClientStatus.UNREACHABLE


# -- the database failing just after a card went out -----------------------------------------------------------


class OutageAfterCard:
    """The escalation desk's messenger, starting a database outage the moment Telegram has accepted a card."""

    def __init__(self, inner: Any, start_outage: Callable[[], Awaitable[None]]) -> None:
        self.inner = inner
        self.start_outage: Callable[[], Awaitable[None]] | None = start_outage

    async def send(self, message: OutboundMessage) -> int:
        message_id = await self.inner.send(message)
        if message.buttons and self.start_outage is not None:
            start, self.start_outage = self.start_outage, None
            await start()
        return message_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_card_recorded_late_because_the_database_failed_is_posted_once(
    database_url: str, bot_factory, caplog
) -> None:
    bot = await bot_factory(send_lease="6s")
    telegram = bot.telegram
    outage = await database_outage(database_url, bot)
    ann = await bot.enrol_client(5001, "Ann")
    over = asyncio.Event()
    background: list[asyncio.Task[None]] = []

    async def outage_for_a_second() -> None:
        await outage.begin()

        async def later() -> None:
            await asyncio.sleep(1.0)
            await outage.end()
            over.set()

        background.append(asyncio.create_task(later()))

    posts = bot.services.runtime.escalations.posts
    posts.messenger = OutageAfterCard(posts.messenger, outage_for_a_second)
    try:
        telegram.send_text(ann, URGENT_TEXT)
        await telegram.wait_for_message(bot.staff_chat, lambda m: bool(m.buttons), since=0)
        await asyncio.wait_for(over.wait(), 10)
        await telegram.wait_for_message(ann, SAFETY, since=0)

        async def recorded() -> bool:
            async with bot.services.session_factory() as session:
                posts = (await session.scalars(select(EscalationPost.role))).all()
                timer = await session.scalar(select(Timer).where(Timer.kind == CARD_TIMER))
            return list(posts) == ["card"] and timer.state == "done"

        await eventually(recorded, timeout=10)
        await bot.jump(timedelta(minutes=1))  # well past the send lease: nothing is left to post again
        await bot.jump(timedelta(minutes=5))
        assert len(cards(telegram, bot.staff_chat)) == 1
        # The card's record either failed itself or waited behind the safety answer's, which shares its batches.
        assert "went out but the database could not record it" in caplog.text
    finally:
        for task in background:
            await task
        await outage.close()


# -- a reply to the card of a client who has since erased their data -------------------------------------------


async def test_a_reply_to_the_card_of_an_erased_client_gets_a_kind_answer(bot) -> None:
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann Smith")
    telegram.send_text(ann, URGENT_TEXT)
    card = await telegram.wait_for_message(bot.staff_chat, lambda m: bool(m.buttons), since=0)
    since_ann = telegram.last_message_id(ann)
    telegram.send_command(ann, "forget")
    confirm = await telegram.wait_for_message(ann, "cannot be undone", since=since_ann)
    telegram.press_button(ann, confirm, confirm.callback_data[0])
    await telegram.wait_for_message(ann, "has been erased", since=confirm.message_id)
    await telegram.wait_for_message(bot.staff_chat, "asked for their data to be erased", since=card.message_id)

    since_ann = telegram.last_message_id(ann)
    reply = telegram.send_text(bot.nurse, "Are you feeling better?", chat=bot.staff_chat, reply_to=card)
    answer = await telegram.wait_for_message(bot.staff_chat, "Not sent", since=card.message_id)
    assert answer.reply_to_message_id == reply["message"]["message_id"]
    assert "asked for their data to be erased" in answer.plain_text and "Ann" not in answer.plain_text
    assert telegram.last_message_id(ann) == since_ann, "nothing reaches the erased client"


# -- order and quiet hours, in the domain ----------------------------------------------------------------------


@pytest.fixture
async def esc_rigs() -> AsyncIterator[Callable[..., EscalationRig]]:
    async with escalation_rigs() as factory:
        yield factory


async def test_a_clients_messages_keep_their_order_while_the_first_waits(esc_rigs, make_settings) -> None:
    rig = esc_rigs(make_settings(quiet_hours="13:00-16:00"), datetime(2026, 1, 13, 14, 0, tzinfo=UTC))
    await rig.enrol(5001, "Ann Smith")
    rig.messenger.chat_failures[5001] = [SendRetryLater("Bad Gateway"), SendRetryLater("Bad Gateway")]
    await rig.say(URGENT_TEXT)  # the safety message waits...
    await rig.say("and it hurts")  # ...and tried again with this one's acknowledgement, waits again
    assert rig.messenger.texts_to(5001) == []
    assert len(rig.cards()) == 1, "the card does not wait for the client's messages"

    assert await rig.runner.run_due() == 1  # the acknowledgement is due, but comes after the safety message
    assert rig.messenger.texts_to(5001) == []
    rig.advance(timedelta(seconds=11))  # past the backoff; quiet hours (13:00-16:00) change nothing
    await rig.runner.run_due()
    first, second = rig.messenger.texts_to(5001)
    assert SAFETY in first and "added this to your conversation" in second
    rig.advance(timedelta(minutes=5))
    await rig.runner.run_due()
    assert len(rig.messenger.texts_to(5001)) == 2
    async with rig.services.session_factory() as session:
        assert (await session.scalars(select(OutboxMessage))).all() == []
        timers = (await session.scalars(select(Timer.state).where(Timer.kind == OUTBOX_TIMER))).all()
    assert set(timers) == {"done"}


async def test_a_new_message_does_not_hurry_one_that_telegram_asked_to_wait(esc_rigs, make_settings) -> None:
    rig = esc_rigs(make_settings(), datetime(2026, 1, 13, 14, 0, tzinfo=UTC))
    await rig.enrol(5001, "Ann Smith")
    rig.messenger.chat_failures[5001] = [SendRetryLater("flood control", retry_after=30)]
    await rig.say(URGENT_TEXT)
    await rig.say("and it hurts")
    rig.advance(timedelta(seconds=20))
    await rig.runner.run_due()
    assert rig.messenger.texts_to(5001) == [], "not before Telegram allows"
    rig.advance(timedelta(seconds=11))
    await rig.runner.run_due()
    first, second = rig.messenger.texts_to(5001)
    assert SAFETY in first and "added this to your conversation" in second


# -- records written together ----------------------------------------------------------------------------------


async def test_a_card_of_a_case_erased_meanwhile_does_not_fail_the_records_written_with_it(
    esc_rigs, make_settings
) -> None:
    rig = esc_rigs(make_settings(send_lease="2s"), datetime(2026, 1, 13, 14, 0, tzinfo=UTC))
    await rig.enrol(5001, "Ann Smith")
    await rig.enrol(5002, "Bea Jones")
    await rig.say(URGENT_TEXT, 5001)
    await rig.say(URGENT_TEXT, 5002)
    ann, bea = await rig.escalations()
    ann_case, bea_case = ann.id, bea.id
    async with rig.services.session_factory.begin() as session:
        await privacy.erase(session, 5001, now=rig.clock.now(), reason="test")

    records = rig.desk.outbox.records
    # Both posted to another chat, recorded in one batch after Ann's case was erased.
    outcomes = await asyncio.gather(records.record(PostedCard(ann_case, ann.ref, 777, 9001)),
                                    records.record(PostedCard(bea_case, bea.ref, 777, 9002)), return_exceptions=True)
    assert outcomes == [None, None]
    async with rig.services.session_factory() as session:
        posts = (await session.execute(select(EscalationPost.escalation_id, EscalationPost.message_id)
                                       .where(EscalationPost.chat_id == 777))).all()
    assert posts == [(bea_case, 9002)]


async def test_a_card_of_an_erased_case_is_not_recorded_against_the_case_that_took_its_number(
    esc_rigs, make_settings
) -> None:
    rig = esc_rigs(make_settings(send_lease="2s"), datetime(2026, 1, 13, 14, 0, tzinfo=UTC))
    await rig.enrol(5001, "Ann Smith")
    await rig.enrol(5002, "Bea Jones")
    await rig.say(URGENT_TEXT, 5001)
    [ann] = await rig.escalations()
    async with rig.services.session_factory.begin() as session:
        await privacy.erase(session, 5001, now=rig.clock.now(), reason="test")
    if rig.services.engine.dialect.name == "postgresql":  # as after a restore; SQLite reuses the number itself
        async with rig.services.session_factory.begin() as session:
            await session.execute(text(f"SELECT setval(pg_get_serial_sequence('escalations', 'id'), {ann.id}, false)"))
    await rig.say(URGENT_TEXT, 5002)
    [bea] = await rig.escalations()
    assert bea.id == ann.id, "Bea's case took the erased case's number"
    # Ann's card, posted just before her erasure, is recorded only now.
    assert await asyncio.gather(rig.desk.outbox.records.record(PostedCard(ann.id, ann.ref, 777, 9001))) == [None]
    async with rig.services.session_factory() as session:
        posts = (await session.execute(select(EscalationPost.escalation_id).where(EscalationPost.chat_id == 777)))
        assert posts.all() == []


async def test_a_record_that_cannot_be_written_fails_alone(esc_rigs, make_settings) -> None:
    rig = esc_rigs(make_settings(send_lease="2s"), datetime(2026, 1, 13, 14, 0, tzinfo=UTC))
    await rig.enrol(5001, "Ann Smith")
    await rig.say(URGENT_TEXT, 5001)
    (case,) = await rig.escalations()
    records = rig.desk.outbox.records
    too_big = 2 ** 64  # no database column holds it
    outcomes = await asyncio.gather(records.record(PostedCard(case.id, case.ref, 777, too_big)),
                                    records.record(PostedCard(case.id, case.ref, 778, 9002)),
                                    records.record(PostedCard(case.id, case.ref, 779, 9003)), return_exceptions=True)
    assert isinstance(outcomes[0], Exception)
    assert outcomes[1:] == [None, None]
    async with rig.services.session_factory() as session:
        posts = (await session.execute(
            select(EscalationPost.chat_id, EscalationPost.message_id)
            .where(EscalationPost.chat_id.in_([777, 778, 779])).order_by(EscalationPost.chat_id)
        )).all()
    assert posts == [(778, 9002), (779, 9003)]
