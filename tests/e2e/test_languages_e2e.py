"""The bot end to end in Russian and Spanish: a client's whole path, /language, the team's language, admin editing.

What the bot should say is read from the clinic's own files (messages/texts/<lang>, the plan's texts in <lang>), so
these tests check that every step really uses the client's (or the team's) language, whatever the wording. They
need those files: a language whose texts are missing fails here rather than quietly falling back to English.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from aftercare_bot.bot.handlers import admin_views
from aftercare_bot.db.models import Client, Enrolment
from aftercare_bot.delivery.compose import CHECKIN_ANSWERS
from aftercare_bot.plans.model import Step
from aftercare_bot.texts.rendering import render
from aftercare_bot.texts.telegram_html import plain_text
from tests.conftest import STAFF_CHAT_ID
from tests.support.admin_helpers import say

LANGUAGES = ["ru", "es"]  # the shipped languages besides English
SESSION = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday; London is on UTC in March
RED_FLAG = "it is bleeding a lot and there is pus"
# A red flag as a client writing each language might put it (the rules of that language must catch it).
RED_FLAGS = {"ru": "сильное кровотечение и гной", "es": "sangra mucho y sale pus"}


def said(bot: Any, key: str, lang: str, /, **values: object) -> str:
    """What the bot shows for text `key` in `lang`, as the person reads it."""
    assert bot.services.texts.has(key, lang), f"messages/texts/{lang} has no {key}"
    return plain_text(bot.services.text(key, lang, **values))


def label(bot: Any, key: str, lang: str, /, **values: object) -> str:
    assert bot.services.texts.has(key, lang), f"messages/texts/{lang} has no {key}"
    return bot.services.label(key, lang, **values)


def step_message(bot: Any, step: Step, language: str, first_name: str, day: int) -> str:
    """The plan step as a client reading `language` receives it."""
    assert language in step.texts, f"the plan's step {step.key} has no text in {language}"
    plan = bot.services.catalog.get("microneedling")
    values = {"clinic_name": bot.settings.clinic_name, "clinic_phone": bot.settings.clinic_phone,
              "treatment": plan.title_for(language, bot.settings.default_language), "first_name": first_name,
              "client_name": first_name, "day": str(day)}
    return plain_text(render(step.texts[language], values))


async def press_labelled(bot: Any, user: Any, message: Any, text: str, expect: Any = None) -> Any:
    data = next((b["callback_data"] for b in message.buttons if text in b["text"]), None)
    assert data is not None, f"no button {text!r} under {message!r}: {message.button_texts}"
    since = bot.telegram.last_message_id(message.chat_id)
    bot.telegram.press_button(user, message, data)
    return await bot.telegram.wait_for_message(message.chat_id, expect, since=since)


async def client_language(bot: Any, user_id: int) -> tuple[str, list[str]]:
    async with bot.services.session_factory() as session:
        client = await session.scalar(select(Client).where(Client.telegram_user_id == user_id))
        plans = (await session.scalars(select(Enrolment.language).where(Enrolment.client_id == client.id))).all()
    return client.language, list(plans)


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_client_goes_through_aftercare_in_their_language_and_the_team_reads_its_own(
    bot_factory, lang: str
) -> None:
    bot = await bot_factory()  # the team reads the default language, English
    bot.clock.set(SESSION)
    telegram = bot.telegram
    client = telegram.user(5001, "Olga", language_code=f"{lang}-{lang.upper()}")
    token = await bot.invite_link_token("Olga Petrova")
    telegram.send_command(client, "start", token)
    consent = await telegram.wait_for_message(client, since=0)
    assert consent.button_texts == [label(bot, "consent_button_yes", lang), label(bot, "consent_button_no", lang)]
    plan = bot.services.catalog.get("microneedling")
    assert plan.title_for(lang, "en") in consent.plain_text and plan.title["en"] != plan.title_for(lang, "en")
    enrolled = await press_labelled(bot, client, consent, label(bot, "consent_button_yes", lang))
    assert enrolled.plain_text == said(bot, "enrolled", lang)
    assert await client_language(bot, 5001) == (lang, [lang]), "ru-RU / es-ES count as the clinic's ru / es"

    await bot.jump(timedelta(hours=4, seconds=1))
    evening = await telegram.wait_for_message(client, since=enrolled.message_id)
    assert evening.plain_text == step_message(bot, plan.step("same_evening"), lang, "Olga", 0)
    await bot.jump(timedelta(days=1, hours=1) - timedelta(hours=4))  # day 1 at 10:00
    checkin = await telegram.wait_for_message(client, lambda m: bool(m.buttons), since=evening.message_id)
    assert checkin.plain_text == step_message(bot, plan.step("day1_checkin"), lang, "Olga", 1)
    assert checkin.button_texts == [label(bot, f"checkin_button_{answer}", lang) for answer in CHECKIN_ANSWERS]
    await press_labelled(bot, client, checkin, label(bot, "checkin_button_ok", lang))

    since = telegram.last_message_id(client)
    telegram.send_text(client, RED_FLAGS[lang])
    safety = await telegram.wait_for_message(client, since=since)
    assert safety.plain_text == said(bot, "esc_safety_urgent", lang)
    card = await telegram.wait_for_message(STAFF_CHAT_ID, lambda m: "case #" in (m.plain_text or ""), since=0)
    assert card.plain_text.startswith("🚨 URGENT"), "the card is in the team's language"
    assert RED_FLAGS[lang] in card.plain_text, "the client's words as written"
    assert said(bot, "esc_card_language", "en", language=lang) in card.plain_text


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_team_working_in_the_language_gets_cards_and_admin_screens_in_it(bot_factory, lang: str) -> None:
    bot = await bot_factory(staff_language=lang)
    telegram = bot.telegram
    ann = await bot.enrol_client(5002, "Ann Smith", language="en")
    since = telegram.last_message_id(ann)
    telegram.send_text(ann, RED_FLAG)
    assert (await telegram.wait_for_message(ann, since=since)).plain_text == said(bot, "esc_safety_urgent", "en")
    card = await telegram.wait_for_message(STAFF_CHAT_ID, lambda m: bool(m.buttons), since=0)
    assert card.plain_text.startswith(said(bot, "esc_card_header_urgent", lang, number=1))
    assert said(bot, "esc_card_language", lang, language="en") in card.plain_text and RED_FLAG in card.plain_text
    assert card.button_texts == [label(bot, "esc_button_claim", lang), label(bot, "esc_button_resolve", lang)]

    # An admin edits the plan's text in the language, from Telegram, with every screen in the team's language.
    admin, plan = bot.admin, bot.services.catalog.get("microneedling")
    plans = await say(bot, admin, "/templates", label(bot, "admin_plans", lang)[:10])
    title = plan.title_for(lang, "en")
    opened = await press_labelled(bot, admin, plans, title, lambda m: len(m.buttons) > 3)
    step_name = admin_views.step_name(bot.services, plan.step("day2_sun"), lang)
    card = await press_labelled(bot, admin, opened, step_name, lambda m: len(m.buttons) > 3)
    edit = label(bot, "admin_button_edit", lang, language=lang)
    await press_labelled(bot, admin, card, edit)
    offer = await say(bot, admin, f"{lang}: {{first_name}}, SPF 50 today and tomorrow.",
                      label(bot, "admin_button_save", lang))
    saved = await press_labelled(bot, admin, offer, label(bot, "admin_button_save", lang),
                                 lambda m: title in (m.plain_text or ""))
    assert saved.plain_text.startswith(said(bot, "admin_saved", lang, title=title, revision=1))
    assert bot.services.catalog.get("microneedling").step("day2_sun").texts[lang].startswith(f"{lang}: ")
    assert bot.services.catalog.get("microneedling").step("day2_sun").texts["en"] == plan.step("day2_sun").texts["en"]


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_client_switches_language_with_the_language_command(bot_factory, lang: str) -> None:
    bot = await bot_factory()
    bot.clock.set(SESSION)
    telegram = bot.telegram
    ann = await bot.enrol_client(5001, "Ann Smith", language="en")
    own_name = label(bot, "language_name", lang)
    assert own_name != label(bot, "language_name", "en")
    since = telegram.last_message_id(ann)
    telegram.send_command(ann, "language")
    offer = await telegram.wait_for_message(ann, since=since)
    assert {"English", own_name} <= set(offer.button_texts)
    chosen = await press_labelled(bot, ann, offer, own_name)
    assert chosen.plain_text == said(bot, "language_chosen", lang, language=own_name)
    assert await client_language(bot, 5001) == (lang, [lang])

    since = telegram.last_message_id(ann)
    telegram.send_command(ann, "help")
    assert (await telegram.wait_for_message(ann, since=since)).plain_text == said(bot, "help", lang)
    await bot.jump(timedelta(days=1, hours=1, minutes=1))
    checkin = await telegram.wait_for_message(ann, lambda m: bool(m.buttons), since=0)
    plan = bot.services.catalog.get("microneedling")
    assert checkin.plain_text == step_message(bot, plan.step("day1_checkin"), lang, "Ann", 1)
    assert checkin.button_texts == [label(bot, f"checkin_button_{answer}", lang) for answer in CHECKIN_ANSWERS]
    menus = {call.get("language_code", ""): call for call in telegram.calls_to("setMyCommands")
             if call.get("scope", {}).get("type") == "all_private_chats"}
    assert {"command": "language", "description": label(bot, "menu_language", lang)} in menus[lang]["commands"]
