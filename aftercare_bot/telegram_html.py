"""Validation of the HTML subset Telegram accepts with parse_mode=HTML.

Telegram refuses a whole message when its HTML does not parse, so every text a clinic writes is checked
here before it can be sent. The messages are meant for the person editing the text files, so they say
what to change in plain words rather than quoting parser jargon.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Tag name -> words used in the advice "add </b> after the ..." so the fix is easy to picture.
_TAG_CONTENT = {
    "b": "bold words",
    "strong": "bold words",
    "i": "italic words",
    "em": "italic words",
    "u": "underlined words",
    "ins": "underlined words",
    "s": "crossed-out words",
    "strike": "crossed-out words",
    "del": "crossed-out words",
    "span": "hidden words",
    "tg-spoiler": "hidden words",
    "a": "link text",
    "code": "code",
    "pre": "preformatted text",
    "blockquote": "quoted text",
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
_ALLOWED_LIST = "<b>, <i>, <u>, <s>, <a href=...>, <code>, <pre>, <blockquote>, <tg-spoiler>"
# Hints for tags people commonly type out of habit from web pages or e-mail.
_UNSUPPORTED_HINTS = {
    "br": "Telegram keeps line breaks exactly as you type them, so just start a new line instead",
    "p": "leave an empty line between paragraphs instead",
    "div": "leave an empty line between paragraphs instead",
    "ul": "start each line with a symbol such as • instead of using a list tag",
    "ol": "start each line with a number such as 1. instead of using a list tag",
    "li": "start each line with a symbol such as • instead of using a list tag",
}


@dataclass(frozen=True)
class HtmlProblem:
    """One problem in a text; `line` counts from 1 within the text."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}"


@dataclass
class _OpenTag:
    name: str
    line: int


def html_problems(text: str) -> list[HtmlProblem]:
    """Everything in `text` that would make Telegram refuse to send it, with the line it is on."""
    problems: list[HtmlProblem] = []
    stack: list[_OpenTag] = []
    pos = 0
    for match in re.finditer(r"[<&]", text):
        start = match.start()
        if start < pos:  # inside a tag that was already consumed
            continue
        line = text.count("\n", 0, start) + 1
        if text[start] == "&":
            problem = _entity_problem(text, start)
            if problem:
                problems.append(HtmlProblem(line, problem))
            continue
        closing = _CLOSE_TAG.match(text, start)
        if closing:
            pos = closing.end()
            problems.extend(HtmlProblem(line, msg) for msg in _close(stack, closing["name"].lower()))
            continue
        opening = _OPEN_TAG.match(text, start)
        if opening is None or opening["name"].lower() not in ALLOWED_TAGS:
            problems.append(HtmlProblem(line, _stray_angle_message(text, start, opening)))
            if opening:
                pos = opening.end()
            continue
        pos = opening.end()
        name = opening["name"].lower()
        messages = _attribute_problems(name, opening["attrs"])
        if opening["slash"]:
            messages.append(
                f"<{name}/> closes itself, which Telegram does not understand — "
                f"write <{name}> before the {_TAG_CONTENT[name]} and </{name}> after them"
            )
        messages.extend(_nesting_problems(name, stack))
        problems.extend(HtmlProblem(line, msg) for msg in messages)
        if not opening["slash"]:
            stack.append(_OpenTag(name, line))
    for tag in stack:
        words = _TAG_CONTENT[tag.name]
        problems.append(
            HtmlProblem(tag.line, f"the tag <{tag.name}> is never closed — add </{tag.name}> after the {words}")
        )
    return sorted(problems, key=lambda problem: problem.line)


def html_errors(text: str) -> list[str]:
    """Plain-language descriptions of everything Telegram would reject, each starting with "Line N:"."""
    return [str(problem) for problem in html_problems(text)]


def _entity_problem(text: str, start: int) -> str | None:
    entity = _ENTITY.match(text, start)
    if entity is None:
        return "a plain & sign must be written as &amp; (Telegram reads & as the start of a special code)"
    if entity["named"] is not None:
        if entity["named"] in _NAMED_ENTITIES:
            return None
        return (
            f"{entity.group(0)} is not a code Telegram knows — only &lt; &gt; &amp; &quot; work; "
            f"type the character itself, or write &amp; if you meant a plain & sign"
        )
    code_point = int(entity["dec"], 10) if entity["dec"] is not None else int(entity["hex"], 16)
    if not 0 < code_point <= 0x10FFFF or 0xD800 <= code_point <= 0xDFFF:
        return f"{entity.group(0)} is not a valid character number — type the character itself instead"
    return None


