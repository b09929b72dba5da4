"""User-facing UI strings from messages/texts/<lang>/*.yaml, plus the YAML reading shared with plan files.

Each text file is a flat mapping `key: template`; templates are Telegram HTML with {placeholders}.
Problems are reported as "texts/en/client.yaml:12: ..." so a clinic can find the line to change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import yaml

from aftercare_bot.rendering import TemplateError, placeholders, render, template_problems
from aftercare_bot.telegram_html import html_problems, plain_text, visible_length

DEFAULT_LANGUAGE = "en"
MAX_MESSAGE_LENGTH = 4096  # Telegram's limit for one text message, counted after HTML parsing

_KEY = re.compile(r"[A-Za-z0-9_.-]+")


class SourceProblem(Exception):
    """A problem at a line (1-based) of a YAML file."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


def display_path(path: Path, root: Path) -> str:
    """`path` as shown in problem reports: relative to the working directory, else to `root`'s parent."""
    resolved = path.resolve()
    for base in (Path.cwd().resolve(), root.resolve().parent):
        if resolved.is_relative_to(base):
            return resolved.relative_to(base).as_posix()
    return path.as_posix()


def compose_yaml(path: Path) -> yaml.Node | None:
    """The YAML node tree of `path` (None for an empty file); nodes keep the line they were read from."""
    try:
        with path.open(encoding="utf-8") as stream:
            return compose_yaml_text(stream)
    except UnicodeDecodeError as error:
        raise SourceProblem(1, "the file is not saved as UTF-8 text — save it again with UTF-8 encoding") from error


