"""The typed edits the end-to-end tests do not reach: grace, refused texts and titles, edits given up part way."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aftercare_bot.sandbox.emulator.models import StoredMessage
from tests.support.admin_helpers import button_data
from tests.support.fast_rig import FastRig


@pytest.fixture
async def rig(make_settings) -> AsyncIterator[FastRig]:
    rig = await FastRig.start(make_settings())
    yield rig
    rig.assert_healthy()
    await rig.stop()


async def say(rig: FastRig, text: str) -> str:
    await rig.text(rig.admin, text)
    return rig.last_bot_message(rig.admin).plain_text or ""


async def press(rig: FastRig, message: StoredMessage, label: str) -> StoredMessage:
    await rig.press(rig.admin, message, button_data(message, label))
    return rig.last_bot_message(rig.admin)


async def step_card(rig: FastRig, step: str = "day2_sun") -> StoredMessage:
    await rig.command(rig.admin, "templates")
    plan = await press(rig, rig.last_bot_message(rig.admin), "Micro-needling")
    return await press(rig, plan, step)


async def test_grace_is_checked_then_offered_with_old_and_new(rig: FastRig) -> None:
    card = await step_card(rig)
    prompt = await press(rig, card, "Change grace")
    assert "How late may Sun protection still be sent" in (prompt.plain_text or "")
    assert '"soonish" is not a length of time' in await say(rig, "soonish")
    assert "Change the grace of Sun protection from 8h to 2d?" in await say(rig, "2d")
    saved = await press(rig, rig.last_bot_message(rig.admin), "Save")
    assert "Saved as" in (saved.plain_text or "")
    assert rig.services.catalog.get("microneedling").step("day2_sun").grace.days == 2


async def test_empty_and_too_long_texts_are_refused_and_the_edit_goes_on(rig: FastRig) -> None:
    card = await step_card(rig)
    await press(rig, card, "Edit text (en)")
    assert "The text is empty" in await say(rig, "   ")
    too_long = await say(rig, "{client_name} " * 60)
    assert "would be" in too_long and "Telegram allows 4096" in too_long
    await say(rig, "Sun cream every morning, {first_name}.")
    offer = rig.telegram.sent_messages(rig.admin)[-1]
    assert "Sun cream every morning, Anna." in (offer.plain_text or "")
    assert any("Save" in label for label in offer.button_texts)


async def test_a_new_language_needs_a_usable_title_first(rig: FastRig) -> None:
    card = await step_card(rig)
    await press(rig, card, "Add a language")
    assert "no title in fr" in await say(rig, "fr")
    assert "one line of at most 100 characters" in await say(rig, "x" * 101)
    assert "Send the new text of Sun protection in fr" in await say(rig, "Microneedling")
    assert "nothing was changed" in await say(rig, "/cancel")
    assert "nothing to stop" in await say(rig, "/cancel")


async def test_a_warning_sign_step_says_so_on_its_card_and_cannot_be_turned_off(rig: FastRig) -> None:
    card = await step_card(rig, "day3_warning_signs")
    assert "⚠️ Warning-sign message: every language must keep {clinic_phone} and the urgent-care advice, and it" \
        " cannot be turned off." in (card.plain_text or "")
    refusal = await press(rig, card, "Turn off")
    text = refusal.plain_text or ""
    assert text.startswith("Sorry, day3_warning_signs can't be turned off: it tells clients the warning signs of")
    assert "Nothing was changed." in text and not refusal.buttons, "no Save button to press"
    assert rig.services.catalog.get("microneedling").step("day3_warning_signs").enabled
    assert rig.services.catalog.revision("microneedling") is None

    other = await step_card(rig, "day2_sun")
    assert "Warning-sign message" not in (other.plain_text or "")
    assert "Turn off Sun protection?" in ((await press(rig, other, "Turn off")).plain_text or "")
