"""User-facing UI strings from messages/texts/<lang>/*.yaml, plus the YAML reading shared with plan files.

Each text file is a flat mapping `key: template`; templates are Telegram HTML with {placeholders}. A text that
depends on a number is a mapping instead: `count:` names the placeholder holding the number, and the forms are
given by CLDR plural category (zero, one, two, few, many, other; `other` is required), as the language's CLDR
rules (texts.cldr) choose them:

    plan_length:
      count: weeks
      one: about {weeks} week
      other: about {weeks} weeks
Problems are FileProblems (file, line, what is wrong), so a clinic can find the line to change; they are
worded by the problem_* texts of admin.yaml, rendered like any other text (see `Texts.get`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import yaml

from aftercare_bot.plans.clinical_safety import SAFETY_TEXT_KEYS, warning_text_problems
from aftercare_bot.texts import cldr
from aftercare_bot.texts.problems import FileProblem, LineProblem, Problem, problem, sorted_by_place
from aftercare_bot.texts.rendering import Html, TemplateError, placeholders, render, template_problems
from aftercare_bot.texts.telegram_html import html_problems, plain_text, visible_length

# The language every text (and every plan) must exist in: the last resort when a text is missing in the language
# asked for and in the clinic's own. The clinic's language is the DEFAULT_LANGUAGE setting (settings.default_language).
FALLBACK_LANGUAGE = "en"
MAX_MESSAGE_LENGTH = 4096  # Telegram's limit for one text message, counted after HTML parsing

_KEY = re.compile(r"[A-Za-z0-9_.-]+")


class SourceProblem(Exception):
    """A problem at a line (1-based) of a YAML file."""

    def __init__(self, line: int, found: Problem) -> None:
        super().__init__(f"line {line}: {found}")
        self.line = line
        self.problem = found


def display_path(path: Path, root: Path) -> str:
    """`path` as shown in problem reports: relative to the working directory, else to `root`'s parent."""
    resolved = path.resolve()
    for base in (Path.cwd().resolve(), root.resolve().parent):
        if resolved.is_relative_to(base):
            return resolved.relative_to(base).as_posix()
    return path.as_posix()


