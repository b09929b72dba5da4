"""Validation of the HTML subset Telegram accepts with parse_mode=HTML.

Telegram refuses a whole message when its HTML does not parse, so every text a clinic writes is checked
here before it can be sent. Each problem is a key of admin.yaml (problem_html_*) with its values; the texts
say what to change in plain words rather than quoting parser jargon.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from aftercare_bot.texts.problems import LineProblem, Problem, problem

# Tag name -> what the tag encloses (problem_html_words_*), for advice such as "add </b> after the bold words".
_TAG_CONTENT = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underlined",
    "ins": "underlined",
    "s": "crossed_out",
    "strike": "crossed_out",
    "del": "crossed_out",
    "span": "hidden",
    "tg-spoiler": "hidden",
    "a": "link",
    "code": "code",
    "pre": "preformatted",
    "blockquote": "quoted",
    "tg-emoji": "emoji",
}
ALLOWED_TAGS = frozenset(_TAG_CONTENT)

_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(?:(?P<named>[A-Za-z][A-Za-z0-9]*)|#(?P<dec>[0-9]+)|#[xX](?P<hex>[0-9A-Fa-f]+));")
_CLOSE_TAG = re.compile(r"</\s*(?P<name>[A-Za-z][A-Za-z0-9-]*)\s*>")
_OPEN_TAG = re.compile(
    r"<(?P<name>[A-Za-z][A-Za-z0-9-]*)"
    r"(?P<attrs>(?:\s+[^\s=>/\"']+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+))?)*)"
    r"\s*(?P<slash>/?)>"
)
_ATTRIBUTE = re.compile(
    r"(?P<name>[^\s=>/\"']+)(?:\s*=\s*(?:\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)'|(?P<bare>[^\s>\"']+)))?"
)
# Hints (problem_html_hint_*) for tags people commonly type out of habit from web pages or e-mail.
_UNSUPPORTED_HINTS = {
    "br": "new_line",
    "p": "paragraph",
    "div": "paragraph",
    "ul": "bullets",
    "ol": "numbers",
    "li": "bullets",
}


def _words(tag: str) -> Problem:
    return problem(f"problem_html_words_{_TAG_CONTENT[tag]}")


@dataclass
class _OpenTag:
    name: str
    line: int


def html_problems(text: str) -> list[LineProblem]:
    """Everything in `text` that would make Telegram refuse to send it, with the line it is on."""
    problems: list[LineProblem] = []
    stack: list[_OpenTag] = []
    pos = 0
    for match in re.finditer(r"[<&]", text):
        start = match.start()
        if start < pos:  # inside a tag that was already consumed
            continue
        line = text.count("\n", 0, start) + 1
        if text[start] == "&":
            found = _entity_problem(text, start)
            if found:
                problems.append(LineProblem(line, found))
            continue
        closing = _CLOSE_TAG.match(text, start)
        if closing:
            pos = closing.end()
            problems.extend(LineProblem(line, found) for found in _close(stack, closing["name"].lower()))
            continue
        opening = _OPEN_TAG.match(text, start)
        if opening is None or opening["name"].lower() not in ALLOWED_TAGS:
            problems.append(LineProblem(line, _stray_angle_problem(text, start, opening)))
            if opening:
                pos = opening.end()
            continue
        pos = opening.end()
        name = opening["name"].lower()
        found = _attribute_problems(name, opening["attrs"])
        if opening["slash"]:
            found.append(problem("problem_html_self_closing", tag=name, words=_words(name)))
        found.extend(_nesting_problems(name, stack))
        problems.extend(LineProblem(line, each) for each in found)
        if not opening["slash"]:
            stack.append(_OpenTag(name, line))
    for tag in stack:
        problems.append(LineProblem(tag.line, problem("problem_html_unclosed", tag=tag.name, words=_words(tag.name))))
    return sorted(problems, key=lambda found: found.line)


def _entity_problem(text: str, start: int) -> Problem | None:
    entity = _ENTITY.match(text, start)
    if entity is None:
        return problem("problem_html_plain_ampersand")
    if entity["named"] is not None:
        if entity["named"] in _NAMED_ENTITIES:
            return None
        return problem("problem_html_unknown_entity", entity=entity.group(0))
    code_point = int(entity["dec"], 10) if entity["dec"] is not None else int(entity["hex"], 16)
    if not 0 < code_point <= 0x10FFFF or 0xD800 <= code_point <= 0xDFFF:
        return problem("problem_html_bad_character_number", entity=entity.group(0))
    return None


def _stray_angle_problem(text: str, start: int, opening: re.Match[str] | None) -> Problem:
    if opening is None:
        return problem("problem_html_plain_less_than", snippet=text[start : start + 12].split("\n")[0])
    name = opening["name"].lower()
    hint = _UNSUPPORTED_HINTS.get(name)
    if hint:
        return problem("problem_html_tag_unsupported_hint", tag=name, hint=problem(f"problem_html_hint_{hint}"))
    return problem("problem_html_tag_unsupported", tag=name)


def _attributes(raw: str) -> list[tuple[str, str | None]]:
    found = []
    for match in _ATTRIBUTE.finditer(raw):
        value = next((v for v in (match["dq"], match["sq"], match["bare"]) if v is not None), None)
        found.append((match["name"].lower(), value))
    return found


def _attribute_problems(name: str, raw: str) -> list[Problem]:
    attributes = _attributes(raw)
    given = dict(attributes)
    problems: list[Problem] = []
    allowed: set[str] = set()
    if name == "a":
        allowed = {"href"}
        if not given.get("href"):
            problems.append(problem("problem_html_link_without_address"))
    elif name == "span":
        allowed = {"class"}
        if given.get("class") != "tg-spoiler":
            problems.append(problem("problem_html_span_not_spoiler"))
    elif name == "tg-emoji":
        allowed = {"emoji-id"}
        if not (given.get("emoji-id") or "").isdigit():
            problems.append(problem("problem_html_emoji_without_number"))
    elif name == "blockquote":
        allowed = {"expandable"}
        if given.get("expandable") is not None:
            problems.append(problem("problem_html_expandable_with_value"))
    elif name == "code":
        allowed = {"class"}
        if "class" in given and not (given["class"] or "").startswith("language-"):
            problems.append(problem("problem_html_code_class"))
    for attribute, _value in attributes:
        if attribute not in allowed:
            problems.append(problem("problem_html_attribute_not_allowed", tag=name, attribute=attribute))
    if len(given) != len(attributes):
        problems.append(problem("problem_html_attribute_twice", tag=name))
    return problems


def _nesting_problems(name: str, stack: list[_OpenTag]) -> list[Problem]:
    problems = []
    open_names = [tag.name for tag in stack]
    innermost = open_names[-1] if open_names else None
    if "code" in open_names:
        problems.append(problem("problem_html_inside_code", tag=name))
    elif "pre" in open_names and not (name == "code" and innermost == "pre"):
        problems.append(problem("problem_html_inside_pre", tag=name))
    if name == "a" and "a" in open_names:
        problems.append(problem("problem_html_link_in_link"))
    if name == "blockquote" and "blockquote" in open_names:
        problems.append(problem("problem_html_quote_in_quote"))
    return problems


def _close(stack: list[_OpenTag], name: str) -> list[Problem]:
    if name not in ALLOWED_TAGS:
        return [problem("problem_html_closing_tag_unsupported", tag=name)]
    if stack and stack[-1].name == name:
        stack.pop()
        return []
    for depth in range(len(stack) - 1, -1, -1):
        if stack[depth].name == name:
            inner = stack[depth + 1 :]
            del stack[depth]  # the inner tags stay open so their own closing tags still match
            closing = " ".join(f"</{tag.name}>" for tag in reversed(inner))
            return [problem("problem_html_tags_overlap", tag=name, closing=closing)]
    return [problem("problem_html_closing_never_opened", tag=name)]


def visible_length(text: str) -> int:
    """Length of the message as Telegram counts it: tags removed, entities decoded, in UTF-16 code units."""
    return sum(2 if ord(char) > 0xFFFF else 1 for char in plain_text(text))


def pack_lines(lines: Sequence[str], limit: int) -> list[str]:
    """Lines (each whole HTML) joined into as few messages as fit `limit` visible characters each; a line longer
    than the limit on its own stays whole, as its own message."""
    messages: list[str] = []
    current: list[str] = []
    length = 0
    for line in lines:
        added = visible_length(line) + (1 if current else 0)
        if current and length + added > limit:
            messages.append("\n".join(current).strip("\n"))
            current, length = [], 0
            added = visible_length(line)
        current.append(line)
        length += added
    if current:
        messages.append("\n".join(current).strip("\n"))
    return [message for message in messages if message.strip()]


def plain_text(text: str) -> str:
    """The text a reader sees: tags removed and &-codes decoded (best effort for invalid HTML)."""
    out: list[str] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "<":
            tag = _CLOSE_TAG.match(text, pos) or _OPEN_TAG.match(text, pos)
            if tag and tag["name"].lower() in ALLOWED_TAGS:
                pos = tag.end()
                continue
        elif char == "&":
            entity = _ENTITY.match(text, pos)
            if entity:
                decoded = _decode(entity)
                if decoded is not None:
                    out.append(decoded)
                    pos = entity.end()
                    continue
        out.append(char)
        pos += 1
    return "".join(out)


def _decode(entity: re.Match[str]) -> str | None:
    if entity["named"] is not None:
        return _NAMED_ENTITIES.get(entity["named"])
    code_point = int(entity["dec"], 10) if entity["dec"] is not None else int(entity["hex"], 16)
    if not 0 < code_point <= 0x10FFFF or 0xD800 <= code_point <= 0xDFFF:
        return None
    return chr(code_point)
