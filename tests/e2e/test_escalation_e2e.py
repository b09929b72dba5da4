"""End to end over HTTP: client replies, red-flag triage, cards in the staff chat, Claim and Resolve, staff
replies relayed to the client, re-alerts across a restart, check-in buttons and silence."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from aftercare_bot.db.models import ConversationMessage, Delivery, Escalation, EscalationState
from aftercare_bot.sandbox.emulator.models import StoredMessage
from tests.conftest import ADMIN_ID
from tests.support.harness import START_LINK

PHONE = "+44 20 7946 0000"
CLINIC = "Glow & Co <Clinic>"


def press_raw(telegram: Any, user: Any, message: StoredMessage, data: str) -> str:
    """A button press with any callback data: a stale button on another screen, or a forged one."""
    query_id = f"raw-{telegram.next_id()}"
    query = {"id": query_id, "from": user.to_json(), "message": message.data, "chat_instance": "1", "data": data}
    telegram.callback_queries[query_id] = query
    telegram.queue_update("callback_query", query)
    return query_id


def press(telegram: Any, user: Any, message: StoredMessage, data: str) -> str:
    return telegram.press_button(user, message, data)["callback_query"]["id"]


async def answer_text(telegram: Any, query_id: str) -> str:
    return (await telegram.wait_for_callback_answer(query_id)).get("text", "")


async def escalations(bot: Any) -> list[Escalation]:
    async with bot.services.session_factory() as session:
        return list((await session.scalars(select(Escalation).order_by(Escalation.id))).all())


async def card_after(bot: Any, since: int, needle: str = "case #") -> StoredMessage:
    """The case card, which must reach the staff chat within a second."""
    return await bot.telegram.wait_for_message(
        bot.staff_chat, lambda m: needle in (m.plain_text or "") and bool(m.buttons), timeout=1.0, since=since
    )


async def test_urgent_photo_alerts_the_client_and_the_staff_chat_at_once(bot) -> None:
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann Smith")
    since_staff = telegram.last_message_id(bot.staff_chat)
    since_ann = telegram.last_message_id(ann)
    telegram.send_photo(ann, "it is bleeding a lot <b>and</b> there is pus")

    safety = await telegram.wait_for_message(ann, "call", since=since_ann, timeout=1.0)
    assert PHONE in safety.plain_text and "emergency services" in safety.plain_text
    card = await card_after(bot, since_staff, "URGENT")
    assert "Ann Smith" in card.plain_text and "day 0" in card.plain_text
    assert "it is bleeding a lot <b>and</b> there is pus" in card.plain_text, "quoted as written, not as HTML"
    assert "bleeding" in card.plain_text.split("Why it was flagged")[1]
    assert card.button_texts == ["🙋 Claim", "✅ Resolve"]
    photo = await telegram.wait_for_message(bot.staff_chat, lambda m: bool(m.photo), since=card.message_id)
    assert photo.reply_to_message_id == card.message_id


async def test_concern_then_claim_and_resolve_by_staff(bot) -> None:
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann Smith")
    since = telegram.last_message_id(bot.staff_chat)
    telegram.send_text(ann, "Is it normal that it itches?")
    # An itch is a symptom but no warning sign: the client is asked which warning sign, if any, applies.
    told = await telegram.wait_for_message(ann, "is any of these happening now?")
    assert "needs attention now" not in told.plain_text and told.button_texts[-1] == "None of these"
    card = await card_after(bot, since, "Needs a reply")
    claim, resolve = card.callback_data

    assert "claimed this case" in await answer_text(telegram, press(telegram, bot.nurse, card, claim))
    # The card is edited through the outbox, which may finish just after the button's answer.
    edited = await telegram.wait_for(
        lambda: (m := telegram.find_message(bot.staff_chat, card.message_id)) and "Claimed by Nina" in m.plain_text
        and m, what="card shows the claim")
    assert edited.button_texts == ["✅ Resolve"]
    # The admin's screen still shows the Claim button: a second claim is refused and changes nothing.
    refused = await answer_text(telegram, press_raw(telegram, bot.admin, card, claim))
    assert "Nina is already handling this case" in refused
    assert "Claimed by Nina" in telegram.find_message(bot.staff_chat, card.message_id).plain_text

    assert "resolved" in (await answer_text(telegram, press(telegram, bot.admin, edited, resolve))).lower()
    done = await telegram.wait_for(
        lambda: (m := telegram.find_message(bot.staff_chat, card.message_id)) and "Resolved by Alex" in m.plain_text
        and m, what="card shows the resolution")
    assert not done.buttons
    assert "already resolved" in await answer_text(telegram, press_raw(telegram, bot.nurse, card, resolve))
    [escalation] = await escalations(bot)
    assert (escalation.state, escalation.claimed_by, escalation.resolved_by) == ("resolved", 900002, ADMIN_ID)


async def test_a_warning_sign_pressed_when_asked_back_raises_the_case_in_the_running_bot(bot) -> None:
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann Smith")
    since = telegram.last_message_id(bot.staff_chat)
    telegram.send_text(ann, "my cheek feels a bit lumpy")
    question = await telegram.wait_for_message(ann, "is any of these happening now?")
    card = await card_after(bot, since, "Needs a reply")
    assert "no answer yet" in card.plain_text
    data = next(b["callback_data"] for b in question.buttons if "Swelling" in b["text"])
    press(telegram, ann, question, data)
    await telegram.wait_for_message(ann, "needs attention now")
    await telegram.wait_for(
        lambda: (m := telegram.find_message(bot.staff_chat, card.message_id)) and "URGENT" in m.plain_text and m,
        what="card raised to urgent")
    [escalation] = await escalations(bot)
    assert (escalation.level, escalation.ask_back_answer) == ("urgent", "allergy")


async def test_forged_and_foreign_presses_are_refused_and_change_nothing(bot) -> None:
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann Smith")
    mallory = telegram.user(6666, "Mallory")
    since = telegram.last_message_id(bot.staff_chat)
    telegram.send_text(ann, "there is pus and it is hot")
    card = await card_after(bot, since)
    claim, resolve = card.callback_data

    assert "Only the clinic team" in await answer_text(telegram, press_raw(telegram, ann, card, claim))
    assert "Only the clinic team" in await answer_text(telegram, press_raw(telegram, mallory, card, resolve))
    forged = resolve.rsplit(":", 1)[0] + ":AAAAAAAAAAAA"
    assert "no longer valid" in await answer_text(telegram, press_raw(telegram, bot.nurse, card, forged))
    other_case = resolve.replace("esc:1-", "esc:2-")
    assert "no longer valid" in await answer_text(telegram, press_raw(telegram, bot.nurse, card, other_case))
    [escalation] = await escalations(bot)
    assert escalation.state == EscalationState.OPEN and escalation.claimed_by is None
    assert telegram.find_message(bot.staff_chat, card.message_id).edits == []


async def test_staff_replies_reach_the_client_and_answers_are_threaded(bot) -> None:
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann Smith")
    since = telegram.last_message_id(bot.staff_chat)
    telegram.send_text(ann, "Is it normal that it itches?")
    card = await card_after(bot, since)

    since_ann = telegram.last_message_id(ann)
    reply = telegram.send_text(bot.nurse, "Yes, and <please> send a photo", chat=bot.staff_chat, reply_to=card)
    relayed = await telegram.wait_for_message(ann, "send a photo", since=since_ann)
    assert relayed.plain_text == f"{CLINIC}:\nYes, and <please> send a photo"
    confirmation = await telegram.wait_for_message(bot.staff_chat, "✓ Sent to Ann Smith")
    assert confirmation.reply_to_message_id == reply["message"]["message_id"]
    await telegram.wait_for(
        lambda: "Claimed by Nina" in telegram.find_message(bot.staff_chat, card.message_id).plain_text,
        what="replying claimed the case")

    since_staff = telegram.last_message_id(bot.staff_chat)
    telegram.send_photo(ann, "here it is", reply_to=relayed)
    thread = await telegram.wait_for_message(bot.staff_chat, "here it is", since=since_staff)
    assert thread.reply_to_message_id == card.message_id
    photo = await telegram.wait_for_message(bot.staff_chat, lambda m: bool(m.photo), since=since_staff)
    assert photo.reply_to_message_id == card.message_id

    # A reply to the threaded post (not the card) reaches the client as well.
    since_ann = telegram.last_message_id(ann)
    telegram.send_text(bot.admin, "Looks fine, keep using sunscreen", chat=bot.staff_chat, reply_to=thread)
    await telegram.wait_for_message(ann, "keep using sunscreen", since=since_ann)

    # Staff chatting among themselves is not sent anywhere.
    since_ann = telegram.last_message_id(ann)
    telegram.send_text(bot.admin, "I'll call her later", chat=bot.staff_chat, reply_to=reply)
    telegram.send_text(bot.nurse, "ok", chat=bot.staff_chat)
    await bot.telegram.wait_for_message(bot.staff_chat, "✓", since=confirmation.message_id)
    async with bot.services.session_factory() as session:
        out = (await session.scalars(select(ConversationMessage).where(ConversationMessage.author_id.is_not(None))
                                     .order_by(ConversationMessage.id))).all()
    assert [(m.author_id, m.text) for m in out] == [
        (900002, "Yes, and <please> send a photo"), (ADMIN_ID, "Looks fine, keep using sunscreen"),
    ]
    assert not [m for m in telegram.bot_messages(ann) if m.message_id > since_ann]


async def test_unclaimed_urgent_case_is_announced_again_after_a_restart(bot_factory) -> None:
    bot = await bot_factory(escalation_realert_after="10m", escalation_final_after="10m")
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann Smith")
    since = telegram.last_message_id(bot.staff_chat)
    telegram.send_text(ann, "my face is swollen and I have a fever")
    card = await card_after(bot, since, "URGENT")

    await bot.restart()
    await bot.jump(timedelta(minutes=9))
    assert telegram.last_message_id(bot.staff_chat) == card.message_id
    await bot.jump(timedelta(minutes=1, seconds=1))
    realert = await telegram.wait_for_message(bot.staff_chat, "still not claimed", since=card.message_id)
    assert realert.reply_to_message_id == card.message_id
    assert f"tg://user?id={ADMIN_ID}" in realert.text, "the admins are named"

    since_ann = telegram.last_message_id(ann)
    await bot.restart()
    await bot.jump(timedelta(minutes=10))
    final = await telegram.wait_for_message(ann, "call", since=since_ann)
    assert PHONE in final.plain_text and "emergency services" in final.plain_text
    await telegram.wait_for_message(bot.staff_chat, "has been told to call", since=realert.message_id)


async def next_checkin(bot: Any, ann: Any) -> StoredMessage:
    """Move the clock to the day-1 check-in and return it as the client sees it."""
    tz = bot.settings.timezone
    day1 = (bot.clock.now().astimezone(tz) + timedelta(days=1)).date()
    since = bot.telegram.last_message_id(ann)
    bot.clock.set(datetime.combine(day1, time(10, 0, 5), tzinfo=tz))
    await bot.run_due()
    return await bot.telegram.wait_for_message(ann, lambda m: bool(m.buttons), since=since)


async def test_checkin_buttons_record_the_answer_once(bot) -> None:
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann Smith")
    checkin = await next_checkin(bot, ann)
    assert len(checkin.buttons) == 3
    first_line = checkin.plain_text.split("\n")[0]
    _ok, worried, urgent = checkin.callback_data  # the stored message changes when the bot edits it
    since_staff = telegram.last_message_id(bot.staff_chat)

    press(telegram, ann, checkin, worried)
    await telegram.wait_for_message(ann, "what worries you")
    edited = await telegram.wait_for(lambda: (m := telegram.find_message(ann, checkin.message_id)).edits and m)
    assert not edited.buttons and "Your answer: 😟 Something worries me" in edited.plain_text
    assert first_line in edited.plain_text, "the check-in text is kept"
    card = await card_after(bot, since_staff, "Something worries me")
    assert "Needs a reply" in card.plain_text

    again = press_raw(telegram, ann, checkin, urgent)
    assert "already answered" in await answer_text(telegram, again)
    stranger = telegram.user(6666, "Mallory")
    assert "not for you" in await answer_text(telegram, press_raw(telegram, stranger, checkin, worried))
    async with bot.services.session_factory() as session:
        delivery = await session.scalar(select(Delivery).where(Delivery.step_key == "day1_checkin"))
    assert delivery.answer == "worried" and len(await escalations(bot)) == 1


async def test_silence_after_a_checkin_gets_a_reminder_then_staff_are_told(bot) -> None:
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann Smith")
    checkin = await next_checkin(bot, ann)
    await bot.jump(timedelta(hours=8, seconds=1))
    reminder = await telegram.wait_for_message(ann, "how is your skin today", since=checkin.message_id)
    assert reminder.reply_to_message_id == checkin.message_id
    since_staff = telegram.last_message_id(bot.staff_chat)
    await bot.jump(timedelta(hours=16, seconds=1))
    card = await card_after(bot, since_staff, "No answer to a check-in")
    assert "Ann Smith" in card.plain_text and "day1_checkin" in card.plain_text


async def test_strangers_writing_are_told_how_to_join(bot) -> None:
    telegram = bot.telegram
    sam = telegram.user(7001, "Sam")
    telegram.send_text(sam, "hello, my skin is bleeding")
    safety = await telegram.wait_for_message(sam)
    assert "emergency services" in safety.plain_text, "a warning sign: safety advice first"
    await telegram.wait_for_message(sam, "personal link", since=safety.message_id)
    assert await escalations(bot) == []


async def test_open_cases_and_client_history_for_staff(bot) -> None:
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann Smith")
    since = telegram.last_message_id(bot.staff_chat)
    telegram.send_voice(ann)
    card = await card_after(bot, since)
    await telegram.wait_for_message(bot.staff_chat, lambda m: m.kind == "voice", since=card.message_id)
    listing = await bot.staff_command("/open")
    assert "#1 concern — Ann Smith, 0 min ago — not claimed" in listing.plain_text
    summary = await bot.staff_command("/client ann")
    assert "Recent conversation" in summary.plain_text and "⬅️ Voice message (concern)" in summary.plain_text
    stranger = telegram.user(7001, "Sam")
    telegram.send_command(stranger, "open")
    assert "only for the clinic team" in (await telegram.wait_for_message(stranger)).plain_text


async def test_without_a_staff_chat_admins_get_cases_privately_and_answer_there(bot_factory) -> None:
    bot = await bot_factory(staff_chat_id=None)
    telegram = bot.telegram
    # Only admins are staff now, and with no staff group they work in a private chat with the bot.
    since = telegram.last_message_id(bot.admin)
    telegram.send_command(bot.admin, "enrol", "Ann Smith")
    answer = await telegram.wait_for_message(bot.admin, since=since)
    ann = telegram.user(5001, "Ann")
    telegram.send_command(ann, "start", START_LINK.search(answer.plain_text).group(1))
    consent = await telegram.wait_for_message(ann)
    telegram.press_button(ann, consent, consent.callback_data[0])
    await telegram.wait_for_message(ann, "all set")
    since = telegram.last_message_id(bot.admin)
    telegram.send_text(ann, "there is pus and it is hot")
    card = await telegram.wait_for_message(bot.admin, lambda m: "URGENT" in (m.plain_text or ""), since=since)
    assert not [m for m in telegram.bot_messages(bot.staff_chat) if "URGENT" in (m.plain_text or "")]

    since_ann = telegram.last_message_id(ann)
    telegram.send_text(bot.admin, "We are calling you now", reply_to=card)
    await telegram.wait_for_message(ann, "We are calling you now", since=since_ann)
    await telegram.wait_for_message(bot.admin, "✓ Sent to Ann Smith")
    # An ordinary message from the admin is not taken for a client's.
    telegram.send_text(bot.admin, "hello")
    assert "personal link" in (await telegram.wait_for_message(bot.admin)).plain_text


async def test_an_edited_message_is_triaged_again(bot) -> None:
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann Smith")
    since_ann = telegram.last_message_id(ann)
    sent = telegram.send_text(ann, "all good thanks")
    await telegram.wait_for_message(ann, "Thank you for your message", since=since_ann)
    since = telegram.last_message_id(bot.staff_chat)
    telegram.edit_text(sent, "all good thanks, except the bleeding will not stop")
    card = await card_after(bot, since, "URGENT")
    assert "the bleeding will not stop" in card.plain_text
    async with bot.services.session_factory() as session:
        kinds = (await session.scalars(select(ConversationMessage.kind).where(ConversationMessage.direction == "in")
                                       .order_by(ConversationMessage.id))).all()
    assert kinds == ["text", "edit"]


async def test_a_card_the_staff_chat_refuses_goes_to_the_admins_privately(bot, caplog) -> None:
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann Smith")
    since_admin = telegram.last_message_id(bot.admin)
    # The bot was removed from the group: Telegram refuses every message to it.
    telegram.fail_next("sendMessage", status=403, chat_id=bot.staff_chat.id, count=5,
                       description="Forbidden: bot was kicked from the supergroup chat")
    telegram.send_text(ann, "there is pus and it is hot")

    card = await telegram.wait_for_message(
        bot.admin, lambda m: "URGENT" in (m.plain_text or "") and bool(m.buttons), since=since_admin, timeout=2.0
    )
    assert "Ann Smith" in card.plain_text
    assert any(record.levelname == "ERROR" and "staff chat" in record.getMessage() for record in caplog.records)
    for _ in range(50):  # the card is recorded just after Telegram took it
        [case] = await escalations(bot)
        if case.card_message_id is not None:
            break
        await asyncio.sleep(0.02)
    assert case.card_chat_id == ADMIN_ID and case.card_message_id == card.message_id

    query_id = press(telegram, bot.admin, card, card.callback_data[0])  # Claim works there too
    await telegram.wait_for_callback_answer(query_id)
    [case] = await escalations(bot)
    assert case.state == EscalationState.CLAIMED and case.claimed_by == ADMIN_ID
