"""Telegram formatting (entities, offsets in UTF-16 code units) to the stored markup, and back."""

from __future__ import annotations

from aftercare_bot.texts.formatting import Entity, entities_to_html, placeholders_as_code
from aftercare_bot.texts.telegram_html import html_problems, plain_text


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_nested_entities_nest() -> None:
    text = "Protect your skin from the sun"
    html = entities_to_html(text, [Entity("bold", 0, 30), Entity("italic", 13, 4)])
    assert html == "<b>Protect your <i>skin</i> from the sun</b>"


def test_adjacent_entities_stay_apart_and_crossing_ones_are_closed_and_opened_again() -> None:
    assert entities_to_html("boldital", [Entity("bold", 0, 4), Entity("italic", 4, 4)]) == "<b>bold</b><i>ital</i>"
    crossing = entities_to_html("abcdefgh", [Entity("bold", 0, 5), Entity("italic", 3, 5)])
    assert crossing == "<b>abc<i>de</i></b><i>fgh</i>"
    assert html_problems(crossing) == []


def test_offsets_count_emoji_as_telegram_does() -> None:
    text = "🧴 Sun cream 👩‍⚕️ every morning, {first_name}!"
    start = utf16("🧴 Sun cream 👩‍⚕️ ")
    html = entities_to_html(text, [
        Entity("bold", utf16("🧴 "), utf16("Sun cream")),
        Entity("underline", start, utf16("every morning")),
        Entity("spoiler", utf16(text) - 1, 1),
    ])
    assert html == "🧴 <b>Sun cream</b> 👩‍⚕️ <u>every morning</u>, {first_name}<tg-spoiler>!</tg-spoiler>"


def test_links_code_and_strikethrough() -> None:
    text = "See our page or call now, not later"
    html = entities_to_html(text, [
        Entity("text_link", 4, 8, url='https://example.com/?a=1&b="2"'),
        Entity("code", 21, 3), Entity("strikethrough", 26, 9),
    ])
    assert html == ('See <a href="https://example.com/?a=1&amp;b=&quot;2&quot;">our page</a> or call <code>now</code>,'
                    " <s>not later</s>")


def test_typed_tags_still_work_and_a_plain_ampersand_or_angle_is_escaped() -> None:
    typed = "Aches & pains <b>fade</b> &amp; heal in < 3 days; 2 <3"
    assert entities_to_html(typed, []) == "Aches &amp; pains <b>fade</b> &amp; heal in &lt; 3 days; 2 &lt;3"


def test_placeholders_copied_from_the_bot_come_back_bare() -> None:
    shown = "Hello {first_name}, see you"
    assert entities_to_html(shown, [Entity("code", 6, 12)]) == "Hello {first_name}, see you"
    assert entities_to_html("whole pasted text", [Entity("pre", 0, 17)]) == "whole pasted text"


def test_a_stored_text_is_shown_formatted_with_its_placeholders_as_code_and_survives_the_round_trip() -> None:
    stored = "<b>Hello {first_name}</b>, call <i>{clinic_phone}</i> &amp; rest"
    shown = placeholders_as_code(stored)
    assert shown == "<b>Hello <code>{first_name}</code></b>, call <i><code>{clinic_phone}</code></i> &amp; rest"
    # What Telegram gives back when the admin copies that message and sends it: plain text and entities.
    text = plain_text(shown)
    assert text == "Hello {first_name}, call {clinic_phone} & rest"
    entities = [Entity("bold", 0, 18), Entity("code", 6, 12), Entity("italic", 25, 14), Entity("code", 25, 14)]
    assert entities_to_html(text, entities) == stored
