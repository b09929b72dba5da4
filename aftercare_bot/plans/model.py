"""Aftercare plans: messages/plans/<treatment>.yaml read into dataclasses; checks name file and line.

Timing of a step is either an offset from the start of the treatment ("4h", "1d 12h") or a day and a
clinic clock time ("day 1 at 09:00", day 0 being the treatment day).

Steps may be listed in any order: the dispatcher sends each one at its own computed time. The file order
is not checked because an offset and a clock time cannot be compared without knowing when the treatment
took place ("5h" is before "day 0 at 18:00" for a morning treatment and after it for an afternoon one).

A step marked `warning_signs: true` tells clients about complications; its texts must keep the clinic's phone
and the urgent-care advice in every language (clinical_safety.py). Such a step cannot be turned off, and every
plan needs at least one: otherwise clients would never learn the warning signs and when to seek urgent care.
Problems are data (problems.py), worded by the problem_* texts of admin.yaml.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import yaml

from aftercare_bot.plans.clinical_safety import warning_text_problems
from aftercare_bot.texts.catalog import (
    FALLBACK_LANGUAGE,
    MAX_MESSAGE_LENGTH,
    SourceProblem,
    compose_yaml,
    compose_yaml_text,
    display_path,
    line_of,
    mapping_entries,
    scalar_text,
    text_line,
)
from aftercare_bot.texts.problems import FileProblem, InvalidValue, Problem, problem, sorted_by_place
from aftercare_bot.texts.rendering import PLAN_PLACEHOLDERS, TemplateError, render, template_problems
from aftercare_bot.texts.telegram_html import html_problems, visible_length

_T = TypeVar("_T")

MAX_DAYS = 3650  # a plan reaching further than ten years out is surely a typo

# Long but realistic values (Telegram allows 64 characters in a first name) used to check that every
# message stays within Telegram's length limit whoever it is sent to.
LONG_SAMPLE_VALUES: Mapping[str, str] = {
    "first_name": "Alexandra-Maximiliane " * 2 + "Wolfeschlegelsteinh",
    "client_name": ("Alexandra-Maximiliane Wolfeschlegelsteinhausen-Bergerdorff " * 3)[:128],
    "clinic_name": ("The Riverside Aesthetic and Skin Clinic of Greater Manchester " * 2)[:100],
    "clinic_phone": "+44 (0) 161 496 0000 extension 1234",
    "treatment": ("Micro-needling with serum and a calming mask " * 2)[:64],
    "day": "3650",
}

_TOP_FIELDS = ("treatment", "title", "steps")
_STEP_FIELDS = ("key", "title", "due", "grace", "checkin", "enabled", "warning_signs", "text")
_NAME = re.compile(r"[a-z0-9_]{1,40}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?")
_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DAY_AT = re.compile(r"day\s+(\d+)\s+at\s+(\d{1,2}):(\d{2})", re.IGNORECASE)


@dataclass(frozen=True)
class Timing:
    """When a step is due: `offset` after the treatment start, or on `day` (0 = treatment day) `at` a time."""

    offset: timedelta | None = None
    day: int | None = None
    at: time | None = None

    def __post_init__(self) -> None:
        by_offset = self.offset is not None and self.day is None and self.at is None
        by_clock = self.offset is None and self.day is not None and self.at is not None
        if not (by_offset or by_clock):
            raise ValueError("Timing needs either offset, or both day and at")
        if self.offset is not None and self.offset <= timedelta(0):
            raise ValueError("Timing offset must be positive")
        if self.day is not None and not 0 <= self.day <= MAX_DAYS:
            raise ValueError(f"Timing day must be between 0 and {MAX_DAYS}")

    @classmethod
    def after(cls, offset: timedelta) -> Timing:
        return cls(offset=offset)

    @classmethod
    def on_day(cls, day: int, at: time) -> Timing:
        return cls(day=day, at=at)

    def describe(self) -> str:
        """The timing as written in a plan file."""
        if self.offset is not None:
            return format_duration(self.offset)
        assert self.at is not None
        return f"day {self.day} at {self.at:%H:%M}"

    def due_at(self, session_at: datetime, tz: ZoneInfo) -> datetime:
        """The moment (aware, UTC) this step is due for a treatment that started at `session_at`.

        An offset is an exact duration, so "24h" across a clock change still means 24 real hours.
        A day and clock time is the local date of the treatment in `tz` plus `day` days, at that wall-clock
        time. A time that does not exist that day (skipped when clocks go forward) falls an hour later; a
        time that happens twice (clocks going back) is the first one. The result may be before
        `session_at` (e.g. "day 0 at 09:00" for an afternoon treatment): it is returned as computed and
        the dispatcher skips it once its grace has passed.
        """
        if session_at.tzinfo is None or session_at.utcoffset() is None:
            raise ValueError("session_at must be timezone-aware")
        if self.offset is not None:
            return session_at.astimezone(UTC) + self.offset
        assert self.day is not None and self.at is not None
        local_day: date = session_at.astimezone(tz).date() + timedelta(days=self.day)
        return datetime.combine(local_day, self.at, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class Step:
    key: str
    due: Timing
    grace: timedelta
    texts: dict[str, str]
    checkin: bool = False
    enabled: bool = True
    warning_signs: bool = False  # tells about complications: texts must keep {clinic_phone} and urgent-care advice
    line: int = 0
    title: dict[str, str] = field(default_factory=dict)  # what the step is about, for admins (optional)

    def text(self, language: str | None) -> str:
        """The template in `language`, or in English when the plan has no such language."""
        if language and language in self.texts:
            return self.texts[language]
        return self.texts[FALLBACK_LANGUAGE]


@dataclass(frozen=True)
class Plan:
    treatment: str
    title: dict[str, str]
    steps: tuple[Step, ...]
    path: Path | None = None

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.title))

    @property
    def enabled_steps(self) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if step.enabled)

    def title_for(self, language: str | None, clinic_language: str) -> str:
        """The treatment's name for readers of `language`: else in the clinic's language (the DEFAULT_LANGUAGE
        setting), else in English, else the plan's key."""
        return (
            self.title.get(language or "")
            or self.title.get(clinic_language)
            or self.title.get(FALLBACK_LANGUAGE)
            or self.treatment
        )

    def step(self, key: str) -> Step:
        for step in self.steps:
            if step.key == key:
                return step
        raise KeyError(f"plan {self.treatment!r} has no step {key!r}")


