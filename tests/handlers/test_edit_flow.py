"""The shortened edit as an admin on a phone does it: /templates, a plan, a step (one message: what it is, when,
the preview and the buttons), Edit text, type with Telegram's own formatting, Save."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from aftercare_bot.clock import ManualClock
from aftercare_bot.config import Settings
from aftercare_bot.sandbox.emulator.models import StoredMessage
from tests.support.admin_helpers import button_data
from tests.support.fast_rig import FastRig

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def rig(make_settings: Callable[..., Settings]) -> AsyncIterator[FastRig]:
    rig = await FastRig.start(make_settings(), ManualClock(START))
    yield rig
    rig.assert_healthy()
    await rig.stop()


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def tap(rig: FastRig, message: StoredMessage, label: str) -> list[StoredMessage]:
    """Press a button; the bot's messages that answer it."""
    before = len(rig.telegram.sent_messages(rig.admin))
    await rig.press(rig.admin, message, button_data(message, label))
    return rig.telegram.sent_messages(rig.admin)[before:]


async def test_an_edit_takes_a_few_taps_with_only_the_preview_in_between(rig: FastRig) -> None:
    ann = await rig.enrol(5001, "Ann Smith")
    await rig.command(rig.admin, "templates")
    [plan] = await tap(rig, rig.last_bot_message(rig.admin), "Micro-needling")
    listing = plan.plain_text or ""
    assert "• Sun protection — day 2, 10:00" in listing and "day2_sun" not in listing, "steps by what they are about"
    assert "Sun protection · day 2, 10:00" in plan.button_texts

    [card] = await tap(rig, plan, "Sun protection")
    shown = card.plain_text or ""
    assert shown.startswith("Micro-needling › Sun protection\nSent: day 2, 10:00, or up to 8h later (grace)")
    assert "Preview (en) for a sample client:" in shown and "Anna" in shown, "the preview is on the card itself"
    assert any("Edit text (en)" in label for label in card.button_texts)

    [prompt] = await tap(rig, card, "Edit text (en)")
    assert "<code>{first_name}</code>" in prompt.text, "placeholders are code: a tap copies one"
    assert "<b>{first_name}</b>" not in prompt.text and "&lt;b&gt;" not in prompt.text, "no raw tags to read"
    assert "The text now" in (prompt.plain_text or "")

    # Typed with Telegram's formatting: bold from an entity, a placeholder copied from the prompt (code).
    text = "☀️ Sun cream every morning, {first_name} & more"
    update = rig.world.send_text(rig.admin, text)
    update["message"]["entities"] = [
        {"type": "bold", "offset": 3, "length": 9},  # "Sun cream" after an emoji of two UTF-16 units and a space
        {"type": "code", "offset": utf16("☀️ Sun cream every morning, "), "length": 12},
    ]
    before = len(rig.telegram.sent_messages(rig.admin))
    await rig.feed(update)
    [offer] = rig.telegram.sent_messages(rig.admin)[before:]
    assert "☀️ <b>Sun cream</b> every morning, Anna &amp; more" in offer.text, "one message: the preview and Save"

    [saved] = await tap(rig, offer, "Save")
    said = saved.plain_text or ""
    assert "the 1 client enrolled who has not had this message yet gets it" in said, said
    assert "No waiting messages" not in said

    rig.clock.set(START + timedelta(days=2, hours=1, minutes=1))
    await rig.run_due()
    assert rig.telegram.sent_messages(ann)[-1].text == "☀️ <b>Sun cream</b> every morning, Ann &amp; more"
