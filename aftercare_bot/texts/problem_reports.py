"""Problems in the message files as text for the command line: `plan check`, `templates import`, start-up.

The other sentences the command line prints are worded the same way (cli_text, the cli_* texts).

Problems are worded by the problem_* texts of the folder being checked. When that folder's texts cannot be
read (they may be what is broken) or lack a wording (a folder from an older version), the wording shipped
with the bot is used, and failing that the problem's key and values, so a report is never lost.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

from aftercare_bot.config import SHIPPED_MESSAGES_DIR
from aftercare_bot.plans.model import PlanLoadError, check_plans
from aftercare_bot.texts.catalog import Texts, TextsError
from aftercare_bot.texts.problems import FileProblem, LineProblem, Problem, problem
from aftercare_bot.texts.rendering import TemplateError


@functools.cache
def _shipped_texts() -> Texts | None:
    try:
        return Texts.load(SHIPPED_MESSAGES_DIR / "texts")
    except (TextsError, OSError):
        return None


def problem_texts(messages_dir: Path) -> Texts | None:
    """The texts that word problems: the folder's own when they load, else the shipped ones."""
    try:
        return Texts.load(messages_dir / "texts")
    except (TextsError, OSError):
        return _shipped_texts()


def describe(found: Problem | LineProblem | FileProblem, texts: Texts | None) -> str:
    """One problem as a line of plain text."""
    for candidate in (texts, _shipped_texts()):
        if candidate is None:
            continue
        try:
            return candidate.describe(found)
        except (KeyError, TemplateError):
            continue
    return str(found)


def cli_text(key: str, texts: Texts | None, **values: object) -> str:
    """A sentence the command line prints, worded like problems: the `cli_*` texts of messages/texts."""
    return describe(problem(key, **values), texts)


def plan_report(errors: Sequence[FileProblem], texts: Texts | None) -> str:
    """Every problem on its own line, then how many there are (or that all is well)."""
    lines = [describe(error, texts) for error in errors]
    if not errors:
        summary = describe(Problem("problem_report_ok"), texts)
    elif len(errors) == 1:
        summary = describe(Problem("problem_report_one"), texts)
    else:
        summary = describe(Problem("problem_report_many", {"count": len(errors)}), texts)
    return "\n".join([*lines, summary])


def check_messages(messages_dir: Path) -> tuple[str, bool]:
    """`aftercare-bot plan check`: the report on the plans and texts of `messages_dir`, and whether all is well."""
    texts: Texts | None
    try:
        loaded = Texts.load(messages_dir / "texts")
        texts, text_problems = loaded, loaded.check()
    except TextsError as error:  # what is broken may be the wording of problems itself
        texts, text_problems = _shipped_texts(), error.problems
    plan_problems = check_plans(messages_dir / "plans")
    report = plan_report(plan_problems, texts)
    if text_problems:
        report += "\n" + "\n".join(describe(found, texts) for found in text_problems)
    return report, not (plan_problems or text_problems)


def load_failure(error: PlanLoadError | TextsError, messages_dir: Path) -> str:
    """Why the bot refuses to start: each problem with its file, line and, for texts, the key."""
    problems = error.errors if isinstance(error, PlanLoadError) else error.problems
    texts = problem_texts(messages_dir)
    return "\n".join(describe(found, texts) for found in problems)