PlanError = FileProblem  # a problem in a plan file: file, line, and what is wrong


class PlanLoadError(ValueError):
    """The plans could not be loaded; `errors` says what to fix."""

    def __init__(self, errors: list[PlanError]) -> None:
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = errors


def is_valid_key(value: str) -> bool:
    """Whether `value` may name a treatment or a step: a-z, 0-9 and _, at most 40 characters."""
    return bool(_NAME.fullmatch(value))


def is_language_code(value: str) -> bool:
    return bool(_LANGUAGE.fullmatch(value))


def parse_duration(text: str) -> timedelta:
    """ "90m", "3h", "1d 12h", "2w", "45s" -> timedelta; raises InvalidValue saying what is wrong."""
    parts = str(text).split()
    if not parts:
        raise InvalidValue(problem("problem_duration_empty"))
    total = timedelta(0)
    for part in parts:
        if not re.fullmatch(r"(?:\d+[smhdw])+", part):
            raise InvalidValue(problem("problem_duration_invalid", text=text))
        for amount, unit in _DURATION_PART.findall(part):
            if int(amount) > MAX_DAYS * 86400:
                raise InvalidValue(problem("problem_duration_too_long", text=text))
            total += timedelta(**{_DURATION_UNITS[unit]: int(amount)})
    if total <= timedelta(0):
        raise InvalidValue(problem("problem_duration_zero", text=text))
    if total > timedelta(days=MAX_DAYS):
        raise InvalidValue(problem("problem_duration_too_long", text=text))
    return total


def format_duration(duration: timedelta) -> str:
    """timedelta -> "1d 12h" (the inverse of parse_duration, without weeks)."""
    seconds = int(duration.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts) or "0s"


def parse_timing(text: str) -> Timing:
    """ "4h" / "1d 12h" (after the treatment start) or "day 1 at 09:00" (clinic clock time) -> Timing."""
    text = str(text).strip()
    if text.lower().startswith("day"):
        match = _DAY_AT.fullmatch(text)
        if match is None:
            raise InvalidValue(problem("problem_timing_invalid", text=text))
        day, hour, minute = (int(group) for group in match.groups())
        if day > MAX_DAYS:
            raise InvalidValue(problem("problem_timing_day_too_far", text=text, max_day=MAX_DAYS))
        if hour > 23 or minute > 59:
            raise InvalidValue(problem("problem_timing_no_such_time", text=text))
        return Timing.on_day(day, time(hour, minute))
    if re.fullmatch(r"(?:\d+[smhdw]\s*)+", text):
        return Timing.after(parse_duration(text))  # its own problem explains zero or huge values
    raise InvalidValue(problem("problem_timing_invalid", text=text))


