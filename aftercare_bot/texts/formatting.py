"""An admin's formatted Telegram message turned into the HTML plan texts are stored in, and back.

Telegram sends formatting as entities: (kind, offset, length) counted in UTF-16 code units, so an emoji
outside the Basic Multilingual Plane counts twice. They may nest, sit side by side, or even cross; the tags
written here always nest (a crossing entity is closed and opened again around the other).

What the admin typed is kept as typed where it is already valid markup, so tags typed by hand keep working;
a plain `&` or a `<` that starts no known tag is escaped, so "Aches & pains" needs no `&amp;`. A placeholder
copied from the bot's own message arrives as code (the bot shows placeholders as tap-to-copy code): it is
stored as the bare placeholder.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aftercare_bot.texts.telegram_html import ALLOWED_TAGS

# Telegram's entity kinds (MessageEntity.type) and the tags they become.
_TAGS = {
    "bold": "b",
    "italic": "i",
    "underline": "u",
    "strikethrough": "s",
    "spoiler": "tg-spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "expandable_blockquote": "blockquote",
    "text_link": "a",
}
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
_LOOSE_AMPERSAND = re.compile(r"&(?!(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);)")
_TAG_START = re.compile(r"</?(?P<name>[A-Za-z][A-Za-z0-9-]*)")


@dataclass(frozen=True)
class Entity:
    """One piece of Telegram formatting, as MessageEntity has it."""

    kind: str
    offset: int  # UTF-16 code units
    length: int
    url: str | None = None

    @property
    def end(self) -> int:
        return self.offset + self.length


def entities_to_html(text: str, entities: Sequence[Entity]) -> str:
    """The admin's text with its formatting as tags; see the module's description."""
    units = text.encode("utf-16-le")
    total = len(units) // 2

    def piece(start: int, end: int) -> str:
        return units[start * 2 : end * 2].decode("utf-16-le")

    kept = [
        entity for entity in entities
        if entity.kind in _TAGS and entity.length > 0 and (entity.kind != "text_link" or entity.url)
        # A whole text pasted as code or pre: the text is meant, not the box around it.
        and not (entity.kind in ("code", "pre") and entity.offset == 0 and entity.length >= total)
        # A placeholder copied from the bot's message, where it is shown as code.
        and not (entity.kind == "code" and _PLACEHOLDER.fullmatch(piece(entity.offset, entity.end)))
    ]
    # Outer first: earlier start, then longer.
    kept.sort(key=lambda e: (e.offset, -e.length))
    bounds = sorted({0, total, *(e.offset for e in kept), *(min(e.end, total) for e in kept)})
    out: list[str] = []
    stack: list[Entity] = []
    for start, end in itertools.pairwise(bounds):
        active = [e for e in kept if e.offset <= start and e.end >= end]
        keep = 0  # the open tags that stay open: the longest common beginning of what is open and what should be
        while keep < len(stack) and keep < len(active) and stack[keep] is active[keep]:
            keep += 1
        for entity in reversed(stack[keep:]):
            out.append(_close(entity))
        for entity in active[keep:]:
            out.append(_open(entity))
        stack = active
        out.append(_loose_escape(piece(start, end)))
    out.extend(_close(entity) for entity in reversed(stack))
    return "".join(out).strip()


def _open(entity: Entity) -> str:
    if entity.kind == "text_link":
        return f'<a href="{html.escape(entity.url or "", quote=True)}">'
    return f"<{_TAGS[entity.kind]}>"


def _close(entity: Entity) -> str:
    return f"</{_TAGS[entity.kind]}>"


def _loose_escape(typed: str) -> str:
    """Typed text as markup: tags and character references typed by hand stay, a lone & or < is escaped."""
    typed = _LOOSE_AMPERSAND.sub("&amp;", typed)
    out, position = [], 0
    for index, char in enumerate(typed):
        if char == "<":
            found = _TAG_START.match(typed, index)
            if found is None or found.group("name").lower() not in ALLOWED_TAGS:
                out.append(typed[position:index] + "&lt;")
                position = index + 1
    out.append(typed[position:])
    return "".join(out)


def placeholders_as_code(template: str) -> str:
    """A stored text shown to the admin formatted, its placeholders as code (which Telegram copies on a tap)."""
    return _PLACEHOLDER.sub(lambda found: f"<code>{found.group(0)}</code>", template)
