"""A plan text typed in Telegram: typed tags are kept, Telegram's own formatting becomes tags."""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import Chat, Message, MessageEntity

from aftercare_bot.bot.handlers.admin_edits import message_html


def typed(text: str, *entities: tuple[str, int, int] | MessageEntity) -> Message:
    made = [e if isinstance(e, MessageEntity) else MessageEntity(e[0], e[1], e[2]) for e in entities]
    return Message(1, datetime(2026, 1, 1, tzinfo=UTC), Chat(1, Chat.PRIVATE), text=text, entities=made)


def test_typed_tags_and_ampersands_are_kept_as_written() -> None:
    assert message_html(typed("  Hi <b>{first_name}</b> &amp; co  ")) == "Hi <b>{first_name}</b> &amp; co"


def test_formatting_entities_become_nested_tags_with_utf16_offsets() -> None:
    text = "🙂 Bold italic plain"  # the emoji is two UTF-16 code units
    message = typed(text, ("bold", 3, 11), ("italic", 8, 6), ("url", 15, 5))
    assert message_html(message) == "🙂 <b>Bold <i>italic</i></b> plain"


def test_links_are_kept_and_a_whole_text_in_a_code_box_is_unwrapped() -> None:
    link = MessageEntity(MessageEntity.TEXT_LINK, 4, 4, url='https://example.com/?a=1&b="2"')
    assert message_html(typed("See here", link)) == (
        'See <a href="https://example.com/?a=1&amp;b=&quot;2&quot;">here</a>'
    )
    assert message_html(typed("Pasted {first_name}", ("pre", 0, 19))) == "Pasted {first_name}"
    assert message_html(typed("x", ("bot_command", 0, 1))) == "x"
