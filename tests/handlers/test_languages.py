"""Which language each person is spoken to in: clients (enrolment, Telegram, /language), the team (STAFF_LANGUAGE)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from aftercare_bot.callbacks import Press
from aftercare_bot.clock import ManualClock
from aftercare_bot.config import Settings
from aftercare_bot.db.models import AuditEvent, Client, Enrolment
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import clients
from tests.conftest import STAFF_CHAT_ID
from tests.support.fast_rig import FastRig
from tests.support.languages import FRENCH, messages_with_french

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning; London is on UTC
RED_FLAG = "it is bleeding a lot and there is pus"


@pytest.fixture
def french(tmp_path: Path) -> Path:
    return messages_with_french(tmp_path)


@pytest.fixture
def start_rig(make_settings: Callable[..., Settings], french: Path) -> Callable[..., object]:
    async def start(**overrides: object) -> FastRig:
        return await FastRig.start(make_settings(messages_dir=french, **overrides), ManualClock(START))

    return start


@pytest.fixture
async def rig(start_rig) -> AsyncIterator[FastRig]:
    started = await start_rig()
    yield started
    await started.stop()


async def stored_language(rig: FastRig, user_id: int) -> tuple[str, list[str]]:
    """The client's language and that of each of their enrolments still active."""
    async with rig.services.session_factory() as session:
        client = await clients.by_telegram_id(session, user_id)
        assert client is not None
        plans = (await session.scalars(select(Enrolment.language).where(
            Enrolment.client_id == client.id, Enrolment.state == "active"))).all()
    return client.language, list(plans)


async def test_the_telegram_language_counts_by_its_base_code_and_only_when_the_clinic_has_texts(rig) -> None:
    await rig.enrol(5001, "Ann Smith", language="fr-CA")
    await rig.enrol(5002, "Ben Jones", language="ja")
    await rig.enrol(5003, "Cleo Park", language="fr", options="lang=en")
    assert await stored_language(rig, 5001) == ("fr", ["fr"])
    assert await stored_language(rig, 5002) == ("en", ["en"]), "no Japanese texts: the clinic's default"
    assert await stored_language(rig, 5003) == ("en", ["en"]), "lang= at enrolment comes first"
    rig.assert_healthy()


async def test_an_enrolled_client_is_answered_in_their_stored_language_not_their_telegram_one(rig) -> None:
    cleo = await rig.enrol(5003, "Cleo Park", language="fr", options="lang=en")
    await rig.command(cleo, "help")
    assert rig.last_bot_message(cleo).plain_text.startswith("This bot sends aftercare advice")
    ann = await rig.enrol(5001, "Ann Smith", language="en", options="lang=fr")
    await rig.command(ann, "help")
    assert rig.last_bot_message(ann).plain_text.startswith("Aide de")
    stranger = rig.world.user(7001, "Sam", language_code="fr-BE")
    await rig.command(stranger, "frobnicate")
    assert rig.last_bot_message(stranger).plain_text == FRENCH["unknown_command"], "no record: Telegram's"


async def test_language_offers_every_language_by_its_own_name_and_the_choice_is_kept(rig) -> None:
    ann = await rig.enrol(5001, "Ann Smith")
    await rig.command(ann, "language")
    offer = rig.last_bot_message(ann)
    assert offer.button_texts == ["English", "Français"]
    assert "Now: English" in offer.plain_text
    await rig.press(ann, offer, offer.callback_data[1])
    assert rig.last_bot_message(ann).plain_text == "C'est fait — je vous écrirai désormais en Français."
    assert await stored_language(rig, 5001) == ("fr", ["fr"])
    assert rig.world.calls_to("editMessageReplyMarkup")[-1]["message_id"] == offer.message_id, "buttons taken off"

    # From now on: plan messages' check-in buttons, the safety reply, answers to commands.
    rig.clock.set(START + timedelta(days=1, hours=1, minutes=1))  # day 1 at 10:00 has passed
    await rig.run_due()
    checkin = next(m for m in reversed(rig.telegram.sent_messages(ann)) if m.buttons)
    assert checkin.button_texts == [FRENCH[f"checkin_button_{a}"] for a in ("ok", "worried", "urgent")]
    await rig.text(ann, RED_FLAG)
    await rig.run_due()
    texts = [m.plain_text or "" for m in rig.telegram.sent_messages(ann)]
    assert any("appelez le 15" in text for text in texts), texts[-3:]
    await rig.command(ann, "language", "en-GB")
    assert rig.last_bot_message(ann).plain_text == "Done — I will write to you in English from now on."
    assert await stored_language(rig, 5001) == ("en", ["en"])
    async with rig.services.session_factory() as session:
        changes = (await session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "language_changed"))).all()
    assert changes == [{"from": "en", "to": "fr"}, {"from": "fr", "to": "en"}]
    rig.assert_healthy()


