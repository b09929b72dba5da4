"""Changes an admin makes to a plan, as plain data, and how each one turns a plan document into the next.

A change is a small dict so that it can wait in the database until the admin confirms it:

    {"op": "text", "step": "day1_checkin", "language": "en", "text": "...", "title": None}
    {"op": "timing", "step": "day1_checkin", "due": "day 1 at 09:00"}
    {"op": "grace", "step": "day1_checkin", "grace": "12h"}
    {"op": "enabled", "step": "day1_checkin", "enabled": False}
    {"op": "add_step", "step": "day14_checkin", "due": "day 14 at 10:00", "grace": "12h", "text": "..."}
    {"op": "copy_plan", "source": "microneedling", "treatment": "peel", "title": "Chemical peel"}

Every change also names the plan it changes (or creates) as "treatment".

`title` of a text change names the plan in a language the plan does not have yet. A restored text is a
text change with `"restored_from": <revision>`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from aftercare_bot.plans.documents import Document, copied
from aftercare_bot.plans.model import (
    LONG_SAMPLE_VALUES,
    is_language_code,
    is_valid_key,
    parse_duration,
    parse_timing,
)
from aftercare_bot.texts.catalog import FALLBACK_LANGUAGE, MAX_MESSAGE_LENGTH
from aftercare_bot.texts.problems import InvalidValue, LineProblem, Problem, problem
from aftercare_bot.texts.rendering import PLAN_PLACEHOLDERS, TemplateError, render, template_problems
from aftercare_bot.texts.telegram_html import html_problems, visible_length

MAX_TITLE_LENGTH = 100
DEFAULT_GRACE = "8h"
Change = dict[str, Any]


class ChangeRefused(ValueError):
    """The change cannot be made; `key` names the explanation in the admin texts, `values` fill it in."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(f"{key}: {values}")
        self.key = key
        self.values = values


@dataclass(frozen=True)
class TextCheck:
    """What is wrong with a new plan text; the handler words the problems for the admin."""

    empty: bool = False
    problems: tuple[LineProblem, ...] = ()  # placeholder and formatting problems
    too_long: int | None = None  # visible length with long names filled in, when over Telegram's limit

    @property
    def ok(self) -> bool:
        return not (self.empty or self.problems or self.too_long)


def check_text(text: str) -> TextCheck:
    """The checks `plan check` makes on a step text, for one text typed in Telegram."""
    if not text.strip():
        return TextCheck(empty=True)
    problems = tuple(template_problems(text, PLAN_PLACEHOLDERS) + html_problems(text))
    if problems:
        return TextCheck(problems=problems)
    try:
        length = visible_length(render(text, LONG_SAMPLE_VALUES))
    except TemplateError as error:  # not expected after the checks above; reported rather than raised
        return TextCheck(problems=(LineProblem(1, problem("problem_template_unrenderable", detail=str(error))),))
    return TextCheck(too_long=length) if length > MAX_MESSAGE_LENGTH else TextCheck()


def timing_problem(text: str) -> Problem | None:
    try:
        parse_timing(text)
    except InvalidValue as error:
        return error.problem
    return None


def grace_problem(text: str) -> Problem | None:
    try:
        parse_duration(text)
    except InvalidValue as error:
        return error.problem
    return None


def key_problem(value: str, taken: set[str]) -> str | None:
    """The admin-text key explaining why `value` cannot name a new step or plan, or None."""
    if not is_valid_key(value):
        return "admin_key_invalid"
    if value in taken:
        return "admin_key_taken"
    return None


def language_problem(value: str) -> str | None:
    return None if is_language_code(value) else "admin_language_invalid"


def title_problem(value: str) -> str | None:
    if not value.strip():
        return "admin_title_empty"
    if len(value) > MAX_TITLE_LENGTH or "\n" in value:
        return "admin_title_too_long"
    return None


def apply_change(document: Document, change: Mapping[str, Any]) -> Document:
    """The plan document after `change`; raises ChangeRefused when it no longer fits the plan."""
    op = change["op"]
    result = copied(document)
    if op == "add_step":
        if _find_step(result, change["step"]) is not None:
            raise ChangeRefused("admin_key_taken", value=change["step"])
        result["steps"].append(
            {
                "key": change["step"],
                "due": change["due"],
                "grace": change.get("grace") or DEFAULT_GRACE,
                "checkin": bool(change.get("checkin", False)),
                "enabled": True,
                "text": typed_in(change.get("language"), change["text"], result["title"]),
            }
        )
        return result
    step = _find_step(result, change["step"])
    if step is None:
        raise ChangeRefused("admin_step_gone", step=change["step"])
    if op == "text":
        language = change["language"]
        if language not in result["title"]:
            if not change.get("title"):
                raise ChangeRefused("admin_language_needs_title", language=language)
            result["title"][language] = change["title"]
        step["text"][language] = change["text"]
    elif op == "timing":
        step["due"] = change["due"]
    elif op == "grace":
        step["grace"] = change["grace"]
    elif op == "enabled":
        step["enabled"] = bool(change["enabled"])
    else:
        raise ValueError(f"unknown plan change {op!r}")
    return result


def typed_in(language: str | None, text: str, languages: Collection[str]) -> dict[str, str]:
    """What an admin typed in `language` (the staff language), by language. Every plan needs English
    (FALLBACK_LANGUAGE): until someone writes it, the same words stand in for it. A language the plan has no
    title in is left to "Add a language", which asks for the title."""
    typed = {FALLBACK_LANGUAGE: text}
    if language and language != FALLBACK_LANGUAGE and language in languages:
        typed[language] = text
    return typed


def copy_plan(source: Document, treatment: str, title: str, language: str | None = None) -> Document:
    """A new plan with the steps of `source`, named `treatment`, titled `title` in `language` (the staff language)
    and in English, which every plan needs, until someone writes its English title.

    The copy keeps the source's other languages, titled as in the source until an admin changes them.
    """
    result = copied(source)
    result["treatment"] = treatment
    result["title"] = {**result["title"], **typed_in(language, title, [*result["title"], language or ""])}
    return result


def note_of(change: Mapping[str, Any]) -> str:
    """A short record of the change kept with the revision (for the history and the audit trail)."""
    op = change["op"]
    if op == "copy_plan":
        return f"copy_plan {change['source']}"
    if op == "text":
        restored = change.get("restored_from")
        suffix = f" restored_from={restored}" if restored is not None else ""
        return f"text {change['step']} {change['language']}{suffix}"
    if op == "enabled":
        return f"enabled {change['step']} {'on' if change['enabled'] else 'off'}"
    return f"{op} {change['step']}"


def _find_step(document: Document, key: str) -> dict[str, Any] | None:
    for step in document.get("steps", []):
        if step.get("key") == key:
            return step
    return None
