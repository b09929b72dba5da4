"""Telegram's HTML parse mode: turns marked-up text into plain text plus message entities.

Deliberately as strict as Telegram: unknown tags, unclosed or crossed tags and unknown character
references are errors, so a bot that forgets to escape a value fails in tests, not in production.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

ENTITY_BY_TAG = {
    "b": "bold", "strong": "bold",
    "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "span": "spoiler", "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code", "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}  # fmt: skip
NAMED_REFERENCES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

_TAG_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_ATTRIBUTE = re.compile(r"""\s*([a-zA-Z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")
_REFERENCE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]+));")


class HtmlParseError(ValueError):
    """Raised with Telegram's wording after "can't parse entities: "."""


@dataclass
class _OpenTag:
    name: str
    entity: dict[str, Any]
    start: int  # UTF-16 offset into the plain text
    byte_offset: int
    attributes: dict[str, str] = field(default_factory=dict)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) for ``source`` or raise HtmlParseError."""
    parts: list[str] = []
    offset = 0  # UTF-16 length of the plain text so far
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char == "&":
            match = _REFERENCE.match(source, i)
            if not match:
                raise HtmlParseError(f"Unsupported HTML entity at byte offset {_byte_offset(source, i)}")
            text = _decode_reference(match, source, i)
            i = match.end()
        elif char == "<":
            end = source.find(">", i)
            if end == -1:
                raise HtmlParseError(f"Unclosed start tag at byte offset {_byte_offset(source, i)}")
            tag_text = source[i + 1 : end]
            if tag_text.startswith("/"):
                _close_tag(tag_text[1:].strip().lower(), stack, entities, offset, _byte_offset(source, i))
            else:
                stack.append(_open_tag(tag_text, offset, _byte_offset(source, i)))
            i = end + 1
            continue
        else:
            text = char
            i += 1
        parts.append(text)
        offset += utf16_length(text)
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    return _strip(("".join(parts)), entities)


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode())


def _decode_reference(match: re.Match[str], source: str, index: int) -> str:
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        if name not in NAMED_REFERENCES:
            raise HtmlParseError(f'Unsupported HTML entity "&{name};" at byte offset {_byte_offset(source, index)}')
        return NAMED_REFERENCES[name]
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise HtmlParseError(f"Invalid character reference at byte offset {_byte_offset(source, index)}")
    return chr(code)


def _open_tag(tag_text: str, offset: int, byte_offset: int) -> _OpenTag:
    match = _TAG_NAME.match(tag_text)
    name = match.group(0).lower() if match else ""
    if name not in ENTITY_BY_TAG:
        raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {byte_offset}')
    attributes = _parse_attributes(tag_text[match.end() :] if match else "", byte_offset)
    entity: dict[str, Any] = {"type": ENTITY_BY_TAG[name]}
    if name == "span" and attributes.get("class") != "tg-spoiler":
        raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset}')
    if name == "a":
        entity["url"] = attributes.get("href", "")
    if name == "tg-emoji":
        if not attributes.get("emoji-id", "").isdigit():
            raise HtmlParseError(f"Custom emoji entity must have a numeric emoji-id at byte offset {byte_offset}")
        entity["custom_emoji_id"] = attributes["emoji-id"]
    if name == "blockquote" and "expandable" in attributes:
        entity["type"] = "expandable_blockquote"
    return _OpenTag(name, entity, offset, byte_offset, attributes)


def _parse_attributes(text: str, byte_offset: int) -> dict[str, str]:
    attributes: dict[str, str] = {}
    position = 0
    while text[position:].strip():
        match = _ATTRIBUTE.match(text, position)
        if not match or match.end() == position:
            raise HtmlParseError(f"Expected equal sign in declaration of an attribute at byte offset {byte_offset}")
        name, double_quoted, single_quoted, bare = match.groups()
        value = next((v for v in (double_quoted, single_quoted, bare) if v is not None), "")
        attributes[name.lower()] = _unescape_attribute(value, byte_offset)
        position = match.end()
    return attributes


def _unescape_attribute(value: str, byte_offset: int) -> str:
    if "&" not in value:
        return value
    try:
        return _REFERENCE.sub(lambda m: _decode_reference(m, value, 0), value)
    except HtmlParseError as error:
        raise HtmlParseError(f"Bad attribute value in tag at byte offset {byte_offset}") from error


def _close_tag(name: str, stack: list[_OpenTag], entities: list[dict[str, Any]], offset: int, byte_offset: int) -> None:
    if not stack:
        raise HtmlParseError(f"Unexpected end tag at byte offset {byte_offset}")
    opened = stack.pop()
    if name != opened.name:
        raise HtmlParseError(
            f'Unmatched end tag at byte offset {byte_offset}, expected "</{opened.name}>", found "</{name}>"'
        )
    if offset <= opened.start or (opened.name == "a" and not opened.entity["url"]):
        return
    entity = dict(opened.entity, offset=opened.start, length=offset - opened.start)
    if opened.name == "code" and stack and stack[-1].name == "pre":
        language = opened.attributes.get("class", "")
        if language.startswith("language-"):
            stack[-1].entity["language"] = language.removeprefix("language-")
    entities.append(entity)


def _strip(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram drops leading and trailing whitespace and shifts entities accordingly."""
    lead = utf16_length(text) - utf16_length(text.lstrip())
    stripped = text.strip()
    size = utf16_length(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, size)
        if end > start:
            kept.append(dict(entity, offset=start, length=end - start))
    kept.sort(key=lambda e: (e["offset"], -e["length"]))
    return stripped, kept