async def test_bad_language_choices_get_a_kind_answer_and_change_nothing(rig) -> None:
    ann = await rig.enrol(5001, "Ann Smith")
    ben = await rig.enrol(5002, "Ben Jones")
    await rig.command(ann, "language", "klingon")
    offer = rig.last_bot_message(ann)
    assert 'cannot write in "klingon"' in offer.plain_text and offer.button_texts == ["English", "Français"]

    altered = offer.callback_data[0].replace(":en:", ":fr:")  # the signature no longer fits
    forged = await rig.press(ann, offer, altered, forged=True)
    assert rig.callback_answer(forged)["text"] == "Sorry, this button is no longer valid."
    forwarded = await rig.press(ben, offer, offer.callback_data[1])  # Ben presses Ann's button
    assert rig.callback_answer(forwarded)["show_alert"] is True
    async with rig.services.session_factory() as session:
        client = await clients.by_telegram_id(session, ann.id)
    unknown = rig.services.signer.sign(Press.LANGUAGE, ann.id, RowRef.of(client), "ja")
    await rig.press(ann, offer, unknown, forged=True)  # a language the clinic does not have (any more)
    assert await stored_language(rig, 5001) == ("en", ["en"])
    assert await stored_language(rig, 5002) == ("en", ["en"])

    stranger = rig.world.user(7001, "Sam", language_code="fr")
    await rig.command(stranger, "language")
    assert rig.last_bot_message(stranger).buttons == [], "nobody to store it on: how to join instead"
    async with rig.services.session_factory() as session:
        assert await session.scalar(select(Client).where(Client.telegram_user_id == 7001)) is None
    rig.assert_healthy()


async def test_a_button_from_before_the_client_was_erased_changes_nothing(rig) -> None:
    ann = await rig.enrol(5001, "Ann Smith")
    await rig.command(ann, "language")
    offer = rig.last_bot_message(ann)
    await rig.command(ann, "forget")
    confirm = rig.last_bot_message(ann)
    await rig.press(ann, confirm, confirm.callback_data[0])
    await rig.enrol(5001, "Ann Smith")
    await rig.press(ann, offer, offer.callback_data[1])
    assert await stored_language(rig, 5001) == ("en", ["en"])


async def test_the_team_reads_the_staff_language_and_cards_mark_the_clients_language(start_rig) -> None:
    rig = await start_rig(staff_language="fr")
    try:
        ann = await rig.enrol(5001, "Ann Smith")
        await rig.text(ann, RED_FLAG)
        await rig.run_due()
        card = next(m for m in rig.telegram.sent_messages(STAFF_CHAT_ID) if "cas #" in (m.plain_text or ""))
        assert card.plain_text.startswith("🚨 URGENT — signe d'alerte possible")
        assert "🌐 en" in card.plain_text and RED_FLAG in card.plain_text, "the client's words as written"
        assert any("call emergency services" in (m.plain_text or "") for m in rig.telegram.sent_messages(ann))
        menus = rig.world.calls_to("setMyCommands")
        staff_menu = next(c for c in menus if c.get("scope", {}).get("type") == "chat"
                          and c["scope"]["chat_id"] == STAFF_CHAT_ID)
        assert {"command": "help", "description": FRENCH["menu_help"]} in staff_menu["commands"]
    finally:
        await rig.stop()


async def test_the_report_is_in_the_staff_language_whatever_the_admins_telegram_says(start_rig) -> None:
    rig = await start_rig(staff_language="fr")
    try:
        await rig.enrol(5001, "Ann Smith", language="en")
        await rig.command(rig.admin, "report")  # the admin's Telegram is English
        caption = rig.last_bot_message(rig.admin).data["caption"]
        assert caption.startswith("Les soins à Glow & Co <Clinic> : ")
        assert "mars 2026" in caption, "dates as French writes them"
    finally:
        await rig.stop()


async def test_cards_do_not_mark_a_client_who_writes_the_staff_language(rig) -> None:
    ann = await rig.enrol(5001, "Ann Smith")
    await rig.text(ann, RED_FLAG)
    await rig.run_due()
    card = next(m for m in rig.telegram.sent_messages(STAFF_CHAT_ID) if "case #" in (m.plain_text or ""))
    assert "🌐" not in card.plain_text


async def test_command_menus_and_descriptions_are_set_per_language(rig) -> None:
    menus = rig.world.calls_to("setMyCommands")
    private = [m for m in menus if m.get("scope", {}).get("type") == "all_private_chats"]
    by_language = {m.get("language_code", ""): {c["command"]: c["description"] for c in m["commands"]}
                   for m in private}
    assert set(by_language) == {"", "en", "fr"}
    assert by_language["fr"]["language"] == FRENCH["menu_language"]
    assert by_language["fr"]["stop"] == by_language["en"]["stop"], "not translated yet: English"
    assert by_language[""] == by_language["en"], "everyone else: the default language"
    french_user = rig.world.user(7001, "Sam", language_code="fr-FR")
    assert {"command": "help", "description": FRENCH["menu_help"]} in rig.world.menu_for(french_user)
    descriptions = {d.get("language_code", ""): d["description"] for d in rig.world.calls_to("setMyDescription")}
    assert descriptions["fr"].startswith("Les conseils de Glow")
    assert descriptions[""] == descriptions["en"]
