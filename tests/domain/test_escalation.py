"""Escalations in the domain: cases are opened, joined and raised; staff claim, resolve and reply; urgent
cases nobody claims are announced again and the client is told to call, on durable timers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from aftercare_bot.db.models import AuditEvent, ConversationMessage, EscalationPost, EscalationState, TimerState
from aftercare_bot.db.refs import RowRef
from aftercare_bot.delivery.ports import SendRetryLater
from aftercare_bot.delivery.send_records import PostedCard
from aftercare_bot.escalation.actions import StaffAction
from aftercare_bot.escalation.replies import RelayStatus
from aftercare_bot.escalation.timers import FINAL_TIMER, REALERT_TIMER
from aftercare_bot.texts.catalog import MAX_MESSAGE_LENGTH
from aftercare_bot.texts.telegram_html import plain_text, visible_length
from tests.conftest import ADMIN_ID, STAFF_CHAT_ID
from tests.support.escalation_rig import NURSE_ID, OTHER_NURSE_ID, EscalationRig, escalation_rigs

SESSION = datetime(2026, 1, 13, 14, 0, tzinfo=UTC)  # winter: London time is UTC
NEXT_DAY = SESSION + timedelta(days=1)
URGENT_TEXT = "It is still bleeding <a lot> & there is pus"
PHONE = "+44 20 7946 0000"


@pytest.fixture
async def esc_rigs() -> AsyncIterator[Callable[..., EscalationRig]]:
    async with escalation_rigs() as factory:
        yield factory


def near(moment: datetime, expected: datetime) -> bool:
    """The rig's clock keeps running in real time, so moments match to within a few seconds."""
    return abs(moment - expected) < timedelta(seconds=5)


async def enrolled(esc_rigs, make_settings, **settings):  # type: ignore[no-untyped-def]
    rig = esc_rigs(make_settings(**settings), SESSION)
    await rig.enrol(5001, "Ann Smith")
    rig.clock.set(NEXT_DAY)
    return rig


async def audit_actions(rig) -> list[str]:  # type: ignore[no-untyped-def]
    async with rig.services.session_factory() as session:
        return list((await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id))).all())