def load_plans(plans_dir: Path | str) -> dict[str, Plan]:
    """Every plan in `plans_dir` by treatment; raises PlanLoadError if check_plans finds any problem."""
    plans, errors = _read_all(Path(plans_dir), LONG_SAMPLE_VALUES)
    if errors:
        raise PlanLoadError(errors)
    return plans


def check_plans(plans_dir: Path | str, *, sample_values: Mapping[str, str] = LONG_SAMPLE_VALUES) -> list[PlanError]:
    """Every problem in the plan files, sorted by file and line.

    `sample_values` fill the placeholders when measuring message length; use long ones.
    """
    return _read_all(Path(plans_dir), sample_values)[1]


def read_plan_text(
    text: str, treatment: str, *, sample_values: Mapping[str, str] = LONG_SAMPLE_VALUES
) -> tuple[Plan | None, list[PlanError]]:
    """A plan held in memory in the file format (an edit made from Telegram, an import) with the same checks
    as a file named `<treatment>.yaml`: the plan, or None and every problem found."""
    source = _PlanFile(Path(f"{treatment}.yaml"), f"{treatment}.yaml", text=text)
    plan = _read_plan(source)
    _check_texts(source, {**LONG_SAMPLE_VALUES, **sample_values})
    if plan is None or source.errors:
        return None, sorted_by_place(source.errors)
    return plan, []


# --- reading -------------------------------------------------------------------------------------


@dataclass
class _PlanFile:
    path: Path
    shown: str
    text: str | None = None  # the plan itself when it is not read from `path`
    errors: list[PlanError] = field(default_factory=list)
    # (step key, language) -> text node; kept even for steps with other problems so their texts get checked
    text_nodes: dict[tuple[str, str], yaml.Node] = field(default_factory=dict)
    warning_steps: set[str] = field(default_factory=set)  # keys of the steps marked warning_signs: true
    has_warning_step: bool = False  # some step is marked, even one with other problems

    def error(self, line: int, found: Problem) -> None:
        self.errors.append(PlanError(self.shown, line, found))


def _read_all(plans_dir: Path, sample_values: Mapping[str, str]) -> tuple[dict[str, Plan], list[PlanError]]:
    shown_dir = display_path(plans_dir, plans_dir)
    if not plans_dir.is_dir():
        return {}, [PlanError(shown_dir, 0, problem("problem_plans_folder_missing"))]
    errors: list[PlanError] = []
    plans: dict[str, Plan] = {}
    for path in sorted(plans_dir.glob("*.yml")):
        errors.append(PlanError(display_path(path, plans_dir), 0, problem("problem_plan_file_yml")))
    paths = sorted(plans_dir.glob("*.yaml"))
    if not paths:
        errors.append(PlanError(shown_dir, 0, problem("problem_plans_none")))
    values = {**LONG_SAMPLE_VALUES, **sample_values}
    for path in paths:
        source = _PlanFile(path, display_path(path, plans_dir))
        plan = _read_plan(source)
        _check_texts(source, values)
        if plan is not None and not source.errors:
            plans[plan.treatment] = plan
        errors.extend(source.errors)
    return plans, sorted_by_place(errors)


