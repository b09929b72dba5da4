"""Measure the bot's real triage on a blind batch of client messages, printing figures only.

Usage: python tools/triage_blind.py BATCH.yaml [--lang en] [--show]

A batch is a YAML list of {text, day, level} with level one of urgent, concern, harmless, question, written by
people who never saw the rules. Message text is printed only with --show (to look at the misses once the
figures are recorded), so a batch can be measured before anyone has read it.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from aftercare_bot.triage.classify import TriageLevel, TriageResult, TriageRules, triage  # noqa: E402

LEVELS = ("urgent", "concern", "harmless", "question")


@dataclass(frozen=True)
class Graded:
    item: dict[str, Any]
    result: TriageResult

    @property
    def expected(self) -> str:
        return str(self.item["level"])

    @property
    def urgent(self) -> bool:
        return self.result.level is TriageLevel.URGENT

    @property
    def asked_back(self) -> bool:
        # The bot asks the client which warning sign applies when the rules cannot place a symptom.
        return bool(getattr(self.result, "ask_back", False))

    @property
    def card(self) -> bool:
        return self.result.level is not TriageLevel.ROUTINE or self.asked_back

    @property
    def grade(self) -> str:
        label = self.result.level.value
        if getattr(self.result, "is_question", False) and self.result.level is TriageLevel.CONCERN:
            label = "question"
        return label + ("+asked" if self.asked_back else "")


def grade_batch(rules: TriageRules, items: list[dict[str, Any]], language: str) -> list[Graded]:
    return [
        Graded(item, triage(rules, item.get("text"), language=language, day_since_session=item.get("day")))
        for item in items
    ]


def _share(hits: int, total: int) -> str:
    return f"{hits}/{total} = {100 * hits / total:.1f} %" if total else "0/0"


def figures(graded: list[Graded]) -> dict[str, str]:
    by_level: dict[str, list[Graded]] = {level: [g for g in graded if g.expected == level] for level in LEVELS}
    urgent, harmless, questions = by_level["urgent"], by_level["harmless"], by_level["question"]
    clinical = urgent + by_level["concern"]
    return {
        "size": str(len(graded)),
        "urgent recall": _share(sum(g.urgent for g in urgent), len(urgent)),
        "urgent or asked back": _share(sum(g.urgent or g.asked_back for g in urgent), len(urgent)),
        "reaches staff (urgent+concern)": _share(sum(g.card for g in clinical), len(clinical)),
        "harmless graded urgent": _share(sum(g.urgent for g in harmless), len(harmless)),
        "harmless raising a card": _share(sum(g.card for g in harmless), len(harmless)),
        "questions reaching staff": _share(sum(g.card for g in questions), len(questions)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("batch", type=Path)
    parser.add_argument("--lang", default="en")
    parser.add_argument("--rules", type=Path, default=REPO_ROOT / "messages" / "triage")
    parser.add_argument("--show", action="store_true", help="also list every message graded differently")
    args = parser.parse_args(argv)
    items = yaml.safe_load(args.batch.read_text(encoding="utf-8"))
    if not isinstance(items, list):
        parser.error("a batch is a YAML list of {text, day, level}")
    graded = grade_batch(TriageRules.load(args.rules), items, args.lang)
    for name, value in figures(graded).items():
        print(f"{name:32} {value}")
    spread = Counter((g.expected, g.grade) for g in graded)
    print("expected -> graded:", ", ".join(f"{e}->{r} {n}" for (e, r), n in sorted(spread.items())))
    if args.show:
        wanted = {"urgent": "urgent", "concern": "concern", "harmless": "routine", "question": "question"}
        for g in graded:
            if g.grade.split("+")[0] != wanted.get(g.expected):
                print(f"- [{g.expected} -> {g.grade}] day {g.item.get('day')}: {g.item.get('text')!r}")
                print(f"    {list(g.result.reasons)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