def compose_yaml(path: Path) -> yaml.Node | None:
    """The YAML node tree of `path` (None for an empty file); nodes keep the line they were read from. A file
    read before and unchanged since is not parsed again (tests and replicas build many services)."""
    stat = path.stat()
    return _compose_file(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _compose_file(path: Path, _mtime_ns: int, _size: int) -> yaml.Node | None:
    try:
        with path.open(encoding="utf-8") as stream:
            return compose_yaml_text(stream)
    except UnicodeDecodeError as error:
        raise SourceProblem(1, problem("problem_yaml_not_utf8")) from error


def compose_yaml_text(source: str | TextIO) -> yaml.Node | None:
    """Like compose_yaml, for YAML already in memory (such as a plan edited from Telegram)."""
    try:
        return yaml.compose(source, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        raise SourceProblem(line, _explain_yaml_error(error)) from error
    except yaml.YAMLError as error:
        raise SourceProblem(1, problem("problem_yaml_unreadable", detail=str(error))) from error


def _explain_yaml_error(error: yaml.MarkedYAMLError) -> Problem:
    detail = error.problem or str(error)
    if "'\\t'" in detail:
        hint = "tabs"
    elif "mapping values are not allowed" in detail:
        hint = "block"
    elif "expected a single document" in detail:
        hint = "one_document"
    else:
        hint = "indentation"
    return problem("problem_yaml_invalid", detail=detail, hint=problem(f"problem_yaml_hint_{hint}"))


def line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def text_line(node: yaml.Node, inner_line: int) -> int:
    """The file line holding line `inner_line` (1-based) of a text value.

    Only a literal block (`|`) keeps one text line per file line; other styles fold lines together, so
    their problems point at the line where the value starts.
    """
    if isinstance(node, yaml.ScalarNode) and node.style == "|":
        return node.start_mark.line + 1 + inner_line
    return line_of(node)


def mapping_entries(node: yaml.Node, what: Problem) -> list[tuple[str, yaml.Node, yaml.Node]]:
    """(key, key node, value node) of a mapping node; a key written twice is a SourceProblem.

    `what` names the mapping in problems (a problem_what_* text).
    """
    if not isinstance(node, yaml.MappingNode):
        raise SourceProblem(line_of(node), problem("problem_yaml_not_a_mapping", what=what))
    seen: dict[str, int] = {}
    entries = []
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise SourceProblem(line_of(key_node), problem("problem_yaml_name_not_plain", what=what))
        key = key_node.value
        if key in seen:
            raise SourceProblem(
                line_of(key_node), problem("problem_yaml_name_twice", what=what, name=key, first_line=seen[key])
            )
        seen[key] = line_of(key_node)
        entries.append((key, key_node, value_node))
    return entries


def scalar_text(node: yaml.Node, what: Problem) -> str:
    """The raw text of a scalar, never converted (so `no` stays "no", `10:00` stays "10:00")."""
    if not isinstance(node, yaml.ScalarNode):
        raise SourceProblem(line_of(node), problem("problem_yaml_not_text", what=what))
    if node.style is None and node.value in ("", "~", "null", "Null", "NULL"):
        raise SourceProblem(line_of(node), problem("problem_yaml_empty", what=what))
    return node.value


@dataclass(frozen=True)
class TextEntry:
    key: str
    language: str
    template: str  # the only form, or the plural form "other"
    file: str
    node: yaml.Node
    count: str = ""  # for plural forms: the placeholder whose number chooses the form
    forms: tuple[tuple[str, str], ...] = ()  # (CLDR plural category, template)

    @property
    def templates(self) -> list[str]:
        return [template for _, template in self.forms] or [self.template]

    def form_for(self, values: Mapping[str, object]) -> tuple[str, dict[str, object]]:
        """The template to render with `values`: the plural form for the count, which is written as the language
        writes numbers."""
        count = values.get(self.count)
        if not self.forms or not isinstance(count, int | float) or isinstance(count, bool):
            return self.template, dict(values)
        forms = dict(self.forms)
        template = forms.get(cldr.plural_category(count, self.language), forms["other"])
        return template, {**values, self.count: cldr.number(count, self.language)}

    def file_line(self, inner_line: int = 1) -> int:
        return text_line(self.node, inner_line)


class TextsError(ValueError):
    """The text files could not be loaded; `problems` says what to fix, file by file."""

    def __init__(self, problems: list[FileProblem]) -> None:
        super().__init__("\n".join(str(found) for found in problems))
        self.problems = problems


class Texts:
    """All UI strings by language. A text missing in the language asked for is taken from the clinic's language
    (`clinic_language`, the DEFAULT_LANGUAGE setting), else from English (FALLBACK_LANGUAGE), which has every text."""

    def __init__(self, entries: Mapping[str, Mapping[str, TextEntry]], clinic_language: str = FALLBACK_LANGUAGE):
        self._entries = {language: dict(by_key) for language, by_key in entries.items()}
        self.clinic_language = clinic_language

    @classmethod
    def load(cls, texts_dir: Path | str, clinic_language: str = FALLBACK_LANGUAGE) -> Texts:
        """Read every `<texts_dir>/<lang>/*.yaml`; raises TextsError listing every problem found.

        The safety texts are checked here too, so the bot never starts with one that lost the clinic's
        phone number or the urgent-care advice.
        """
        root = Path(texts_dir)
        if not root.is_dir():
            raise TextsError([FileProblem(str(root), 0, problem("problem_texts_folder_missing"))])
        problems: list[FileProblem] = []
        entries: dict[str, dict[str, TextEntry]] = {}
        for language_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            by_key = entries.setdefault(language_dir.name, {})
            for path in sorted(language_dir.glob("*.yaml")):
                problems.extend(_load_file(path, display_path(path, root), language_dir.name, by_key))
        if problems:
            raise TextsError(problems)
        texts = cls(entries, clinic_language)
        if unsafe := texts.safety_problems():
            raise TextsError(unsafe)
        return texts

    @property
    def languages(self) -> list[str]:
        return sorted(self._entries)

    def keys(self, language: str | None = None) -> set[str]:
        return set(self._entries.get(language or self.clinic_language, {}))

    def has(self, key: str, language: str) -> bool:
        return key in self._entries.get(language, {})

    def raw(self, key: str, language: str | None) -> str:
        """The unrendered template for `key`, falling back as `get` does."""
        return self._entry(key, language).template

    def get(self, key: str, language: str | None, /, **values: object) -> str:
        """The text for `key` as Telegram HTML, with every value HTML-escaped.

        A value that is a Problem, LineProblem or FileProblem (or a list of them, one per line) is worded by
        its own texts in the same language and put in as HTML.
        Raises KeyError when no language has `key`, TemplateError when a placeholder has no value.
        """
        entry = self._entry(key, language)
        template, values = entry.form_for(values)
        values = {name: self._worded(value, language) for name, value in values.items()}
        try:
            return render(template, values)
        except TemplateError as error:
            raise TemplateError(f"{entry.file}:{entry.file_line()}: {key}: {error}") from error

    def _worded(self, value: object, language: str | None) -> object:
        if isinstance(value, Problem):
            return Html(self.get(value.key, language, **value.values))
        if isinstance(value, LineProblem):
            return Html(self.get("problem_at_line", language, line=value.line, problem=value.problem))
        if isinstance(value, FileProblem):
            key = "problem_at_file_line" if value.line else "problem_at_file"
            return Html(self.get(key, language, file=value.file, line=value.line, problem=value.problem))
        if _is_problem_list(value):
            assert isinstance(value, Sequence)
            return Html(
                "\n".join(self.get("problem_list_item", language, problem=item) for item in value)
            )
        return value

    def describe(self, found: Problem | LineProblem | FileProblem, language: str | None = None) -> str:
        """A problem as plain text, for the command line and logs."""
        return plain_text(str(self._worded(found, language)))

    def label(self, key: str, language: str | None, /, **values: object) -> str:
        """Plain text for places Telegram does not parse as HTML, such as button labels.

        Labels are written like every other text (so `&amp;` for &); this returns what a reader would see.
        """
        return plain_text(self.get(key, language, **values))

    def check(self) -> list[FileProblem]:
        """Every problem in the loaded texts."""
        problems: list[FileProblem] = []
        fallback = self._entries.get(FALLBACK_LANGUAGE, {})
        for language in self.languages:
            for key, entry in sorted(self._entries[language].items()):
                problems.extend(_entry_problems(entry))
                if language == FALLBACK_LANGUAGE:
                    continue
                if key not in fallback:
                    problems.append(
                        _at(entry, 1, problem("problem_text_without_default", language=FALLBACK_LANGUAGE))
                    )
                    continue
                try:
                    extra = _placeholders_of(entry) - _placeholders_of(fallback[key])
                except TemplateError:
                    continue  # already reported by _entry_problems
                if extra:
                    names = ", ".join(f"{{{name}}}" for name in sorted(extra))
                    problems.append(
                        _at(
                            entry,
                            1,
                            problem("problem_text_extra_placeholders", names=names, language=FALLBACK_LANGUAGE),
                        )
                    )
        return sorted_by_place(problems + self.safety_problems())

    def safety_problems(self) -> list[FileProblem]:
        """Safety texts (clinical_safety.SAFETY_TEXT_KEYS) that are missing, or lack the clinic's phone or the
        urgent-care advice, in any language."""
        problems: list[FileProblem] = []
        fallback = self._entries.get(FALLBACK_LANGUAGE, {})
        for key in SAFETY_TEXT_KEYS:
            if key not in fallback:
                folder = f"texts/{FALLBACK_LANGUAGE}"
                problems.append(FileProblem(folder, 0, problem("problem_safety_text_missing", key=key)))
        for language in self.languages:
            for key in SAFETY_TEXT_KEYS:
                entry = self._entries[language].get(key)
                if entry is not None:
                    problems.extend(
                        _at(entry, 1, found)
                        for template in entry.templates
                        for found in warning_text_problems(template, language)
                    )
        return problems

    def _entry(self, key: str, language: str | None) -> TextEntry:
        for candidate in _language_chain(language, self.clinic_language):
            entry = self._entries.get(candidate, {}).get(key)
            if entry is not None:
                return entry
        raise KeyError(f"no text {key!r} in {language!r}, {self.clinic_language!r} or {FALLBACK_LANGUAGE!r}")


def _language_chain(language: str | None, clinic_language: str) -> Iterable[str]:
    """ "pt-BR" is looked up as pt-BR, then pt, then the clinic's language, then English (FALLBACK_LANGUAGE)."""
    if language:
        yield language
        base = language.split("-")[0].split("_")[0]
        if base != language:
            yield base
    yield clinic_language
    if clinic_language != FALLBACK_LANGUAGE:
        yield FALLBACK_LANGUAGE


def _is_problem_list(value: object) -> bool:
    return (
        isinstance(value, list | tuple)
        and bool(value)
        and all(isinstance(item, Problem | LineProblem | FileProblem) for item in value)
    )


def _load_file(path: Path, shown: str, language: str, by_key: dict[str, TextEntry]) -> list[FileProblem]:
    problems = []
    try:
        root = compose_yaml(path)
        if root is None:
            return []
        entries = mapping_entries(root, problem("problem_what_texts_file"))
    except SourceProblem as error:
        return [FileProblem(shown, error.line, error.problem)]
    for key, key_node, value_node in entries:
        if not _KEY.fullmatch(key):
            problems.append(FileProblem(shown, line_of(key_node), problem("problem_text_name_invalid", key=key)))
            continue
        try:
            if isinstance(value_node, yaml.MappingNode):
                entry = _plural_entry(key, language, shown, value_node)
            else:
                template = scalar_text(value_node, problem("problem_what_text_of", key=key)).rstrip()
                entry = TextEntry(key, language, template, shown, value_node)
        except SourceProblem as error:
            problems.append(FileProblem(shown, error.line, error.problem))
            continue
        earlier = by_key.get(key)
        if earlier is not None:
            problems.append(
                FileProblem(
                    shown,
                    line_of(key_node),
                    problem("problem_text_name_twice", key=key, file=earlier.file, line=earlier.file_line()),
                )
            )
            continue
        by_key[key] = entry
    return problems


def _plural_entry(key: str, language: str, shown: str, node: yaml.MappingNode) -> TextEntry:
    """A text with a form per CLDR plural category, chosen by the number in the placeholder `count`."""
    what = problem("problem_what_text_of", key=key)
    count, forms = "", []
    for name, name_node, value_node in mapping_entries(node, what):
        if name == "count":
            count = scalar_text(value_node, what).strip().strip("{}")
        elif name in cldr.PLURAL_CATEGORIES:
            forms.append((name, scalar_text(value_node, what).rstrip()))
        else:
            raise SourceProblem(line_of(name_node), problem("problem_plural_form_unknown", name=name))
    found = dict(forms)
    if not count or "other" not in found or any(f"{{{count}}}" not in template for _, template in forms):
        raise SourceProblem(line_of(node), problem("problem_plural_incomplete", key=key))
    return TextEntry(key, language, found["other"], shown, node, count=count, forms=tuple(forms))


def _placeholders_of(entry: TextEntry) -> set[str]:
    return {name for template in entry.templates for name in placeholders(template)}


def _at(entry: TextEntry, inner_line: int, found: Problem) -> FileProblem:
    """A problem of one text, at its line in the file, naming the text's key."""
    in_text = problem("problem_in_text", key=entry.key, problem=found)
    return FileProblem(entry.file, entry.file_line(inner_line), in_text)


def _entry_problems(entry: TextEntry) -> list[FileProblem]:
    problems = []
    for template in entry.templates:
        found = template_problems(template, None) + html_problems(template)
        problems += [_at(entry, each.line if not entry.forms else 1, each.problem) for each in found]
        length = visible_length(template)
        if length > MAX_MESSAGE_LENGTH:
            problems.append(
                _at(entry, 1, problem("problem_text_too_long", length=length, limit=MAX_MESSAGE_LENGTH))
            )
    return problems
