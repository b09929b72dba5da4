"""Problems found in the clinic's texts and files, as data: a texts key and the values that fill it in.

Checks (plans, texts, Telegram HTML, placeholders, clinical safety) return these instead of sentences, so the
wording lives in messages/texts/<lang>/admin.yaml like every other text, and whoever shows a problem (the
Telegram handlers, the command line) renders it in its reader's language with `Texts.get`. A value may itself
be a Problem, a LineProblem or a list of them: it is rendered in place (see texts.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """What is wrong: `key` names its text in admin.yaml (all start with "problem_"), `values` fill it in."""

    key: str
    values: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:  # for logs and test failures; readers get the rendered text
        details = ", ".join(f"{name}={value}" for name, value in self.values.items())
        return f"{self.key}({details})"


def problem(key: str, /, **values: object) -> Problem:
    return Problem(key, values)


@dataclass(frozen=True)
class LineProblem:
    """A problem at `line` (counted from 1) of one text."""

    line: int
    problem: Problem

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


@dataclass(frozen=True)
class FileProblem:
    """A problem at `line` of `file` as the clinic sees it (0 when it concerns the whole file)."""

    file: str
    line: int
    problem: Problem

    @property
    def key(self) -> str:
        return self.problem.key

    @property
    def sort_key(self) -> tuple[str, int]:
        return (self.file, self.line)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.problem}" if self.line else f"{self.file}: {self.problem}"


class InvalidValue(ValueError):
    """A value (a timing, a duration, ...) that cannot be used; `problem` says why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def sorted_by_place(problems: list[FileProblem]) -> list[FileProblem]:
    """By file and line; problems on the same line keep the order in which they were found."""
    return sorted(problems, key=lambda found: found.sort_key)
