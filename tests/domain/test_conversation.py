"""Client conversation in the domain: acknowledgements, strangers, check-in answers and silence after a
check-in (one reminder, then a "no response" case for staff)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from aftercare_bot.clients import privacy, summary
from aftercare_bot.db.models import Client, Delivery, TimerState
from aftercare_bot.db.refs import RowRef
from aftercare_bot.delivery.compose import CHECKIN_NO_RESPONSE, CHECKIN_REMINDER
from aftercare_bot.delivery.ports import SendRetryLater
from aftercare_bot.inbound.checkins import CheckinStatus
from tests.conftest import STAFF_CHAT_ID
from tests.support.escalation_rig import NURSE_ID, EscalationRig, escalation_rigs

SESSION = datetime(2026, 1, 13, 14, 0, tzinfo=UTC)  # winter: London time is UTC
CHECKIN_AT = datetime(2026, 1, 14, 10, 0, 5, tzinfo=UTC)  # day 1 at 10:00, the day-1 check-in
PHONE = "+44 20 7946 0000"


@pytest.fixture
async def esc_rigs() -> AsyncIterator[Callable[..., EscalationRig]]:
    async with escalation_rigs() as factory:
        yield factory


async def rig_with_checkin(esc_rigs, make_settings, **settings):  # type: ignore[no-untyped-def]
    """Ann enrolled, and the day-1 check-in sent to her."""
    rig = esc_rigs(make_settings(**settings), SESSION)
    await rig.enrol(5001, "Ann Smith")
    rig.clock.set(CHECKIN_AT)
    await rig.base.dispatcher.run_due()
    async with rig.services.session_factory() as session:
        checkin = await session.scalar(select(Delivery).where(Delivery.step_key == "day1_checkin"))
    assert checkin.telegram_message_id is not None
    return rig, checkin


async def test_routine_messages_get_an_acknowledgement_now_and_then(esc_rigs, make_settings) -> None:
    rig = esc_rigs(make_settings(), SESSION)
    await rig.enrol(5001, "Ann")
    assert await rig.say("thanks, all fine") == "routine"
    assert await rig.say("ok") == "routine"
    acks = rig.messenger.texts_to(5001)
    assert len(acks) == 1 and PHONE in acks[0], "one acknowledgement for two quick messages"
    rig.advance(timedelta(minutes=31))
    await rig.say("thank you")
    assert len(rig.messenger.texts_to(5001)) == 2
    assert rig.staff_posts() == [] and await rig.escalations() == []
    rows = await rig.conversation_rows()
    assert [(r.direction, r.triage_level) for r in rows if r.direction == "in"] == [("in", "routine")] * 3


async def test_someone_not_enrolled_is_told_how_to_join(esc_rigs, make_settings) -> None:
    rig = esc_rigs(make_settings(), SESSION)
    assert await rig.say("hello, how does this work?", user_id=7777) == "stranger"
    [answer] = rig.messenger.texts_to(7777)
    assert "personal link or QR code" in answer
    assert await rig.conversation_rows() == [] and rig.staff_posts() == []


async def test_someone_not_enrolled_describing_a_warning_sign_gets_safety_advice(esc_rigs, make_settings) -> None:
    rig = esc_rigs(make_settings(), SESSION)
    assert await rig.say("my skin is bleeding and there is pus", user_id=7777) == "stranger"
    safety, join = rig.messenger.texts_to(7777)
    assert PHONE in safety and "emergency services" in safety, "safety advice first"
    assert "personal link or QR code" in join
    assert await rig.conversation_rows() == [] and rig.staff_posts() == [] and await rig.escalations() == []
    assert [timer.state for timer in await rig.timers()] == [TimerState.DONE], "sent, nothing left queued"


async def test_safety_advice_to_someone_not_enrolled_survives_an_outage(esc_rigs, make_settings) -> None:
    rig = esc_rigs(make_settings(), SESSION)
    rig.messenger.chat_failures[7777] = [SendRetryLater("timed out"), SendRetryLater("timed out")]
    assert await rig.say("there is pus and a fever", user_id=7777) == "stranger"
    assert rig.messenger.texts_to(7777) == [], "both sends failed"
    rig.advance(timedelta(minutes=5))
    assert await rig.runner.run_due() == 1
    [safety] = rig.messenger.texts_to(7777)
    assert PHONE in safety and "emergency services" in safety


async def test_a_client_who_erased_their_data_still_gets_safety_advice(esc_rigs, make_settings) -> None:
    rig = esc_rigs(make_settings(), SESSION)
    await rig.enrol(5001, "Ann")
    async with rig.services.session_factory.begin() as session:
        assert await privacy.erase(session, 5001, now=rig.clock.now(), reason=privacy.BY_REQUEST) is not None
    assert await rig.say("it is still bleeding") == "stranger"
    safety, join = rig.messenger.texts_to(5001)[-2:]
    assert PHONE in safety and "emergency services" in safety and "personal link" in join


async def test_a_client_who_stopped_the_plan_is_still_heard(esc_rigs, make_settings) -> None:
    rig = esc_rigs(make_settings(), SESSION)
    await rig.enrol(5001, "Ann")
    from aftercare_bot.clients import enrolment

    async with rig.services.session_factory.begin() as session:
        client = await session.scalar(select(Client))
        await enrolment.stop_client(session, client, now=rig.clock.now())
    assert await rig.say("there is pus now") == "urgent"
    assert len(rig.cards()) == 1


async def test_ok_answer_thanks_the_client_and_ends_the_silence_timers(esc_rigs, make_settings) -> None:
    rig, checkin = await rig_with_checkin(esc_rigs, make_settings)
    assert [t.state for t in await rig.timers(CHECKIN_REMINDER)] == [TimerState.PENDING]

    result = await rig.conversation.checkins.answer(RowRef.of(checkin), "ok", 5001)
    assert (result.status, result.answer_label) == (CheckinStatus.ANSWERED, "🙂 As expected")
    assert "good to hear" in rig.messenger.texts_to(5001)[-1]
    async with rig.services.session_factory() as session:
        stored = await session.get(Delivery, checkin.id)
    assert stored.answer == "ok" and stored.answered_at is not None
    assert [t.state for t in await rig.timers(CHECKIN_REMINDER)] == [TimerState.CANCELLED]
    assert rig.staff_posts() == []

    sent = len(rig.messenger.sent)
    assert (await rig.conversation.checkins.answer(RowRef.of(checkin), "urgent", 5001)).status == CheckinStatus.ALREADY
    assert (await rig.conversation.checkins.answer(RowRef.of(checkin), "ok", 6666)).status == CheckinStatus.NOT_YOURS
    assert (await rig.conversation.checkins.answer(RowRef.of(checkin), "maybe", 5001)).status == CheckinStatus.UNKNOWN
    unknown = RowRef(10_000, RowRef.of(checkin).ref)
    assert (await rig.conversation.checkins.answer(unknown, "ok", 5001)).status == CheckinStatus.UNKNOWN
    wrong_ref = RowRef(checkin.id, "0" * 12)
    assert (await rig.conversation.checkins.answer(wrong_ref, "ok", 5001)).status == CheckinStatus.UNKNOWN
    assert len(rig.messenger.sent) == sent, "stale, foreign and unknown presses change nothing"
    async with rig.services.session_factory() as session:
        assert (await session.get(Delivery, checkin.id)).answer == "ok"


async def test_worried_answer_opens_a_concern_case(esc_rigs, make_settings) -> None:
    rig, checkin = await rig_with_checkin(esc_rigs, make_settings)
    await rig.conversation.checkins.answer(RowRef.of(checkin), "worried", 5001)
    assert "tell us here what worries you" in rig.messenger.texts_to(5001)[-1]
    [(_, card)] = rig.cards()
    assert "Needs a reply" in card.html and "Something worries me" in card.html
    [escalation] = await rig.escalations()
    assert escalation.level == "concern"


async def test_urgent_answer_is_treated_like_a_red_flag_message(esc_rigs, make_settings) -> None:
    rig, checkin = await rig_with_checkin(esc_rigs, make_settings)
    await rig.conversation.checkins.answer(RowRef.of(checkin), "urgent", 5001)
    safety = rig.messenger.texts_to(5001)[-1]
    assert PHONE in safety and "emergency services" in safety
    [(_, card)] = rig.cards()
    assert "URGENT" in card.html and "Bleeding, pus, fever" in card.html
    rows = await rig.conversation_rows()
    assert [(r.kind, r.triage_level) for r in rows if r.direction == "in"] == [("button", "urgent")]


async def test_silence_after_a_checkin_gets_one_reminder_then_a_no_response_card(esc_rigs, make_settings) -> None:
    rig, checkin = await rig_with_checkin(esc_rigs, make_settings)
    rig.advance(timedelta(hours=7, minutes=59))
    await rig.runner.run_due()
    assert rig.messenger.sent == []

    rig.advance(timedelta(minutes=2))
    await rig.runner.run_due()
    [(_, reminder)] = rig.messenger.to(5001)
    assert "how is your skin today" in reminder.html
    assert reminder.reply_to_message_id == checkin.telegram_message_id, "the reminder points at the check-in"
    [no_response] = await rig.timers(CHECKIN_NO_RESPONSE)
    assert no_response.state == TimerState.PENDING

    rig.advance(timedelta(hours=16, minutes=1))
    await rig.runner.run_due()
    [(_, card)] = rig.cards()
    assert "No answer to a check-in" in card.html and "day1_checkin" in card.html and "Ann Smith" in card.html
    [escalation] = await rig.escalations()
    assert (escalation.kind, escalation.level) == ("no_response", "concern")
    assert len(rig.messenger.to(5001)) == 1, "one reminder only"

    # A late answer joins the case, threaded under its card.
    await rig.conversation.checkins.answer(RowRef.of(checkin), "ok", 5001)
    assert rig.staff_posts()[-1][1].reply_to_message_id == rig.cards()[0][0]


async def test_an_answered_checkin_is_not_chased(esc_rigs, make_settings) -> None:
    rig, checkin = await rig_with_checkin(esc_rigs, make_settings)
    rig.advance(timedelta(hours=9))
    await rig.runner.run_due()  # the reminder
    await rig.conversation.checkins.answer(RowRef.of(checkin), "ok", 5001)
    assert [t.state for t in await rig.timers(CHECKIN_NO_RESPONSE)] == [TimerState.CANCELLED]
    rig.advance(timedelta(days=1))
    await rig.runner.run_due()
    assert rig.cards() == []


async def test_reminder_waits_for_the_end_of_quiet_hours(esc_rigs, make_settings) -> None:
    rig, _checkin = await rig_with_checkin(esc_rigs, make_settings, quiet_hours="17:00-08:00",
                                           checkin_reminder_after="8h")
    rig.advance(timedelta(hours=8, minutes=1))  # 18:01, inside quiet hours
    await rig.runner.run_due()
    assert rig.messenger.to(5001) == []
    [reminder] = await rig.timers(CHECKIN_REMINDER)
    assert reminder.state == TimerState.PENDING and reminder.due_at == datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    rig.clock.set(datetime(2026, 1, 15, 8, 0, 1, tzinfo=UTC))
    await rig.runner.run_due()
    assert len(rig.messenger.to(5001)) == 1


async def test_no_response_on_a_client_with_an_open_case_is_a_note_on_it(esc_rigs, make_settings) -> None:
    rig = esc_rigs(make_settings(), SESSION)
    await rig.enrol(5001, "Ann Smith")
    rig.advance(timedelta(hours=1))
    await rig.say("Is it normal that it itches?")  # a case, still open when the check-in goes out
    rig.clock.set(CHECKIN_AT)
    await rig.base.dispatcher.run_due()
    rig.advance(timedelta(hours=8, minutes=1))
    await rig.runner.run_due()  # the reminder
    assert "how is your skin today" in rig.messenger.texts_to(5001)[-1]
    rig.advance(timedelta(hours=16, minutes=1))
    await rig.runner.run_due()
    assert len(await rig.escalations()) == 1 and len(rig.cards()) == 1
    note = rig.staff_posts()[-1][1]
    assert "has not answered the check-in" in note.html and note.reply_to_message_id == rig.cards()[0][0]


async def test_writing_after_a_checkin_counts_as_an_answer(esc_rigs, make_settings) -> None:
    rig, _checkin = await rig_with_checkin(esc_rigs, make_settings)
    rig.advance(timedelta(minutes=30))
    await rig.say("all good thanks")
    sent = len(rig.messenger.sent)
    rig.advance(timedelta(days=2))
    await rig.runner.run_due()
    await rig.runner.run_due()
    assert len(rig.messenger.sent) == sent, "no reminder and no staff card"
    assert await rig.timers(CHECKIN_NO_RESPONSE) == []


async def test_staff_hear_when_the_final_advice_could_not_reach_the_client(esc_rigs, make_settings) -> None:
    from aftercare_bot.delivery.ports import RecipientBlocked

    rig = esc_rigs(make_settings(), SESSION)
    await rig.enrol(5001, "Ann Smith")
    await rig.say("the bleeding will not stop")
    rig.advance(timedelta(minutes=10, seconds=1))
    await rig.runner.run_due()
    rig.messenger.chat_failures[5001] = [RecipientBlocked("blocked")]
    rig.advance(timedelta(minutes=10))
    await rig.runner.run_due()
    note = rig.staff_posts()[-1][1]
    assert "could not be sent the advice to call" in note.html and "Please call them now" in note.html


async def test_client_summary_shows_the_recent_conversation(esc_rigs, make_settings) -> None:
    rig, _checkin = await rig_with_checkin(esc_rigs, make_settings)
    await rig.say("Is it normal that it itches?")
    [(card_id, _)] = rig.cards()
    await rig.staff_reply(card_id, "Yes, it will pass")
    await rig.say(None, kind="photo", file_id="P1")
    async with rig.services.session_factory() as session:
        client = await session.scalar(select(Client))
        described = await summary.describe(session, client, rig.services)
    lines = described.split("\n")
    start = lines.index("<b>Recent conversation</b>:")
    conversation = lines[start + 1:]
    assert "14 Jan, 10:00 ⬅️ Is it normal that it itches? <i>(concern)</i>" in conversation[0]
    assert "➡️" in conversation[1] and "is any of these happening now?" in conversation[1]
    assert "Yes, it will pass" in conversation[2] and f"(by {NURSE_ID})" in conversation[2]
    assert "⬅️ Photo" in conversation[3]
    assert STAFF_CHAT_ID not in [m.chat_id for _, m in rig.messenger.to(5001)]