def compose_yaml_text(source: str | TextIO) -> yaml.Node | None:
    """Like compose_yaml, for YAML already in memory (such as a plan edited from Telegram)."""
    try:
        return yaml.compose(source, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        raise SourceProblem(line, _explain_yaml_error(error)) from error
    except yaml.YAMLError as error:
        raise SourceProblem(1, f"the file could not be read as YAML ({error})") from error


def _explain_yaml_error(error: yaml.MarkedYAMLError) -> str:
    problem = error.problem or str(error)
    if "'\\t'" in problem:
        hint = "use spaces, not tabs, to indent"
    elif "mapping values are not allowed" in problem:
        hint = "a text containing ': ' must be a block: put | after the colon and the text on the next lines"
    elif "expected a single document" in problem:
        hint = "remove the line with --- so the file holds one document"
    else:
        hint = "check the indentation; write longer texts as a block: | after the colon, text on the next lines"
    return f"the file is not valid YAML ({problem}) — {hint}"


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


def mapping_entries(node: yaml.Node, what: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
    """(key, key node, value node) of a mapping node; a key written twice is a SourceProblem."""
    if not isinstance(node, yaml.MappingNode):
        raise SourceProblem(line_of(node), f"{what} must be a list of `name: value` lines")
    seen: dict[str, int] = {}
    entries = []
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise SourceProblem(line_of(key_node), f"{what}: a name before ':' must be a plain word")
        key = key_node.value
        if key in seen:
            raise SourceProblem(
                line_of(key_node), f"{what}: '{key}' is written twice (first on line {seen[key]}) — keep one"
            )
        seen[key] = line_of(key_node)
        entries.append((key, key_node, value_node))
    return entries


def scalar_text(node: yaml.Node, what: str) -> str:
    """The raw text of a scalar, never converted (so `no` stays "no", `10:00` stays "10:00")."""
    if not isinstance(node, yaml.ScalarNode):
        raise SourceProblem(line_of(node), f"{what} must be text, not a list or a group of settings")
    if node.style is None and node.value in ("", "~", "null", "Null", "NULL"):
        raise SourceProblem(line_of(node), f"{what} is empty")
    return node.value


@dataclass(frozen=True)
class TextEntry:
    key: str
    language: str
    template: str
    file: str
    node: yaml.Node

    def file_line(self, inner_line: int = 1) -> int:
        return text_line(self.node, inner_line)


class TextsError(ValueError):
    """The text files could not be loaded; `problems` lists each one as "file:line: message"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Texts:
    """All UI strings by language, with fallback to the default language."""

    def __init__(self, entries: Mapping[str, Mapping[str, TextEntry]], default_language: str = DEFAULT_LANGUAGE):
        self._entries = {language: dict(by_key) for language, by_key in entries.items()}
        self.default_language = default_language

    @classmethod
    def load(cls, texts_dir: Path | str, default_language: str = DEFAULT_LANGUAGE) -> Texts:
        """Read every `<texts_dir>/<lang>/*.yaml`; raises TextsError listing every problem found."""
        root = Path(texts_dir)
        if not root.is_dir():
            raise TextsError([f"{root}: the texts folder does not exist"])
        problems: list[str] = []
        entries: dict[str, dict[str, TextEntry]] = {}
        for language_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            by_key = entries.setdefault(language_dir.name, {})
            for path in sorted(language_dir.glob("*.yaml")):
                problems.extend(_load_file(path, display_path(path, root), language_dir.name, by_key))
        if problems:
            raise TextsError(problems)
        return cls(entries, default_language)

    @property
    def languages(self) -> list[str]:
        return sorted(self._entries)

    def keys(self, language: str | None = None) -> set[str]:
        return set(self._entries.get(language or self.default_language, {}))

    def has(self, key: str, language: str) -> bool:
        return key in self._entries.get(language, {})

    def raw(self, key: str, language: str | None) -> str:
        """The unrendered template for `key`, falling back to the default language."""
        return self._entry(key, language).template

    def get(self, key: str, language: str | None, /, **values: object) -> str:
        """The text for `key` as Telegram HTML, with every value HTML-escaped.

        Raises KeyError when no language has `key`, TemplateError when a placeholder has no value.
        """
        entry = self._entry(key, language)
        try:
            return render(entry.template, values)
        except TemplateError as error:
            raise TemplateError(f"{entry.file}:{entry.file_line()}: {key}: {error}") from error

    def label(self, key: str, language: str | None, /, **values: object) -> str:
        """Plain text for places Telegram does not parse as HTML, such as button labels.

        Labels are written like every other text (so `&amp;` for &); this returns what a reader would see.
        """
        return plain_text(self.get(key, language, **values))

    def check(self) -> list[str]:
        """Every problem in the loaded texts, as "file:line: message"."""
        problems: list[str] = []
        default = self._entries.get(self.default_language, {})
        for language in self.languages:
            for key, entry in sorted(self._entries[language].items()):
                problems.extend(_entry_problems(entry))
                if language == self.default_language:
                    continue
                if key not in default:
                    problems.append(
                        f"{entry.file}:{entry.file_line()}: '{key}' has no {self.default_language} version — "
                        f"add it to the {self.default_language} texts, used whenever a translation is missing"
                    )
                    continue
                try:
                    extra = set(placeholders(entry.template)) - set(placeholders(default[key].template))
                except TemplateError:
                    continue  # already reported by _entry_problems
                if extra:
                    names = ", ".join(f"{{{name}}}" for name in sorted(extra))
                    problems.append(
                        f"{entry.file}:{entry.file_line()}: '{key}' uses {names}, which the "
                        f"{self.default_language} version does not — only placeholders of the "
                        f"{self.default_language} text are filled in"
                    )
        return problems

    def _entry(self, key: str, language: str | None) -> TextEntry:
        for candidate in _language_chain(language, self.default_language):
            entry = self._entries.get(candidate, {}).get(key)
            if entry is not None:
                return entry
        raise KeyError(f"no text {key!r} in {language!r} or {self.default_language!r}")


def _language_chain(language: str | None, default: str) -> Iterable[str]:
    """ "pt-BR" is looked up as pt-BR, then pt, then the default language."""
    if language:
        yield language
        base = language.split("-")[0].split("_")[0]
        if base != language:
            yield base
    yield default


def _load_file(path: Path, shown: str, language: str, by_key: dict[str, TextEntry]) -> list[str]:
    problems = []
    try:
        root = compose_yaml(path)
        if root is None:
            return []
        entries = mapping_entries(root, "a texts file")
    except SourceProblem as problem:
        return [f"{shown}:{problem.line}: {problem.message}"]
    for key, key_node, value_node in entries:
        if not _KEY.fullmatch(key):
            problems.append(f"{shown}:{line_of(key_node)}: '{key}' is not a valid name — use letters, digits and _")
            continue
        try:
            template = scalar_text(value_node, f"the text of '{key}'").rstrip()
        except SourceProblem as problem:
            problems.append(f"{shown}:{problem.line}: {problem.message}")
            continue
        earlier = by_key.get(key)
        if earlier is not None:
            problems.append(
                f"{shown}:{line_of(key_node)}: '{key}' is also defined in "
                f"{earlier.file}:{earlier.file_line()} — each name may appear only once per language"
            )
            continue
        by_key[key] = TextEntry(key, language, template, shown, value_node)
    return problems


def _entry_problems(entry: TextEntry) -> list[str]:
    def at(inner_line: int, message: str) -> str:
        return f"{entry.file}:{entry.file_line(inner_line)}: {entry.key}: {message}"

    problems = [at(p.line, p.message) for p in template_problems(entry.template, None)]
    problems += [at(p.line, p.message) for p in html_problems(entry.template)]
    length = visible_length(entry.template)
    if length > MAX_MESSAGE_LENGTH:
        problems.append(
            at(
                1,
                f"the text is {length} characters long; the limit is {MAX_MESSAGE_LENGTH} — shorten it",
            )
        )
    return problems
