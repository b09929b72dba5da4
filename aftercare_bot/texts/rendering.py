"""Placeholder templates such as "Hello {first_name}".

Only plain names are substituted. Python's own str.format would also follow attributes and indexes
({first_name.__class__}) and apply format specs, which a text file edited by a clinic must never be able
to do, so those forms are rejected by `template_problems` and refused by `render`. Every value is
HTML-escaped because all texts are sent with Telegram's HTML parse mode, except an `Html` value: a text
already rendered by `render` (such as a problem explained inside another text).
"""

from __future__ import annotations

import difflib
import html
import string
from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING

from aftercare_bot.texts.problems import LineProblem, Problem, problem

if TYPE_CHECKING:
    from aftercare_bot.config import Settings

# Placeholders a plan step may use; the dispatcher supplies a value for each of them.
PLAN_PLACEHOLDERS = frozenset({"first_name", "client_name", "clinic_name", "clinic_phone", "treatment", "day"})


def clinic_values(settings: Settings) -> dict[str, str]:
    """The values of the placeholders about the clinic, which every text and plan message may use."""
    return {"clinic_name": settings.clinic_name, "clinic_phone": settings.clinic_phone}

_FORMATTER = string.Formatter()


class TemplateError(ValueError):
    """A template that cannot be rendered (bad syntax or a placeholder without a value)."""


class Html(str):
    """Text that is already Telegram HTML with its own values escaped; `render` inserts it unchanged."""


def placeholders(template: str) -> list[str]:
    """The placeholder fields of `template` in order of first use, exactly as written (e.g. "a.b").

    Raises TemplateError when the braces do not balance.
    """
    found: list[str] = []
    for _literal, field, _spec, _conversion in _parse(template):
        if field is not None and field not in found:
            found.append(field)
    return found


def template_problems(template: str, allowed: Collection[str] | None) -> list[LineProblem]:
    """Every problem with the placeholders of `template`; `allowed=None` accepts any plain name."""
    problems: list[LineProblem] = []
    # Lines are parsed one by one so each problem can name its line; a placeholder never spans lines.
    for number, line in enumerate(template.split("\n"), start=1):
        try:
            fields = list(_FORMATTER.parse(line))
        except ValueError as error:
            problems.append(LineProblem(number, _brace_problem(str(error))))
            continue
        for _literal, field, spec, conversion in fields:
            if field is None:
                continue
            found = _field_problem(field, spec, conversion, allowed)
            if found:
                problems.append(LineProblem(number, found))
    return problems


def render(template: str, values: Mapping[str, object]) -> str:
    """Substitute plain {name} placeholders with HTML-escaped values; `{{` and `}}` give literal braces.

    Raises TemplateError for any other placeholder form or a name missing from `values`.
    """
    out: list[str] = []
    for literal, field, spec, conversion in _parse(template):
        out.append(literal)
        if field is None:
            continue
        if spec or conversion or not field.isidentifier():
            raise TemplateError(f"placeholder {{{field}}} is not a plain name; template: {template[:60]!r}")
        if field not in values:
            raise TemplateError(f"no value given for placeholder {{{field}}}; template: {template[:60]!r}")
        value = values[field]
        out.append(value if isinstance(value, Html) else html.escape(str(value), quote=True))
    return "".join(out)


def _parse(template: str) -> Iterator[tuple[str, str | None, str | None, str | None]]:
    try:
        return iter(list(_FORMATTER.parse(template)))
    except ValueError as error:
        # Developers see this (a text that passed the checks cannot fail here); clinics see template_problems.
        raise TemplateError(f"the curly brackets do not balance ({error}); template: {template[:60]!r}") from error


def _brace_problem(error: str) -> Problem:
    if "Single '{'" in error:
        return problem("problem_template_lone_open_brace")
    if "Single '}'" in error:
        return problem("problem_template_lone_close_brace")
    if "expected '}'" in error:
        return problem("problem_template_unclosed_placeholder")
    return problem("problem_template_braces", detail=error)


def _field_problem(
    field: str, spec: str | None, conversion: str | None, allowed: Collection[str] | None
) -> Problem | None:
    if field == "":
        return problem("problem_template_empty_placeholder")
    if "." in field or "[" in field:
        base = field.split(".")[0].split("[")[0]
        return problem("problem_template_placeholder_path", field=field, base=base)
    if conversion:
        return problem("problem_template_placeholder_conversion", field=field, conversion=conversion)
    if spec:
        return problem("problem_template_placeholder_format", field=field, spec=spec)
    if not field.isidentifier():
        return problem("problem_template_placeholder_not_a_name", field=field)
    if allowed is not None and field not in allowed:
        close = difflib.get_close_matches(field, sorted(allowed), n=1, cutoff=0.6)
        known = ", ".join(f"{{{name}}}" for name in sorted(allowed))
        if close:
            return problem("problem_template_unknown_placeholder_close", field=field, close=close[0], known=known)
        return problem("problem_template_unknown_placeholder", field=field, known=known)
    return None