def _read_plan(source: _PlanFile) -> Plan | None:
    """The plan, or None when its structure is too broken to check further (errors are recorded)."""
    try:
        root = compose_yaml(source.path) if source.text is None else compose_yaml_text(source.text)
        if root is None:
            source.error(1, problem("problem_plan_file_empty"))
            return None
        entries = mapping_entries(root, problem("problem_what_plan_file"))
    except SourceProblem as error:
        source.error(error.line, error.problem)
        return None
    fields = {name: (key_node, value_node) for name, key_node, value_node in entries}
    _unknown_fields(source, entries, _TOP_FIELDS, problem("problem_where_plan_top"))
    for name in _TOP_FIELDS:
        if name not in fields:
            source.error(line_of(root), problem("problem_plan_field_missing", field=name))

    treatment = None
    if "treatment" in fields:
        treatment = _name(source, fields["treatment"][1], problem("problem_what_treatment"))
        if treatment is not None and treatment != source.path.stem:
            source.error(
                line_of(fields["treatment"][1]),
                problem("problem_plan_treatment_not_file_name", treatment=treatment, file=source.path.name),
            )
    title_what = problem("problem_what_title")
    title = _language_texts(source, fields["title"][1], title_what) if "title" in fields else None
    if title is not None and FALLBACK_LANGUAGE not in title:
        needs_default = problem("problem_plan_title_needs_default", language=FALLBACK_LANGUAGE)
        source.error(line_of(fields["title"][1]), needs_default)
    languages = set(title) if title is not None else None
    steps = _read_steps(source, fields["steps"][1], languages) if "steps" in fields else None
    if steps is not None and not source.has_warning_step:
        source.error(line_of(fields["steps"][0]), problem("problem_plan_no_warning_step"))
    if treatment is None or title is None or steps is None:
        return None
    return Plan(treatment=treatment, title=title, steps=steps, path=source.path if source.text is None else None)


def _read_steps(source: _PlanFile, node: yaml.Node, languages: set[str] | None) -> tuple[Step, ...] | None:
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        source.error(line_of(node), problem("problem_plan_steps_not_a_list"))
        return None
    steps: list[Step] = []
    first_line: dict[str, int] = {}
    for step_node in node.value:
        step = _read_step(source, step_node, languages)
        if step is None:
            continue
        if step.key in first_line:
            source.error(step.line, problem("problem_plan_step_twice", step=step.key, line=first_line[step.key]))
            continue
        first_line[step.key] = step.line
        steps.append(step)
    return tuple(steps)


def _read_step(source: _PlanFile, node: yaml.Node, languages: set[str] | None) -> Step | None:
    """One step; `languages` are the plan's (None when the title is broken, so they cannot be compared)."""
    line = line_of(node)
    try:
        entries = mapping_entries(node, problem("problem_what_step"))
    except SourceProblem as error:
        source.error(error.line, error.problem)
        return None
    fields = {name: value_node for name, _key_node, value_node in entries}
    key = _name(source, fields["key"], problem("problem_what_step_key")) if "key" in fields else None
    label = problem("problem_what_step_named", step=key) if key else problem("problem_what_step_at_line", line=line)

    def setting(name: str) -> Problem:
        return problem("problem_what_step_setting", step=label, setting=name)

    errors_before = len(source.errors)
    _unknown_fields(source, entries, _STEP_FIELDS, problem("problem_where_step", step=label))
    for name in ("key", "due", "grace", "text"):
        if name not in fields:
            source.error(line, problem("problem_plan_step_field_missing", step=label, field=name))

    due = _parsed(source, fields.get("due"), parse_timing, setting("due"))
    grace = _parsed(source, fields.get("grace"), parse_duration, setting("grace"))
    checkin = _flag(source, fields.get("checkin"), setting("checkin"), default=False)
    enabled = _flag(source, fields.get("enabled"), setting("enabled"), default=True)
    warning_signs = _flag(source, fields.get("warning_signs"), setting("warning_signs"), default=False)
    if warning_signs or _unreadable_flag(fields.get("warning_signs")):
        source.has_warning_step = True  # a misspelt value is reported by itself, not also as a missing mark
    if warning_signs and not enabled:
        source.error(line_of(fields["enabled"]), problem("problem_plan_warning_step_off", step=label))
    texts = _language_texts(source, fields["text"], setting("text")) if "text" in fields else None
    titles = _language_texts(source, fields["title"], setting("title")) if "title" in fields else {}
    if texts is not None and key is not None and languages is not None:
        for language in sorted(set(texts) - languages):
            source.error(
                line_of(fields["text"]),
                problem("problem_plan_step_language_without_title", step=label, language=language),
            )
    if texts is not None and key is not None and FALLBACK_LANGUAGE not in texts:
        # Translations may be partial (a step without one is sent in English), but English is always needed.
        source.error(
            line_of(fields["text"]), problem("problem_plan_step_needs_default", step=label, language=FALLBACK_LANGUAGE)
        )
    if texts is not None and key is not None:
        for language in texts:
            source.text_nodes.setdefault((key, language), _text_node(fields["text"], language))
        if warning_signs:
            source.warning_steps.add(key)
    if len(source.errors) > errors_before or None in (key, due, grace, texts, titles):
        return None
    assert key and due and grace and texts is not None and titles is not None
    return Step(
        key=key,
        due=due,
        grace=grace,
        texts=texts,
        checkin=checkin,
        enabled=enabled,
        warning_signs=warning_signs,
        line=line,
        title=titles,
    )