def _stray_angle_message(text: str, start: int, opening: re.Match[str] | None) -> str:
    if opening is None:
        snippet = text[start : start + 12].split("\n")[0]
        return (
            f'a plain < sign (at "{snippet}") must be written as &lt; — '
            f"or, if it starts a tag, check the tag is spelled like <b> or </b>"
        )
    name = opening["name"].lower()
    hint = _UNSUPPORTED_HINTS.get(name)
    if hint:
        return f"Telegram does not support the tag <{name}> — {hint}"
    return (
        f"Telegram does not support the tag <{name}>; it allows {_ALLOWED_LIST}. "
        f"If you meant a plain < sign, write &lt;"
    )


def _attributes(raw: str) -> list[tuple[str, str | None]]:
    found = []
    for match in _ATTRIBUTE.finditer(raw):
        value = next((v for v in (match["dq"], match["sq"], match["bare"]) if v is not None), None)
        found.append((match["name"].lower(), value))
    return found


def _attribute_problems(name: str, raw: str) -> list[str]:
    attributes = _attributes(raw)
    given = dict(attributes)
    problems: list[str] = []
    allowed: set[str] = set()
    if name == "a":
        allowed = {"href"}
        if not given.get("href"):
            problems.append('a link needs an address: write it as <a href="https://example.com">link text</a>')
    elif name == "span":
        allowed = {"class"}
        if given.get("class") != "tg-spoiler":
            problems.append(
                'Telegram only understands <span class="tg-spoiler"> (hidden words) — '
                "remove the <span> tag or use <tg-spoiler> instead"
            )
    elif name == "tg-emoji":
        allowed = {"emoji-id"}
        if not (given.get("emoji-id") or "").isdigit():
            problems.append('a custom emoji needs its number: <tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>')
    elif name == "blockquote":
        allowed = {"expandable"}
        if given.get("expandable") is not None:
            problems.append("write <blockquote expandable> without a value after expandable")
    elif name == "code":
        allowed = {"class"}
        if "class" in given and not (given["class"] or "").startswith("language-"):
            problems.append('the only class <code> accepts is a language, e.g. <code class="language-python">')
    for attribute, _value in attributes:
        if attribute not in allowed:
            problems.append(f'<{name}> does not take "{attribute}" — remove it')
    if len(given) != len(attributes):
        problems.append(f"<{name}> has the same setting written twice — keep only one")
    return problems


def _nesting_problems(name: str, stack: list[_OpenTag]) -> list[str]:
    problems = []
    open_names = [tag.name for tag in stack]
    innermost = open_names[-1] if open_names else None
    if "code" in open_names:
        problems.append(f"<{name}> cannot be used inside <code> — Telegram shows code without other formatting")
    elif "pre" in open_names and not (name == "code" and innermost == "pre"):
        problems.append(f"<{name}> cannot be used inside <pre> — Telegram shows that text without other formatting")
    if name == "a" and "a" in open_names:
        problems.append("a link cannot be put inside another link — close the first one with </a> before")
    if name == "blockquote" and "blockquote" in open_names:
        problems.append("a quote cannot be put inside another quote — close the first one with </blockquote> before")
    return problems


def _close(stack: list[_OpenTag], name: str) -> list[str]:
    if name not in ALLOWED_TAGS:
        return [f"Telegram does not support the tag </{name}> — remove it"]
    if stack and stack[-1].name == name:
        stack.pop()
        return []
    for depth in range(len(stack) - 1, -1, -1):
        if stack[depth].name == name:
            inner = stack[depth + 1 :]
            del stack[depth]  # the inner tags stay open so their own closing tags still match
            names = ", ".join(f"</{tag.name}>" for tag in reversed(inner))
            return [
                f"the tags overlap: close {names} before </{name}> "
                f"(tags must close in the reverse order they were opened, like <b><i>...</i></b>)"
            ]
    return [f"</{name}> closes a tag that was never opened — remove it, or add <{name}> where it should start"]


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
