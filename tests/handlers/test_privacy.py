"""A person sees what the bot holds about them (/mydata), has it erased (/forget), and finished conversations are
erased after the retention period."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from aftercare_bot.clients import privacy
from aftercare_bot.clock import ManualClock
from aftercare_bot.config import Settings
from aftercare_bot.db.models import (
    AuditEvent,
    Client,
    ConversationMessage,
    Delivery,
    Enrolment,
    Escalation,
    EscalationPost,
    Invite,
    OutboxMessage,
    Timer,
)
from aftercare_bot.texts.telegram_html import visible_length
from tests.support.fast_rig import FastRig
from tests.support.harness import START_LINK

ANN_ID, BOB_ID, EVE_ID = 5001, 5002, 6666
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
async def rig(make_settings: Callable[..., Settings]) -> AsyncIterator[FastRig]:
    rig = await FastRig.start(make_settings(), ManualClock(START))
    yield rig
    await rig.stop()


async def count(rig: FastRig, model: Any, *conditions: Any) -> int:
    async with rig.services.session_factory() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*conditions))


async def worried_ann_with_a_case(rig: FastRig) -> Any:
    """Ann is enrolled, got her first message, wrote something urgent, and the nurse answered on the card."""
    ann = await rig.enrol(ANN_ID, "Ann <Smith>")
    rig.clock.advance(timedelta(hours=5))
    await rig.run_due()
    await rig.text(ann, "It is bleeding and there is pus")
    card = next(m for m in rig.telegram.sent_messages(rig.staff_chat) if m.callback_data)
    await rig.text(rig.nurse, "Please send us a photo, we will call you", rig.staff_chat, reply_to=card)
    return ann


# -- /mydata -----------------------------------------------------------------------------------------------------


async def test_mydata_shows_the_person_their_record_plans_conversation_and_cases(rig: FastRig) -> None:
    ann = await worried_ann_with_a_case(rig)
    before = len(rig.telegram.sent_messages(ann))
    await rig.command(ann, "mydata")
    report = rig.telegram.sent_messages(ann)[before:]
    text = "\n".join(m.plain_text or "" for m in report)
    assert "Name (as the clinic entered it): Ann <Smith>" in text  # shown as typed, escaped in the HTML
    assert "Telegram name: Ann" in text and "Language: en" in text and "receiving aftercare messages" in text
    assert "Micro-needling, session on 2 Mar 2026, 10:00: ongoing\n   Agreed on 2 Mar 2026, 10:00" in text
    assert "Messages: 1 sent, 5 still to come, 0 not sent" in text
    assert "you: It is bleeding and there is pus (marked for the team as urgent)" in text
    assert "clinic team: Please send us a photo, we will call you" in text
    assert "Case #1, 2 Mar 2026, 15:00: urgent, being handled by the team" in text
    assert "/forget" in text
    assert "Nina" not in text, "staff names are the team's data, not the client's"
    assert all(visible_length(m.text or "") <= 4096 for m in report)
    assert rig.telegram.calls_to("sendDocument") == []
    rig.assert_healthy()


async def test_a_long_history_is_split_into_messages_within_telegrams_limit(rig: FastRig) -> None:
    ann = await rig.enrol(ANN_ID, "Ann Smith")
    for number in range(12):
        rig.clock.advance(timedelta(hours=1))
        await rig.text(ann, f"note {number} " + "all fine today " * 40)
    before = len(rig.telegram.sent_messages(ann))
    await rig.command(ann, "mydata")
    report = rig.telegram.sent_messages(ann)[before:]
    assert 2 <= len(report) <= privacy.MAX_REPORT_MESSAGES
    assert all(len(m.plain_text or "") <= 4096 for m in report)
    joined = "\n".join(m.plain_text or "" for m in report)
    assert all(f"note {number} " in joined for number in range(12))
    rig.assert_healthy()


async def test_a_very_long_history_comes_as_a_text_file(rig: FastRig) -> None:
    ann = await rig.enrol(ANN_ID, "Ann Smith")
    await rig.text(ann, "é" * 4000)  # one entry longer than a report line may be
    await rig.text(ann, "last words")
    await rig.command(ann, "mydata")
    sent = rig.last_bot_message(ann)
    assert "document" in sent.data and "/forget" in (sent.plain_text or "")
    content = rig.world.files[sent.data["document"]["file_id"]].content.decode("utf-8")
    assert "é" * 4000 in content and "last words" in content and "Ann Smith" in content
    assert "<b>" not in content, "the file is plain text"
    rig.assert_healthy()


async def test_someone_unknown_is_told_nothing_is_held(rig: FastRig) -> None:
    eve = rig.world.user(EVE_ID, "Eve")
    for command in ("mydata", "forget"):
        await rig.command(eve, command)
        assert "holds nothing about you" in rig.telegram.sent_texts(eve)[-1]
    assert rig.last_bot_message(eve).callback_data == []
    rig.assert_healthy()


async def test_privacy_commands_are_private_only(rig: FastRig) -> None:
    ann = await rig.enrol(ANN_ID, "Ann Smith")
    group = rig.world.group(-777, "Friends")
    rig.world.add_member(group, ann)
    await rig.command(ann, "mydata", chat=group)
    await rig.command(ann, "forget", chat=group)
    assert rig.telegram.sent_messages(group) == []
    rig.assert_healthy()


# -- /forget -----------------------------------------------------------------------------------------------------


async def test_forget_erases_everything_about_the_person_and_tells_staff_without_details(rig: FastRig) -> None:
    ann = await worried_ann_with_a_case(rig)
    bob = await rig.enrol(BOB_ID, "Bob Jones")
    await rig.text(bob, "A little red today")
    async with rig.services.session_factory() as session:
        ann_client = await session.scalar(select(Client).where(Client.telegram_user_id == ANN_ID))
        ann_deliveries = (await session.scalars(select(Delivery.id).where(Delivery.client_id == ann_client.id))).all()
    her_timers = (Timer.subject_id.in_(ann_deliveries) & Timer.kind.like("checkin%")) | (
        (Timer.subject_id == 1) & Timer.kind.like("escalation%"))
    bob_rows = [await count(rig, Delivery, Delivery.client_id != ann_client.id),
                await count(rig, ConversationMessage, ConversationMessage.client_id != ann_client.id)]
    assert await count(rig, Timer, her_timers) > 0

    await rig.command(ann, "forget")
    confirm = rig.last_bot_message(ann)
    assert "cannot be undone" in (confirm.plain_text or "") and "+44 20 7946 0000" in (confirm.plain_text or "")
    staff_before = len(rig.telegram.sent_messages(rig.staff_chat))
    await rig.press(ann, confirm, confirm.callback_data[0])
    assert "has been erased" in rig.telegram.sent_texts(ann)[-1]
    assert rig.last_bot_message(ann) is not confirm and confirm.callback_data == []  # buttons taken off

    assert await count(rig, Client, Client.telegram_user_id == ANN_ID) == 0
    assert await count(rig, Enrolment, Enrolment.client_id == ann_client.id) == 0
    assert await count(rig, Delivery, Delivery.client_id == ann_client.id) == 0
    assert await count(rig, ConversationMessage, ConversationMessage.client_id == ann_client.id) == 0
    assert await count(rig, Escalation) == 0
    assert await count(rig, EscalationPost, EscalationPost.escalation_id.is_not(None)) == 0
    assert await count(rig, Timer, her_timers) == 0
    assert await count(rig, Invite, Invite.client_name.like("Ann%")) == 0
    assert [await count(rig, Delivery), await count(rig, ConversationMessage)] == bob_rows, "Bob is untouched"

    async with rig.services.session_factory() as session:
        events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
    assert not any(e.client_id == ann_client.id or e.actor_id == ANN_ID or e.escalation_id == 1 for e in events)
    erased = [e for e in events if e.action == privacy.ERASED]
    assert len(erased) == 1 and erased[0].client_id is None and erased[0].actor_id is None
    assert erased[0].detail == {"reason": "request", "plans": 1, "messages": 3, "cases": 1}
    assert "Ann" not in str([(e.action, e.detail) for e in events])
    assert any(e.actor_id == rig.nurse.id for e in events), "what the team did stays on record, unlinked"

    notices = rig.telegram.sent_texts(rig.staff_chat)[staff_before:]
    assert len(notices) == 1
    assert "asked for their data to be erased" in notices[0] and "#1" in notices[0]
    assert "Ann" not in notices[0] and "Smith" not in notices[0] and "bleeding" not in notices[0]
    rig.assert_healthy()


async def test_the_staff_notice_of_an_erasure_commits_with_it_or_not_at_all(rig: FastRig) -> None:
    await worried_ann_with_a_case(rig)
    staff_queued = OutboxMessage.chat_id == rig.staff_chat.id
    queued_before = await count(rig, OutboxMessage, staff_queued)
    with pytest.raises(RuntimeError):
        async with rig.services.session_factory.begin() as session:
            erasure = await privacy.erase(session, ANN_ID, now=rig.clock.now(), reason=privacy.BY_REQUEST)
            assert await privacy.queue_staff_notice(rig.services, session, erasure) == [rig.staff_chat.id]
            raise RuntimeError("the database connection dropped before the commit")
    assert await count(rig, Client, Client.telegram_user_id == ANN_ID) == 1
    assert await count(rig, OutboxMessage, staff_queued) == queued_before, "no notice of an erasure that failed"

    async with rig.services.session_factory.begin() as session:
        erasure = await privacy.erase(session, ANN_ID, now=rig.clock.now(), reason=privacy.BY_REQUEST)
        await privacy.queue_staff_notice(rig.services, session, erasure)
    async with rig.services.session_factory() as session:
        notices = (await session.scalars(select(OutboxMessage.html).where(staff_queued))).all()
    assert len(notices) == queued_before + 1 and "asked for their data to be erased" in notices[-1]
    assert await count(rig, Client, Client.telegram_user_id == ANN_ID) == 0


async def test_after_erasure_nothing_more_is_sent_and_old_case_posts_are_inert(rig: FastRig) -> None:
    ann = await worried_ann_with_a_case(rig)
    await rig.command(ann, "forget")
    await rig.press(ann, rig.last_bot_message(ann), rig.last_bot_message(ann).callback_data[0])
    sent_to_ann = len(rig.telegram.sent_messages(ann))
    staff_posts = len(rig.telegram.sent_messages(rig.staff_chat))

    rig.clock.advance(timedelta(days=3))
    await rig.run_due()  # no plan message, no re-alert, no check-in reminder for her any more
    assert len(rig.telegram.sent_messages(ann)) == sent_to_ann
    assert len(rig.telegram.sent_messages(rig.staff_chat)) == staff_posts

    card = next(m for m in rig.telegram.sent_messages(rig.staff_chat) if m.callback_data)
    pressed = await rig.press(rig.nurse, card, card.callback_data[-1])
    assert rig.callback_answer(pressed)["show_alert"] is True
    await rig.text(rig.nurse, "Are you there?", rig.staff_chat, reply_to=card)
    assert len(rig.telegram.sent_messages(ann)) == sent_to_ann, "a reply to an old card reaches nobody"

    await rig.text(ann, "hello again")  # she is a stranger now
    assert "personal link" in rig.telegram.sent_texts(ann)[-1]
    assert await count(rig, ConversationMessage) == 0
    rig.assert_healthy()


async def test_forget_buttons_only_work_for_their_person_and_no_keeps_everything(rig: FastRig) -> None:
    ann = await rig.enrol(ANN_ID, "Ann Smith")
    await rig.command(ann, "forget")
    confirm = rig.last_bot_message(ann)
    eve = rig.world.user(EVE_ID, "Eve")
    pressed = await rig.press(eve, confirm, confirm.callback_data[0])
    assert rig.callback_answer(pressed)["show_alert"] is True
    forged = await rig.press(ann, confirm, f"forget:{EVE_ID}:yes:AAAAAAAAAAAA", forged=True)
    assert rig.callback_answer(forged)["show_alert"] is True
    assert await count(rig, Client) == 1

    await rig.press(ann, confirm, confirm.callback_data[1])
    assert "Nothing has been erased" in rig.telegram.sent_texts(ann)[-1]
    assert await count(rig, Client) == 1 and await count(rig, AuditEvent, AuditEvent.action == privacy.ERASED) == 0

    await rig.command(ann, "forget")
    second = rig.last_bot_message(ann)
    yes = second.callback_data[0]
    await rig.press(ann, second, yes)
    await rig.press(ann, second, yes, forged=True)  # a stale second press on the keyboard already taken off
    assert "holds nothing about you" in rig.telegram.sent_texts(ann)[-1]
    assert await count(rig, AuditEvent, AuditEvent.action == privacy.ERASED) == 1
    rig.assert_healthy()


async def test_a_declined_invitation_is_shown_and_erased_too(rig: FastRig) -> None:
    carol = rig.world.user(BOB_ID, "Carol")
    await rig.command(rig.nurse, "enrol", "Carol Wu", chat=rig.staff_chat)
    token = START_LINK.search(rig.last_bot_message(rig.staff_chat).plain_text or "").group(1)
    await rig.command(carol, "start", token)
    consent = rig.last_bot_message(carol)
    await rig.press(carol, consent, consent.callback_data[1])  # "No, thank you"
    await rig.command(carol, "mydata")
    assert "For Carol Wu (Micro-needling), declined on" in rig.telegram.sent_texts(carol)[-1]
    await rig.command(carol, "forget")
    await rig.press(carol, rig.last_bot_message(carol), rig.last_bot_message(carol).callback_data[0])
    assert await count(rig, Invite) == 0
    assert await count(rig, AuditEvent, AuditEvent.actor_id == BOB_ID) == 0
    rig.assert_healthy()


# -- retention ---------------------------------------------------------------------------------------------------


async def test_finished_quiet_clients_are_erased_after_the_retention_period(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    rig = await FastRig.start(make_settings(retention_period="180d"), ManualClock(START))
    try:
        ann = await rig.enrol(ANN_ID, "Ann Smith")  # her plan runs out and she goes quiet
        bob = await rig.enrol(BOB_ID, "Bob Jones")  # his plan runs out, but he wrote recently
        await rig.run_due()
        rig.clock.advance(timedelta(days=170))
        await rig.text(bob, "All healed, thank you")
        assert await count(rig, Client) == 2, "nothing is due yet: the first pass found no one"
        rig.clock.advance(timedelta(days=20))
        cara = await rig.enrol(5003, "Cara Lee")  # just enrolled: her plan is running
        with caplog.at_level(logging.INFO, logger="aftercare_bot.clients.privacy"):
            await rig.run_due()
        async with rig.services.session_factory() as session:
            left = set((await session.scalars(select(Client.telegram_user_id))).all())
        assert left == {BOB_ID, cara.id}
        assert ann.id not in left
        assert "retention purge: erased 1 client(s)" in caplog.text
        async with rig.services.session_factory() as session:
            erased = (await session.scalars(select(AuditEvent).where(AuditEvent.action == privacy.ERASED))).all()
        assert [e.detail["reason"] for e in erased] == ["retention"]
        assert rig.telegram.sent_texts(rig.staff_chat)[-1].startswith("<b>Enrolment link") is False
        rig.assert_healthy()
    finally:
        await rig.stop()


async def test_links_never_opened_are_deleted_once_expired_for_the_retention_period(
    make_settings: Callable[..., Settings]
) -> None:
    rig = await FastRig.start(make_settings(retention_period="30d"), ManualClock(START))
    try:
        await rig.command(rig.nurse, "enrol", "Dana Old", chat=rig.staff_chat)  # never opened
        rig.clock.advance(timedelta(days=20))
        await rig.command(rig.nurse, "enrol", "Eve Recent", chat=rig.staff_chat)  # expires later
        ann = await rig.enrol(ANN_ID, "Ann Smith")  # opened: the link goes with her record, not before
        rig.clock.advance(timedelta(days=20))  # Dana's link expired 33 days ago, Eve's 13 days ago
        await rig.run_due()
        async with rig.services.session_factory() as session:
            left = {(i.client_name, i.used_by) for i in await session.scalars(select(Invite))}
        assert left == {("Eve Recent", None), ("Ann Smith", ann.id)}
        rig.assert_healthy()
    finally:
        await rig.stop()


async def test_the_purge_runs_at_most_once_a_day_even_across_restarts(
    make_settings: Callable[..., Settings]
) -> None:
    rig = await FastRig.start(make_settings(retention_period="30d"), ManualClock(START))
    try:
        await rig.enrol(ANN_ID, "Ann Smith")
        purger = rig.services.runtime.retention
        assert await purger.run_if_due() == 0  # the first pass of the day
        rig.clock.advance(timedelta(days=90))  # the plan has run out meanwhile ...
        await rig.services.runtime.dispatcher.run_due()
        rig.clock.set(START + timedelta(hours=20))  # ... but back to the same day: not again yet
        assert await purger.run_if_due() is None
        restarted = privacy.RetentionPurger(rig.services)  # another replica, or after a restart
        assert await restarted.run_if_due() is None, "the last run is read from the database"
        rig.clock.set(START + timedelta(days=90))
        assert await restarted.run_if_due() == 1
        assert await purger.run_if_due() is None
        assert await count(rig, AuditEvent, AuditEvent.action == privacy.RETENTION_PURGE) == 2
    finally:
        await rig.stop()


async def test_retention_can_be_turned_off(make_settings: Callable[..., Settings]) -> None:
    rig = await FastRig.start(make_settings(retention_period="off"), ManualClock(START))
    try:
        await rig.enrol(ANN_ID, "Ann Smith")
        rig.clock.advance(timedelta(days=3650))
        await rig.run_due()
        assert await count(rig, Client) == 1
        assert await count(rig, AuditEvent, AuditEvent.action == privacy.RETENTION_PURGE) == 0
    finally:
        await rig.stop()


def test_retention_period_setting(make_settings: Callable[..., Settings]) -> None:
    assert make_settings().retention_period == timedelta(days=365)
    assert make_settings(retention_period="off").retention_period is None
    assert make_settings(retention_period="52w").retention_period == timedelta(weeks=52)
    with pytest.raises(ValueError, match="at least 1d"):
        make_settings(retention_period="10m")


async def test_erasing_while_a_message_of_theirs_is_being_handled_leaves_nothing_behind(rig: FastRig) -> None:
    ann = await rig.enrol(ANN_ID, "Ann Smith")
    await rig.command(ann, "forget")
    confirm = rig.last_bot_message(ann)
    message = rig.world.send_text(ann, "It is bleeding and there is pus")
    press = rig.world.press_button(ann, confirm, confirm.callback_data[0])
    await asyncio.gather(rig.feed(message), rig.feed(press))
    assert await count(rig, Client) == 0
    assert await count(rig, ConversationMessage) == 0 and await count(rig, Escalation) == 0
    rig.assert_healthy()


async def test_a_long_backlog_is_worked_off_a_batch_per_pass(make_settings: Callable[..., Settings]) -> None:
    rig = await FastRig.start(make_settings(retention_period="30d"), ManualClock(START))
    try:
        for number in range(3):
            await rig.enrol(ANN_ID + number, f"Client {number}")
        rig.clock.advance(timedelta(days=90))
        await rig.services.runtime.dispatcher.run_due()  # every plan runs out
        purger = privacy.RetentionPurger(rig.services, batch=2)
        assert await purger.run_if_due() is None, "two erased, more to do"
        assert await count(rig, Client) == 1
        assert await purger.run_if_due() == 3
        assert await count(rig, Client) == 0
        async with rig.services.session_factory() as session:
            runs = (await session.scalars(select(AuditEvent.detail)
                                          .where(AuditEvent.action == privacy.RETENTION_PURGE))).all()
        assert runs == [{"purged": 3}]
    finally:
        await rig.stop()


async def test_the_client_menu_offers_mydata_and_forget(rig: FastRig) -> None:
    menu = rig.world.commands_by_scope[("all_private_chats", "")]
    assert {"mydata", "forget"} <= {command["command"] for command in menu}


def test_report_lines_are_packed_into_few_messages_within_the_limit() -> None:
    lines = [f"<b>{number}</b> " + "x" * 995 for number in range(10)]  # 997-999 visible characters each
    messages = privacy.pack_messages(lines)
    assert messages is not None and len(messages) == 3
    assert all(visible_length(message) <= 4096 for message in messages)
    assert "\n".join(messages) == "\n".join(lines), "nothing lost, nothing reordered, no tag split"
    assert privacy.pack_messages(["y" * (privacy.MAX_REPORT_LINE + 1)]) is None
    assert privacy.pack_messages(["z" * 1400] * 20) is None, "more than a few messages: sent as a file instead"
