"""Placeholder templates such as "Hello {first_name}".

Only plain names are substituted. Python's own str.format would also follow attributes and indexes
({first_name.__class__}) and apply format specs, which a text file edited by a clinic must never be able
to do, so those forms are rejected by `template_problems` and refused by `render`. Every value is
HTML-escaped because all texts are sent with Telegram's HTML parse mode.
"""

from __future__ import annotations

import difflib
import html
import string
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

# Placeholders a plan step may use; the dispatcher supplies a value for each of them.
PLAN_PLACEHOLDERS = frozenset({"first_name", "client_name", "clinic_name", "clinic_phone", "treatment", "day"})

_FORMATTER = string.Formatter()


class TemplateError(ValueError):
    """A template that cannot be rendered (bad syntax or a placeholder without a value)."""


@dataclass(frozen=True)
class TemplateProblem:
    """One problem in a template; `line` counts from 1 within the template."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}"


def placeholders(template: str) -> list[str]:
    """The placeholder fields of `template` in order of first use, exactly as written (e.g. "a.b").

    Raises TemplateError when the braces do not balance.
    """
    found: list[str] = []
    for _literal, field, _spec, _conversion in _parse(template):
        if field is not None and field not in found:
            found.append(field)
    return found


def template_problems(template: str, allowed: Collection[str] | None) -> list[TemplateProblem]:
    """Every problem with the placeholders of `template`; `allowed=None` accepts any plain name."""
    problems: list[TemplateProblem] = []
    # Lines are parsed one by one so each problem can name its line; a placeholder never spans lines.
    for number, line in enumerate(template.split("\n"), start=1):
        try:
            fields = list(_FORMATTER.parse(line))
        except ValueError as error:
            problems.append(TemplateProblem(number, _explain_brace_error(str(error))))
            continue
        for _literal, field, spec, conversion in fields:
            if field is None:
                continue
            message = _field_problem(field, spec, conversion, allowed)
            if message:
                problems.append(TemplateProblem(number, message))
    return problems


def template_errors(template: str, allowed: Collection[str] | None) -> list[str]:
    """Plain-language descriptions of template problems, each starting with "Line N:"."""
    return [str(problem) for problem in template_problems(template, allowed)]


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
        out.append(html.escape(str(values[field]), quote=True))
    return "".join(out)


def _parse(template: str) -> Iterator[tuple[str, str | None, str | None, str | None]]:
    try:
        return iter(list(_FORMATTER.parse(template)))
    except ValueError as error:
        raise TemplateError(f"{_explain_brace_error(str(error))}; template: {template[:60]!r}") from error


def _explain_brace_error(error: str) -> str:
    if "Single '{'" in error:
        return (
            "there is a { without a matching } — placeholders look like {first_name}; "
            "to show a curly bracket itself, write {{"
        )
    if "Single '}'" in error:
        return (
            "there is a } without a matching { — placeholders look like {first_name}; "
            "to show a curly bracket itself, write }}"
        )
    if "expected '}'" in error:
        return "a placeholder is opened with { but not closed with } on the same line — add the }"
    return f"the curly brackets are not written correctly ({error}) — placeholders look like {{first_name}}"


def _field_problem(field: str, spec: str | None, conversion: str | None, allowed: Collection[str] | None) -> str | None:
    if field == "":
        return "{} is empty — write the name of a placeholder inside, e.g. {first_name}"
    if "." in field or "[" in field:
        base = field.split(".")[0].split("[")[0]
        return f"{{{field}}} is not allowed: write just the name, e.g. {{{base}}}, without dots or brackets"
    if conversion:
        return f"{{{field}!{conversion}}} is not allowed: write just {{{field}}}, without the ! part"
    if spec:
        return f"{{{field}:{spec}}} is not allowed: write just {{{field}}}, without the : part"
    if not field.isidentifier():
        return f"{{{field}}} is not a placeholder name — names use letters and _ only, e.g. {{first_name}}"
    if allowed is not None and field not in allowed:
        close = difflib.get_close_matches(field, sorted(allowed), n=1, cutoff=0.6)
        hint = f" — did you mean {{{close[0]}}}?" if close else ""
        known = ", ".join(f"{{{name}}}" for name in sorted(allowed))
        return f"unknown placeholder {{{field}}}{hint} (known placeholders: {known})"
    return None