def _unknown_fields(
    source: _PlanFile, entries: list[tuple[str, yaml.Node, yaml.Node]], known: tuple[str, ...], where: Problem
) -> None:
    for name, key_node, _value in entries:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            if close:
                found = problem("problem_plan_unknown_setting_close", name=name, where=where, close=close[0])
            else:
                found = problem("problem_plan_unknown_setting", name=name, where=where, known=", ".join(known))
            source.error(line_of(key_node), found)


def _name(source: _PlanFile, node: yaml.Node, what: Problem) -> str | None:
    try:
        value = scalar_text(node, what)
    except SourceProblem as error:
        source.error(error.line, error.problem)
        return None
    if not _NAME.fullmatch(value):
        source.error(line_of(node), problem("problem_plan_name_invalid", what=what, value=value))
        return None
    return value


def _parsed(source: _PlanFile, node: yaml.Node | None, parse: Callable[[str], _T], what: Problem) -> _T | None:
    if node is None:
        return None
    try:
        return parse(scalar_text(node, what))
    except SourceProblem as error:
        source.error(error.line, error.problem)
    except InvalidValue as error:
        source.error(line_of(node), problem("problem_plan_setting_invalid", what=what, problem=error.problem))
    return None


def _flag(source: _PlanFile, node: yaml.Node | None, what: Problem, *, default: bool) -> bool:
    if node is None:
        return default
    value = node.value.lower() if isinstance(node, yaml.ScalarNode) else None
    if value not in ("true", "false"):
        source.error(line_of(node), problem("problem_plan_flag_invalid", what=what))
        return default
    return value == "true"


def _unreadable_flag(node: yaml.Node | None) -> bool:
    return node is not None and not (isinstance(node, yaml.ScalarNode) and node.value.lower() in ("true", "false"))


def _language_texts(source: _PlanFile, node: yaml.Node, what: Problem) -> dict[str, str] | None:
    try:
        entries = mapping_entries(node, what)
    except SourceProblem as error:
        source.error(error.line, error.problem)
        return None
    texts: dict[str, str] = {}
    for language, key_node, value_node in entries:
        if not _LANGUAGE.fullmatch(language):
            source.error(line_of(key_node), problem("problem_plan_language_invalid", what=what, language=language))
            continue
        in_language = problem("problem_what_in_language", what=what, language=language)
        try:
            value = scalar_text(value_node, in_language).rstrip()
        except SourceProblem as error:
            source.error(error.line, error.problem)
            continue
        if not value.strip():
            source.error(line_of(value_node), problem("problem_yaml_empty", what=in_language))
            continue
        texts[language] = value
    if not entries:
        source.error(line_of(node), problem("problem_plan_texts_need_default", what=what, language=FALLBACK_LANGUAGE))
    return texts if len(texts) == len(entries) and texts else None


def _text_node(text_node: yaml.Node, language: str) -> yaml.Node:
    for key_node, value_node in text_node.value:
        if key_node.value == language:
            return value_node
    raise KeyError(language)


def _check_texts(source: _PlanFile, values: Mapping[str, str]) -> None:
    for (key, language), node in source.text_nodes.items():
        template = node.value.rstrip()

        def error(line: int, found: Problem, key: str = key, language: str = language) -> None:
            source.error(line, problem("problem_in_step_text", step=key, language=language, problem=found))

        if key in source.warning_steps:
            for found in warning_text_problems(template, language):
                error(text_line(node, 1), found)
        problems = template_problems(template, PLAN_PLACEHOLDERS)
        for each in problems + html_problems(template):
            error(text_line(node, each.line), each.problem)
        if problems:
            continue
        try:
            length = visible_length(render(template, values))
        except TemplateError as failure:
            error(line_of(node), problem("problem_template_unrenderable", detail=str(failure)))
            continue
        if length > MAX_MESSAGE_LENGTH:
            error(line_of(node), problem("problem_plan_message_too_long", length=length, limit=MAX_MESSAGE_LENGTH))
