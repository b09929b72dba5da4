"""Steps an admin takes in the emulated Telegram, for the end-to-end tests of plan editing and the team."""

from __future__ import annotations

from typing import Any

from aftercare_bot.sandbox.emulator.models import StoredMessage


def showing(expect: str | None) -> Any:
    """Matches a bot message whose text or one of whose buttons contains `expect`."""
    if expect is None:
        return None
    return lambda m: expect in (m.plain_text or "") or any(expect in label for label in m.button_texts)


# The shipped plan's steps by key, as the tests name them, and the titles their buttons show.
STEP_TITLES = {
    "same_evening": "What to expect tonight",
    "day1_checkin": "How is your skin? (day 1)",
    "day2_sun": "Sun protection",
    "day3_warning_signs": "Warning signs",
    "day7_checkin": "How is your skin? (day 7)",
    "week6_results": "Results and booking again",
}


def button_data(message: StoredMessage, label: str) -> str:
    """The callback data of the button whose label contains `label` (a step key of the shipped plan: its title)."""
    for wanted in (label, STEP_TITLES.get(label)):
        for button in message.buttons:
            if wanted and wanted in button["text"] and "callback_data" in button:
                return button["callback_data"]
    raise AssertionError(f"no button {label!r} under {message!r}; buttons: {message.button_texts}")


async def press(
    bot: Any, user: Any, message: StoredMessage, label: str, expect: str | None = None
) -> StoredMessage:
    """Press a button and return the next bot message in the chat (showing `expect`, if given)."""
    chat = message.chat_id
    since = bot.telegram.last_message_id(chat)
    bot.telegram.press_button(user, message, button_data(message, label))
    return await bot.telegram.wait_for_message(chat, showing(expect), since=since)


async def say(bot: Any, user: Any, text: str, expect: str | None = None, chat: Any = None) -> StoredMessage:
    """Write in the private chat with the bot (or in `chat`); return the next answer showing `expect`."""
    target = chat if chat is not None else user
    since = bot.telegram.last_message_id(target)
    bot.telegram.send_text(user, text, chat=chat)
    return await bot.telegram.wait_for_message(target, showing(expect), since=since)


async def open_step(bot: Any, user: Any, plan_label: str, step: str) -> StoredMessage:
    """/templates -> the plan -> the step; returns the step card (the message with the edit buttons)."""
    plans = await say(bot, user, "/templates", "Aftercare plans")
    plan = await press(bot, user, plans, plan_label, "Its messages")
    return await press(bot, user, plan, step, "Check-in buttons")


async def edit_text(bot: Any, user: Any, card: StoredMessage, language: str = "en") -> StoredMessage:
    return await press(bot, user, card, f"Edit text ({language})", "Send the new text")