async def test_urgent_message_alerts_client_and_staff_at_once(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    assert await rig.say(URGENT_TEXT) == "urgent"

    to_client = rig.messenger.texts_to(5001)
    assert len(to_client) == 1
    assert PHONE in to_client[0] and "emergency services" in to_client[0]
    assert "difficulty breathing" in to_client[0]

    [(card_id, card)] = rig.cards()
    assert "URGENT" in card.html and "Ann Smith" in card.html
    assert "Micro-needling" in card.html and "day 1" in card.html
    assert "&lt;a lot&gt; &amp; there is pus" in card.html, "the client's words are quoted, escaped"
    assert "bleeding" in card.html and "pus" in card.html.split("Why")[1], "the reasons are on the card"
    labels = [button.label for row in card.buttons for button in row]
    assert labels == ["🙋 Claim", "✅ Resolve"]
    parts = [rig.services.signer.verify(button.data) for row in card.buttons for button in row]
    assert [p[2] for p in parts] == ["claim", "resolve"]

    [escalation] = await rig.escalations()
    assert escalation.level == "urgent" and escalation.state == EscalationState.OPEN
    assert escalation.card_chat_id == STAFF_CHAT_ID and escalation.card_message_id == card_id
    [stored, safety] = await rig.conversation_rows()
    assert (stored.direction, stored.text, stored.triage_level) == ("in", URGENT_TEXT, "urgent")
    assert "bleeding" in stored.triage_reasons and stored.escalation_id == escalation.id
    assert (safety.direction, safety.kind) == ("out", "safety")
    [realert] = await rig.timers(REALERT_TIMER)
    assert near(realert.due_at, NEXT_DAY + timedelta(minutes=10)) and realert.state == TimerState.PENDING
    assert "escalation_opened" in await audit_actions(rig)


async def test_concern_opens_a_case_without_the_emergency_message(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    assert await rig.say("Is it normal that it itches on the cheek?") == "concern"
    [to_client] = rig.messenger.texts_to(5001)
    # A symptom with no warning sign found: the client is asked which warning sign, if any, applies.
    assert "is any of these happening now?" in to_client and "needs attention now" not in to_client
    [(_, card)] = rig.cards()
    assert "Needs a reply" in card.html and "URGENT" not in card.html
    assert "Asked the client about warning signs" in card.html
    assert await rig.timers(REALERT_TIMER) == [], "only urgent cases are chased"


async def test_photo_is_attached_under_the_card(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    await rig.say("what do you think of this?", kind="photo", file_id="PHOTO-1")
    [(card_id, card)] = rig.cards()
    assert "Photo" in card.html
    photos = [(mid, m) for mid, m in rig.staff_posts() if m.photo_file_id]
    assert [(m.photo_file_id, m.reply_to_message_id) for _, m in photos] == [("PHOTO-1", card_id)]
    async with rig.services.session_factory() as session:
        roles = (await session.scalars(select(EscalationPost.role).order_by(EscalationPost.id))).all()
    assert roles == ["card", "media"]


async def test_voice_message_is_copied_under_the_card(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    assert await rig.say(None, kind="voice") == "concern", "a voice message cannot be read, so staff listen"
    [(card_id, _)] = rig.cards()
    [copy] = rig.messenger.copies
    assert (copy.chat_id, copy.from_chat_id, copy.reply_to_message_id) == (STAFF_CHAT_ID, 5001, card_id)


async def test_later_messages_join_the_open_case_as_replies_to_its_card(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    await rig.say(URGENT_TEXT)
    await rig.say("thanks")  # routine, but the case is open
    [(card_id, _)] = rig.cards()
    thread = rig.staff_posts()[-1][1]
    assert thread.reply_to_message_id == card_id and "thanks" in thread.html
    [escalation] = await rig.escalations()
    assert escalation.level == "urgent", "a routine message does not lower an urgent case"
    rows = await rig.conversation_rows()
    assert {r.escalation_id for r in rows if r.direction == "in"} == {escalation.id}
    assert "added this to your conversation" in rig.messenger.texts_to(5001)[-1]


async def test_urgent_message_raises_an_open_concern_case(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    await rig.say("Is it normal that it itches?")
    assert await rig.timers(REALERT_TIMER) == []
    await rig.say("now there is pus and a fever")
    [escalation] = await rig.escalations()
    assert escalation.level == "urgent" and "pus" in escalation.reasons
    [(card_id, _)] = rig.cards()
    assert rig.messenger.edits and rig.messenger.edits[-1].message_id == card_id
    assert "URGENT" in rig.messenger.edits[-1].html
    assert "needs attention now" in rig.messenger.texts_to(5001)[-1]
    assert "raises the case to URGENT" in rig.staff_posts()[-1][1].html
    assert len(await rig.timers(REALERT_TIMER)) == 1


async def test_two_messages_at_once_open_one_case(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    await asyncio.gather(rig.say(URGENT_TEXT), rig.say("I also have a fever"))
    assert len(await rig.escalations()) == 1
    assert len(rig.cards()) == 1


async def test_claim_and_resolve_are_idempotent_and_refuse_politely(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    await rig.say(URGENT_TEXT)
    [escalation] = await rig.escalations()
    [(card_id, _)] = rig.cards()

    claimed = await rig.desk.actions.claim(RowRef.of(escalation), NURSE_ID, "Nina Nurse")
    assert claimed.status == StaffAction.DONE
    edit = rig.messenger.edits[-1]
    assert edit.message_id == card_id and "Claimed by Nina Nurse at 13 Jan" not in edit.html
    assert "Claimed by Nina Nurse at 14 Jan, 14:00" in edit.html
    assert [b.label for row in edit.buttons for b in row] == ["✅ Resolve"]
    edits = len(rig.messenger.edits)

    case = RowRef.of(escalation)
    assert (await rig.desk.actions.claim(case, NURSE_ID, "Nina Nurse")).status == StaffAction.ALREADY_YOURS
    taken = await rig.desk.actions.claim(RowRef.of(escalation), OTHER_NURSE_ID, "Olga Other")
    assert (taken.status, taken.holder) == (StaffAction.TAKEN, "Nina Nurse")
    assert len(rig.messenger.edits) == edits, "a refused claim changes nothing"
    assert [t.state for t in await rig.timers(REALERT_TIMER)] == [TimerState.CANCELLED]

    rig.advance(timedelta(minutes=5))
    assert (await rig.desk.actions.resolve(case, OTHER_NURSE_ID, "Olga Other")).status == StaffAction.DONE
    edit = rig.messenger.edits[-1]
    assert "Resolved by Olga Other at 14 Jan, 14:05" in edit.html and edit.buttons == ()
    assert (await rig.desk.actions.resolve(RowRef.of(escalation), NURSE_ID, "Nina")).status == StaffAction.RESOLVED
    assert (await rig.desk.actions.claim(RowRef.of(escalation), NURSE_ID, "Nina")).status == StaffAction.RESOLVED
    assert (await rig.desk.actions.claim(RowRef(999, "0" * 12), NURSE_ID, "Nina")).status == StaffAction.UNKNOWN
    [escalation] = await rig.escalations()
    assert (escalation.state, escalation.claimed_by, escalation.resolved_by) == ("resolved", NURSE_ID, OTHER_NURSE_ID)
    actions = await audit_actions(rig)
    assert actions.count("escalation_claimed") == 1 and actions.count("escalation_resolved") == 1

    # A new message after resolution opens a new case.
    await rig.say("the bleeding started again")
    assert len(await rig.escalations()) == 2


async def test_staff_reply_reaches_the_client_signed_as_the_clinic(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    await rig.say("Is it normal that it itches?")
    await rig.say("and it is a bit warm")
    [(card_id, _)] = rig.cards()
    thread_id = rig.staff_posts()[-1][0]

    assert await rig.staff_reply(thread_id, "Yes <normal> & it will pass") == RelayStatus.SENT
    answer = rig.messenger.texts_to(5001)[-1]
    assert "<b>Glow &amp; Co &lt;Clinic&gt;</b>" in answer and "Yes &lt;normal&gt; &amp; it will pass" in answer
    assert "Nina" not in answer, "replies are signed by the clinic, not the person"
    confirmation = rig.staff_posts()[-1][1]
    assert confirmation.html.startswith("✓ Sent to Ann Smith")
    [escalation] = await rig.escalations()
    assert (escalation.state, escalation.claimed_by) == ("claimed", NURSE_ID), "answering takes the case"
    out = [r for r in await rig.conversation_rows() if r.author_id == NURSE_ID]
    assert [(r.direction, r.text, r.escalation_id) for r in out] == [("out", "Yes <normal> & it will pass", 1)]

    # The client's answer is threaded; a reply to the confirmation reaches the client too.
    await rig.say("ok thank you")
    assert rig.staff_posts()[-1][1].reply_to_message_id == card_id
    confirmation_id = next(mid for mid, m in rig.staff_posts() if m.html.startswith("✓"))
    assert await rig.staff_reply(confirmation_id, "You're welcome", OTHER_NURSE_ID) == RelayStatus.SENT
    assert "You&#x27;re welcome" in rig.messenger.texts_to(5001)[-1]
    assert await rig.staff_reply(123456, "to nobody") == RelayStatus.NOT_A_CASE


async def test_staff_reply_to_a_resolved_case_opens_it_again(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    await rig.say("Is it normal that it itches?")
    [escalation] = await rig.escalations()
    [(card_id, _)] = rig.cards()
    await rig.desk.actions.resolve(RowRef.of(escalation), NURSE_ID, "Nina")
    assert await rig.staff_reply(card_id, "One more thing: use sunscreen") == RelayStatus.SENT
    [escalation] = await rig.escalations()
    assert (escalation.state, escalation.claimed_by, escalation.resolved_at) == ("claimed", NURSE_ID, None)
    assert "open again" in rig.staff_posts()[-1][1].html
    assert rig.messenger.edits[-1].buttons, "the card has its Resolve button back"


async def test_staff_reply_with_a_photo_and_an_empty_one(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    await rig.say("Is it normal that it itches?")
    [(card_id, _)] = rig.cards()
    assert await rig.staff_reply(card_id, None, kind="photo", photo_file_id="STAFF-PHOTO") == RelayStatus.SENT
    [(_, photo)] = [(mid, m) for mid, m in rig.messenger.to(5001) if m.photo_file_id]
    assert photo.photo_file_id == "STAFF-PHOTO" and "sent you this" in photo.html
    assert await rig.staff_reply(card_id, "  ", kind="text") == RelayStatus.EMPTY
    assert "Nothing to send" in rig.staff_posts()[-1][1].html


async def test_unclaimed_urgent_case_is_announced_again_then_the_client_told_to_call(
    esc_rigs, make_settings
) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    await rig.say(URGENT_TEXT)
    [(card_id, _)] = rig.cards()
    rig.advance(timedelta(minutes=9))
    assert await rig.runner.run_due() == 0

    rig.advance(timedelta(minutes=1, seconds=1))
    assert await rig.runner.run_due() == 1
    realert = rig.staff_posts()[-1][1]
    assert realert.reply_to_message_id == card_id and "still not claimed after 10 min" in realert.html
    assert f'<a href="tg://user?id={ADMIN_ID}">' in realert.html
    [final] = await rig.timers(FINAL_TIMER)
    assert near(final.due_at, NEXT_DAY + timedelta(minutes=20))

    rig.advance(timedelta(minutes=10))
    await rig.runner.run_due()
    told = rig.messenger.texts_to(5001)[-1]
    assert PHONE in told and "emergency services" in told and "nobody from the team" in told
    assert "told to call the clinic" in rig.staff_posts()[-1][1].html
    rig.advance(timedelta(hours=1))
    before = len(rig.messenger.sent)
    await rig.runner.run_due()
    assert len(rig.messenger.sent) == before, "each alert is sent once"
    actions = await audit_actions(rig)
    assert "escalation_realerted" in actions and "escalation_final_notice" in actions


async def test_only_safety_advice_to_the_client_is_urgent(esc_rigs, make_settings) -> None:
    """Urgent messages may be sent as paid broadcasts in a burst (SAFETY_PAID_BROADCAST): the safety reply and the
    final notice, never a question, an acknowledgement or a staff post."""
    rig = await enrolled(esc_rigs, make_settings)
    await rig.say("Is it normal that it itches?")
    await rig.say("now there is pus and a fever")
    rig.advance(timedelta(minutes=10, seconds=1))
    await rig.runner.run_due()
    rig.advance(timedelta(minutes=10))
    await rig.runner.run_due()
    to_client = [(message.urgent, message.html) for _, message in rig.messenger.to(5001)]
    assert [urgent for urgent, _ in to_client] == [False, True, True]
    assert "is any of these happening now?" in to_client[0][1]
    assert "needs attention now" in to_client[1][1] and "nobody from the team" in to_client[2][1]
    assert rig.staff_posts() and not any(message.urgent for _, message in rig.staff_posts())


async def test_claim_stops_the_re_alert(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    await rig.say(URGENT_TEXT)
    rig.advance(timedelta(minutes=11))
    await rig.runner.run_due()  # re-alert sent, final notice scheduled
    [escalation] = await rig.escalations()
    await rig.desk.actions.claim(RowRef.of(escalation), NURSE_ID, "Nina")
    assert [t.state for t in await rig.timers(FINAL_TIMER)] == [TimerState.CANCELLED]
    rig.advance(timedelta(minutes=30))
    before = len(rig.messenger.sent)
    await rig.runner.run_due()
    assert len(rig.messenger.sent) == before


async def test_response_timers_survive_a_restart(esc_rigs, make_settings) -> None:
    settings = make_settings()
    first = esc_rigs(settings, SESSION, "first")
    await first.enrol(5001, "Ann Smith")
    first.clock.set(NEXT_DAY)
    await first.say(URGENT_TEXT)
    await first.services.engine.dispose()  # the bot stops

    second = esc_rigs(settings, NEXT_DAY + timedelta(minutes=10, seconds=1), "second")
    assert await second.runner.run_due() == 1
    assert "still not claimed" in second.staff_posts()[-1][1].html
    third = esc_rigs(settings, NEXT_DAY + timedelta(minutes=20, seconds=2), "third")
    await third.runner.run_due()
    assert PHONE in third.messenger.texts_to(5001)[-1]


async def test_a_timer_left_running_by_a_dead_replica_is_fired_after_the_lease(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings, send_lease="2m")
    await rig.say(URGENT_TEXT)
    rig.advance(timedelta(minutes=10, seconds=1))
    from aftercare_bot.db.repositories import timers

    async with rig.services.session_factory.begin() as session:
        assert len(await timers.claim_due(session, now=rig.clock.now(), limit=10)) == 1  # and then it died
    assert await rig.runner.run_due() == 0
    rig.advance(timedelta(minutes=3))
    assert await rig.runner.run_due() == 1
    assert "still not claimed" in rig.staff_posts()[-1][1].html


async def test_card_that_could_not_be_posted_is_retried(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    rig.messenger.chat_failures[STAFF_CHAT_ID] = [SendRetryLater("flood control", retry_after=20)]
    await rig.say(URGENT_TEXT)
    assert rig.cards() == [] and "needs attention now" in rig.messenger.texts_to(5001)[0]
    rig.advance(timedelta(seconds=10))
    await rig.runner.run_due()
    assert rig.cards() == [], "not before Telegram allows"
    rig.advance(timedelta(seconds=11))
    await rig.runner.run_due()
    [(_, card)] = rig.cards()
    assert "URGENT" in card.html


OTHER_ADMIN_ID = 900004


def cards_to(rig: EscalationRig, chat_id: int) -> list[str]:
    return [message.html for _, message in rig.messenger.to(chat_id) if message.buttons]


async def test_a_card_that_went_out_is_not_posted_again_when_another_chat_fails(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings, staff_chat_id=None, admin_ids=[ADMIN_ID, OTHER_ADMIN_ID])
    rig.messenger.chat_failures[OTHER_ADMIN_ID] = [RuntimeError("connection reset")]  # sent or not, nobody knows
    await rig.say(URGENT_TEXT)
    assert len(cards_to(rig, ADMIN_ID)) == 1 and cards_to(rig, OTHER_ADMIN_ID) == []
    rig.advance(timedelta(minutes=1))
    await rig.runner.run_due()
    assert len(cards_to(rig, OTHER_ADMIN_ID)) == 1, "the chat that failed gets the card later"
    assert len(cards_to(rig, ADMIN_ID)) == 1, "the chat that had it does not get it twice"


async def test_a_card_that_went_out_but_failed_to_be_recorded_is_left_to_the_send_lease(
    esc_rigs, make_settings, monkeypatch
) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    records = rig.desk.outbox.records
    write = records._write

    async def fails_for_cards(batch) -> None:  # type: ignore[no-untyped-def]
        if any(isinstance(record, PostedCard) for record in batch):
            raise RuntimeError("a bug")
        await write(batch)

    monkeypatch.setattr(records, "_write", fails_for_cards)
    await rig.say(URGENT_TEXT)
    assert len(rig.cards()) == 1
    rig.advance(timedelta(minutes=1))  # the card timer is not retried soon: that would post a second card
    await rig.runner.run_due()
    assert len(rig.cards()) == 1


async def test_open_cases_are_listed_oldest_first_with_their_holder(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    await rig.enrol(5002, "Bo Brown")
    await rig.say(URGENT_TEXT)
    rig.advance(timedelta(minutes=75))
    await rig.say("Is it normal that it itches?", user_id=5002)
    await rig.desk.actions.claim(await rig.case(2), NURSE_ID, "Nina Nurse")
    rig.advance(timedelta(minutes=5))
    [listing] = await rig.desk.actions.open_cases_messages()
    lines = listing.split("\n")
    assert "Open cases" in lines[0]
    assert "#1 urgent" in lines[1] and "Ann Smith" in lines[1] and "1 h 20 min ago" in lines[1]
    assert "not claimed" in lines[1]
    assert "#2 concern" in lines[2] and "5 min ago" in lines[2] and "held by Nina Nurse" in lines[2]
    for number in (1, 2):
        await rig.desk.actions.resolve(await rig.case(number), NURSE_ID, "Nina")
    assert await rig.desk.actions.open_cases_messages() == ["No open cases."]


async def test_every_staff_action_is_in_the_audit_trail(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    await rig.say(URGENT_TEXT)
    [(card_id, _)] = rig.cards()
    await rig.staff_reply(card_id, "Calling you now")
    await rig.desk.actions.resolve(await rig.case(1), NURSE_ID, "Nina")
    async with rig.services.session_factory() as session:
        events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
        stored = (await session.scalars(select(ConversationMessage))).all()
    staff_events = [(e.action, e.actor_id, e.escalation_id) for e in events if e.actor_id == NURSE_ID]
    assert staff_events == [("staff_reply", NURSE_ID, 1), ("escalation_resolved", NURSE_ID, 1)]
    assert all(e.at is not None for e in events) and all(m.at is not None for m in stored)


async def test_a_message_delivered_twice_is_handled_once(esc_rigs, make_settings) -> None:
    from aftercare_bot.inbound.message import InboundMessage

    rig = await enrolled(esc_rigs, make_settings)
    message = InboundMessage(telegram_user_id=5001, chat_id=5001, message_id=77, kind="text", text=URGENT_TEXT)
    assert await rig.conversation.receive(message) == "urgent"
    assert await rig.conversation.receive(message) == "duplicate"
    assert len(rig.cards()) == 1 and len(rig.messenger.texts_to(5001)) == 1
    assert len([r for r in await rig.conversation_rows() if r.direction == "in"]) == 1


async def test_open_cases_show_a_staff_name_escaped_once(esc_rigs, make_settings) -> None:
    rig = await enrolled(esc_rigs, make_settings)
    await rig.say(URGENT_TEXT)
    await rig.desk.actions.claim(await rig.case(1), NURSE_ID, "Nora O'Brien & Co")
    [listing] = await rig.desk.actions.open_cases_messages()
    assert "held by Nora O&#x27;Brien &amp; Co" in listing
    assert "held by Nora O'Brien & Co" in plain_text(listing), "what staff read"
    await rig.say("and now a fever too")
    thread = rig.staff_posts()[-1][1].html
    assert "(urgent)" in plain_text(thread)
    await rig.desk.posts.refresh_cards(1)
    assert "Nora O'Brien & Co" in plain_text(rig.messenger.edits[-1].html)


async def test_a_long_list_of_open_cases_is_split_into_messages_telegram_takes(esc_rigs, make_settings) -> None:
    rig = esc_rigs(make_settings(), SESSION)
    for number in range(80):
        await rig.enrol(6000 + number, f"Client Number {number:02d} with a rather long family name")
        await rig.say("Is it normal that it itches?", user_id=6000 + number)
        await rig.desk.actions.claim(await rig.case(number + 1), NURSE_ID, "Nora O'Brien & Co")
    messages = await rig.desk.actions.open_cases_messages()
    assert len(messages) >= 2
    assert all(visible_length(message) <= MAX_MESSAGE_LENGTH for message in messages)
    listed = [line for message in messages for line in plain_text(message).split("\n")]
    assert "Open cases" in listed[0] and len(listed) == 81
    assert [f"#{number}" in line for number, line in enumerate(listed[1:], start=1)] == [True] * 80
