"""End to end over HTTP: enrolment, consent, durable delivery, restarts, quiet hours, blocked clients, bad links."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from aftercare_bot.clients.enrolment import hash_token
from aftercare_bot.config import SHIPPED_MESSAGES_DIR
from aftercare_bot.db.models import Client, ClientStatus, Delivery, DeliveryState, Invite

QUICK_PLAN = """\
treatment: quick
title:
  en: Quick test treatment
steps:
  - key: first
    due: 1s
    grace: 1h
    text:
      en: "First for {first_name}"
  - key: second
    due: 3s
    grace: 1h
    text:
      en: "Second for {first_name}"
  - key: third
    due: 5s
    grace: 1h
    warning_signs: true  # every plan needs one, with the clinic's phone and urgent-care advice
    text:
      en: "Third for {first_name}: bleeding? Call {clinic_phone}. Difficulty breathing? Call emergency services."
"""
THIRD_FOR_ANN = "Third for Ann: bleeding? Call +44 20 7946 0000. Difficulty breathing? Call emergency services."


def messages_with_quick_plan(tmp_path: Path) -> Path:
    target = tmp_path / "messages"
    shutil.copytree(SHIPPED_MESSAGES_DIR, target)
    (target / "plans" / "quick.yaml").write_text(QUICK_PLAN)
    return target


def texts_of(bot, user) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.plain_text or "" for m in bot.telegram.bot_messages(user)]


async def test_enrolment_to_delivery_of_a_plan_seconds_apart(bot_factory, tmp_path) -> None:
    bot = await bot_factory(messages_dir=messages_with_quick_plan(tmp_path), dispatch_tick="30s")
    ann = await bot.enrol_client(5001, "Ann Smith", options="treatment=quick")
    # No clock jumps: the JobQueue's wake-up at each due time delivers them.
    third = await bot.telegram.wait_for_message(ann, "Third for Ann", timeout=10, since=0)
    await bot.run_due()  # waits for the pass that sent it to record the send
    sent = [t for t in texts_of(bot, ann) if t.startswith(("First for", "Second for", "Third for"))]
    assert sent == ["First for Ann", "Second for Ann", THIRD_FOR_ANN]
    assert third.message_id > 0
    async with bot.services.session_factory() as session:
        rows = (await session.scalars(select(Delivery).order_by(Delivery.due_at))).all()
    assert [(r.step_key, r.state) for r in rows] == [(k, DeliveryState.SENT) for k in ("first", "second", "third")]
    assert all(r.telegram_message_id for r in rows)


async def test_restart_between_steps_loses_and_repeats_nothing(bot_factory, tmp_path) -> None:
    bot = await bot_factory(messages_dir=messages_with_quick_plan(tmp_path), dispatch_tick="30s")
    ann = await bot.enrol_client(5001, "Ann", options="treatment=quick")
    await bot.telegram.wait_for_message(ann, "First for Ann", timeout=10, since=0)
    await bot.stop()
    bot.clock.advance(timedelta(seconds=10))  # the bot was down while the other steps fell due
    await bot.start()
    await bot.telegram.wait_for_message(ann, "Third for Ann", timeout=10, since=0)
    await bot.run_due()
    sent = [t for t in texts_of(bot, ann) if t.startswith(("First for", "Second for", "Third for"))]
    assert sent == ["First for Ann", "Second for Ann", THIRD_FOR_ANN]


async def test_quiet_hours_hold_messages_until_morning(bot_factory) -> None:
    bot = await bot_factory(quiet_hours="21:00-08:00")
    bot.clock.set(datetime(2026, 1, 13, 18, 30, tzinfo=UTC))  # London is on UTC in January
    ann = await bot.enrol_client(5001, "Ann")  # the evening message is due at 22:30
    await bot.jump(timedelta(hours=4, minutes=30))
    assert not any("Ann" in t and "tonight" in t.lower() for t in texts_of(bot, ann)[2:])
    async with bot.services.session_factory() as session:
        evening = await session.scalar(select(Delivery).where(Delivery.step_key == "same_evening"))
    assert evening.state == DeliveryState.PENDING
    assert evening.send_at == datetime(2026, 1, 14, 8, 0, tzinfo=UTC)
    before = len(bot.telegram.bot_messages(ann))
    bot.clock.set(datetime(2026, 1, 14, 8, 0, 1, tzinfo=UTC))
    await bot.run_due()
    assert len(bot.telegram.bot_messages(ann)) == before + 1


async def test_blocked_client_is_marked_unreachable_and_staff_told(bot) -> None:
    ann = await bot.enrol_client(5001, "Ann Smith")
    bot.telegram.block(ann)
    since = bot.telegram.last_message_id(bot.staff_chat)
    await bot.jump(timedelta(hours=4, seconds=5))
    notice = await bot.telegram.wait_for_message(bot.staff_chat, "Ann Smith", since=since)
    assert "blocked" in notice.plain_text
    async with bot.services.session_factory() as session:
        client = await session.scalar(select(Client))
        states = set((await session.scalars(select(Delivery.state))).all())
    assert client.status == ClientStatus.UNREACHABLE
    assert states == {DeliveryState.CANCELLED}


async def test_bad_links_get_a_clear_answer_and_change_nothing(bot) -> None:
    telegram = bot.telegram
    ann = telegram.user(5001, "Ann")
    cases = {
        "short": "doesn't look complete",
        "x" * 32: "don't recognise",
        "<script>alert(1)</script>": "doesn't look complete",
    }
    for payload, expected in cases.items():
        since = telegram.last_message_id(ann)
        telegram.send_command(ann, "start", payload)
        answer = await telegram.wait_for_message(ann, since=since)
        assert expected in answer.plain_text, (payload, answer.plain_text)
        assert not answer.buttons

    token = await bot.invite_link_token("Bo")
    bot.clock.advance(timedelta(days=8))
    since = telegram.last_message_id(ann)
    telegram.send_command(ann, "start", token)
    assert "expired" in (await telegram.wait_for_message(ann, since=since)).plain_text

    async with bot.services.session_factory() as session:
        assert await session.scalar(select(Client)) is None
        assert (await session.scalars(select(Delivery))).all() == []


async def test_a_used_link_cannot_enrol_anyone_again(bot) -> None:
    telegram = bot.telegram
    ann = telegram.user(5001, "Ann")
    mallory = telegram.user(6666, "Mallory")
    token = await bot.invite_link_token("Ann")
    telegram.send_command(ann, "start", token)
    consent = await telegram.wait_for_message(ann)
    agree = consent.callback_data[0]
    since = telegram.last_message_id(ann)
    telegram.press_button(ann, consent, agree)
    await telegram.wait_for_message(ann, "all set", since=since)
    assert consent.buttons == [], "the consent buttons are removed once answered"

    since = telegram.last_message_id(mallory)
    telegram.send_command(mallory, "start", token)
    assert "already been used" in (await telegram.wait_for_message(mallory, since=since)).plain_text
    # Pressing the old consent button again changes nothing either.
    telegram.press_button(ann, consent, agree, forged=True)
    await telegram.wait_for_message(ann, "already been used")
    async with bot.services.session_factory() as session:
        invite = await session.scalar(select(Invite).where(Invite.token_hash == hash_token(token)))
        clients = (await session.scalars(select(Client))).all()
    assert invite.used_by == 5001 and [c.telegram_user_id for c in clients] == [5001]


async def test_declining_schedules_nothing(bot) -> None:
    telegram = bot.telegram
    ann = telegram.user(5001, "Ann")
    telegram.send_command(ann, "start", await bot.invite_link_token("Ann"))
    consent = await telegram.wait_for_message(ann)
    assert "/stop" in consent.plain_text and "weeks" in consent.plain_text
    telegram.press_button(ann, consent, consent.callback_data[1])
    await telegram.wait_for_message(ann, "won't receive any messages")
    async with bot.services.session_factory() as session:
        assert (await session.scalars(select(Delivery))).all() == []


async def test_names_with_html_arrive_intact(bot) -> None:
    name = "<b>Ann & Bo</b>"
    answer = await bot.staff_command(f"/enrol {name}")
    assert f"Enrolment link for {name}" in answer.plain_text
    assert answer.photo, "the front desk gets a QR code picture"
    client = await bot.enrol_client(5002, name, first_name=name)
    await bot.jump(timedelta(hours=4, seconds=5))
    evening = await bot.telegram.wait_for_message(client, name, since=0)
    assert "&amp;" not in evening.plain_text


async def test_stop_cancels_what_is_pending_after_confirmation(bot) -> None:
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann")
    telegram.send_command(ann, "stop")
    confirm = await telegram.wait_for_message(ann, "stop receiving")
    telegram.press_button(ann, confirm, confirm.callback_data[0])
    await telegram.wait_for_message(ann, "won't receive any more")
    async with bot.services.session_factory() as session:
        states = set((await session.scalars(select(Delivery.state))).all())
        client = await session.scalar(select(Client))
    assert states == {DeliveryState.CANCELLED} and client.status == ClientStatus.STOPPED
    await bot.jump(timedelta(days=50))
    assert not [t for t in texts_of(bot, ann) if "{" in t or "Hello Ann" in t]


async def test_help_start_and_command_menu(bot) -> None:
    telegram = bot.telegram
    stranger = telegram.user(7001, "Sam")
    telegram.send_command(stranger, "start")
    assert "personal link" in (await telegram.wait_for_message(stranger)).plain_text
    telegram.send_command(stranger, "help")
    help_text = (await telegram.wait_for_message(stranger)).plain_text
    assert bot.settings.clinic_phone in help_text and "emergency" in help_text
    commands = telegram.calls_to("setMyCommands")
    assert commands, "the bot registers its command menu"


async def test_strangers_cannot_enrol_or_look_up_clients(bot) -> None:
    telegram = bot.telegram
    stranger = telegram.user(7001, "Sam")
    for command in ("enrol Eve", "client Ann"):
        since = telegram.last_message_id(stranger)
        telegram.send_text(stranger, f"/{command}")
        assert "only for the clinic team" in (await telegram.wait_for_message(stranger, since=since)).plain_text
    async with bot.services.session_factory() as session:
        assert (await session.scalars(select(Invite))).all() == []


async def test_staff_can_look_up_a_client(bot) -> None:
    await bot.enrol_client(5001, "Ann Smith")
    answer = await bot.staff_command("/client ann")
    assert "Ann Smith" in answer.plain_text and "same_evening" in answer.plain_text
