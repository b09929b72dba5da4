"""Independent lanes: a staff chat that cannot take more (Telegram's 20 a minute) holds up only the staff lane;
clients are answered, plan messages go out, and a stop with work in hand says so in one line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from aftercare_bot.bot import jobs
from aftercare_bot.clock import ManualClock
from aftercare_bot.config import Settings
from aftercare_bot.db.models import Client, Escalation, EscalationState, StaffDigestEntry
from aftercare_bot.db.refs import new_ref
from aftercare_bot.delivery import lanes
from aftercare_bot.delivery.ports import OutboundMessage
from aftercare_bot.escalation.digests import DIGEST_SIZE
from aftercare_bot.sandbox.emulator.spec import MAX_INLINE_BUTTONS
from aftercare_bot.texts.catalog import MAX_MESSAGE_LENGTH
from aftercare_bot.texts.telegram_html import plain_text, visible_length
from tests.conftest import STAFF_CHAT_ID
from tests.support.fast_rig import FastRig

ANN_ID = 5001
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
RED_FLAG = "It is bleeding and there is pus, I have a fever"


class BusyStaffChat:
    """Pacing as the rate limiter answers it while the staff group has used its minute."""

    def __init__(self) -> None:
        self.busy = True

    def room(self, chat_id: int, within: float) -> int:
        return 0 if self.busy and chat_id == STAFF_CHAT_ID else 1_000_000

    def admit(self, chat_id: int, keep: int = 0) -> bool:
        return not (self.busy and chat_id == STAFF_CHAT_ID)

    def release(self, chat_id: int) -> None:
        """Nothing is held here."""


@pytest.fixture
async def rig(make_settings: Callable[..., Settings]) -> AsyncIterator[FastRig]:
    rig = await FastRig.start(make_settings(), ManualClock(START))
    yield rig
    await rig.stop()


def cards(rig: FastRig) -> list[str]:
    return [text or "" for text in rig.telegram.sent_texts(rig.staff_chat) if "case #" in (text or "")]


async def test_a_busy_staff_chat_leaves_the_card_to_its_lane_and_the_client_is_answered_at_once(rig) -> None:
    ann = await rig.enrol(ANN_ID, "Ann Smith")
    pacing = rig.services.runtime.outbox.pacing = BusyStaffChat()
    before = len(rig.telegram.sent_texts(ann))

    await rig.text(ann, RED_FLAG)

    answers = rig.telegram.sent_texts(ann)[before:]
    assert len(answers) == 1 and rig.services.settings.clinic_phone in (answers[0] or ""), "the safety reply, at once"
    assert cards(rig) == [], "the handler did not wait for the staff chat"
    timer_runner = rig.services.runtime.timer_runner
    assert await timer_runner.due_count(lanes.STAFF) == 1, "the card waits in the staff lane, in the database"
    assert await timer_runner.due_count(lanes.CLIENT) == 0

    pacing.busy = False
    await timer_runner.run_lane(lanes.STAFF)
    assert len(cards(rig)) == 1 and "Ann" in cards(rig)[0]
    rig.assert_healthy()


async def test_a_stuck_staff_chat_holds_up_neither_clients_nor_plans_and_a_stop_says_what_is_left(
    rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ann = await rig.enrol(ANN_ID, "Ann Smith")
    rig.services.runtime.outbox.pacing = BusyStaffChat()
    await rig.text(ann, RED_FLAG)  # its card is left to the staff lane, which then finds the chat stuck
    messenger = rig.services.runtime.escalations.messenger
    send, stuck, release = messenger.send, asyncio.Event(), asyncio.Event()

    async def staff_chat_stuck(message: OutboundMessage) -> int:
        if message.chat_id == STAFF_CHAT_ID:
            stuck.set()
            await release.wait()
        return await send(message)

    monkeypatch.setattr(messenger, "send", staff_chat_stuck)
    runtime = rig.services.runtime
    runtime.lanes.kick(lanes.STAFF)
    await asyncio.wait_for(stuck.wait(), 5)

    before = len(rig.telegram.sent_texts(ann))
    rig.clock.advance(timedelta(hours=5))  # her first plan message falls due
    runtime.lanes.kick()
    for _ in range(100):
        if len(rig.telegram.sent_texts(ann)) > before:
            break
        await asyncio.sleep(0.05)
    assert len(rig.telegram.sent_texts(ann)) > before, "the plan message went out while the staff lane waits"
    for _ in range(100):
        if runtime.lanes.busy == [lanes.STAFF]:
            break
        await asyncio.sleep(0.05)
    assert runtime.lanes.busy == [lanes.STAFF], "the other lanes are done"

    caplog.clear()
    with caplog.at_level(logging.INFO):
        clean = await jobs.stop(rig.services, timeout=0.2)
    release.set()
    assert not clean
    lines = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(lines) == 1, [record.getMessage() for record in lines]
    assert "stopped with work in hand (lanes cut short: staff)" in lines[0].getMessage()
    assert "staff posts and timers due" in lines[0].getMessage()
    assert lines[0].exc_info is None, "no traceback"
    rig.assert_healthy()


# -- digests: when the staff chat cannot take every post soon, the cases are listed together -------------------


def staff_posts_since(rig: FastRig, since: int) -> list:
    return [message for message in rig.telegram.sent_messages(rig.staff_chat) if message.message_id > since]


async def test_a_busy_staff_chat_gets_one_digest_with_a_button_per_case_edited_as_they_are_claimed(rig) -> None:
    names = ("Ann Smith", "Bob Jones", "Cat Lee")
    clients = [await rig.enrol(5001 + number, name) for number, name in enumerate(names)]
    rig.services.runtime.outbox.pacing = BusyStaffChat()
    since = rig.telegram.sent_messages(rig.staff_chat)[-1].message_id
    for client in clients:
        await rig.text(client, RED_FLAG)
        assert rig.services.settings.clinic_phone in (rig.telegram.sent_texts(client)[-1] or "")
    runtime = rig.services.runtime

    await runtime.timer_runner.run_lane(lanes.STAFF)

    [digest] = staff_posts_since(rig, since)
    text = digest.plain_text or ""
    assert "3 cases need someone" in text
    for number, name in ((1, "Ann"), (2, "Bob"), (3, "Cat")):
        assert f"#{number} {name} · urgent · " in text and "— new" in text
    assert "Smith" not in text, "first names only"
    assert [button["text"] for button in digest.buttons] == ["🙋 #1", "🙋 #2", "🙋 #3"]
    assert "case #" not in text, "no single cards: the digest replaces them"

    update = await rig.press(rig.nurse, digest, digest.callback_data[0])
    assert "full card follows" in rig.callback_answer(update)["text"]
    again = await rig.press(rig.admin, digest, digest.callback_data[0])
    assert "already handling" in rig.callback_answer(again)["text"], "one claim wins"
    await runtime.timer_runner.run_lane(lanes.STAFF)
    [_, card] = staff_posts_since(rig, since)
    assert "case #1" in (card.plain_text or "") and "Ann" in (card.plain_text or ""), "Ann's card, to reply under"

    rig.clock.advance(timedelta(seconds=5))  # the digest is edited a few seconds after a claim
    await runtime.timer_runner.run_lane(lanes.STAFF)
    digest = rig.telegram.sent_messages(rig.staff_chat)[-2]
    edited = digest.plain_text or ""
    assert "#1 Ann · urgent · " in edited and "claimed by Nina" in edited
    assert [button["text"] for button in digest.buttons] == ["🙋 #2", "🙋 #3"]

    # Nobody claims Bob's and Cat's cases: their re-alerts are folded into a digest too.
    rig.clock.advance(rig.services.settings.escalation_realert_after)
    await rig.run_due()  # the re-alerts queue their posts (client lane); the staff lane folds them
    [*_, realerts] = staff_posts_since(rig, since)
    text = realerts.plain_text or ""
    assert "2 cases need someone" in text and "#2 Bob" in text and "#3 Cat" in text and "still not claimed" in text
    assert not any("still not claimed after" in (message.plain_text or "")
                   for message in staff_posts_since(rig, since)), "no single re-alerts"
    rig.assert_healthy()


async def test_a_full_digest_fits_in_one_message_however_long_the_names_and_reasons(rig) -> None:
    """A hundred cases (Telegram's most buttons under a message) with the longest names, reasons and claimants: the
    lines get shorter until the digest fits, every case still listed, a button for each one still open."""
    rows = []
    for number in range(DIGEST_SIZE):
        claimed = number % 3 == 0
        case = Escalation(
            id=9_000_000 + number, ref=new_ref(), level="urgent", kind="message", reasons="spreading redness " * 20,
            state=EscalationState.CLAIMED if claimed else EscalationState.OPEN,
            claimed_by_name="Wilhelmina-Konstantina " * 8 if claimed else None,
        )
        rows.append((StaffDigestEntry(note="final"), case, Client(name="Maximiliana-Theodora-Evangelina Smith")))
    html, buttons = rig.services.runtime.escalations.digests.render(rows)
    assert visible_length(html) <= MAX_MESSAGE_LENGTH
    assert all(f"#{9_000_000 + number} Maximiliana" in plain_text(html) for number in range(DIGEST_SIZE))
    labels = [button.label for row in buttons for button in row]
    assert len(labels) == sum(1 for _, case, _ in rows if case.state == EscalationState.OPEN) <= MAX_INLINE_BUTTONS
    assert all(len(button.data.encode()) <= 64 for row in buttons for button in row)

    few, _ = rig.services.runtime.escalations.digests.render(rows[:10])
    assert "spreading redness" in few and "claimed by Wilhelmina" in few, "a few cases are shown in full"


async def test_a_forged_digest_button_changes_nothing(rig) -> None:
    ann = await rig.enrol(ANN_ID, "Ann Smith")
    rig.services.runtime.outbox.pacing = BusyStaffChat()
    await rig.text(ann, RED_FLAG)
    await rig.text(await rig.enrol(5002, "Bob Jones"), RED_FLAG)
    await rig.services.runtime.timer_runner.run_lane(lanes.STAFF)
    digest = rig.telegram.sent_messages(rig.staff_chat)[-1]
    assert digest.callback_data, digest.plain_text

    genuine = digest.callback_data[0]
    tampered = genuine[:-1] + ("A" if genuine[-1] != "A" else "B")
    update = await rig.press(rig.nurse, digest, tampered, forged=True)

    assert rig.callback_answer(update) is not None
    async with rig.services.session_factory() as session:
        states = (await session.scalars(select(Escalation.state))).all()
    assert set(states) == {"open"}
