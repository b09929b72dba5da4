"""The blind batches (tests/support/data/triage_blind), once measured and recorded, guard against regressions:
every warning sign is caught or asked back, every clinical message reaches staff, harmless ones stay quiet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from aftercare_bot.triage.classify import TriageLevel, TriageResult, TriageRules, triage
from tests.support.paths import DATA, ROOT

BATCHES = sorted((DATA / "triage_blind").glob("batch*.yaml"))


@pytest.fixture(scope="module")
def rules() -> TriageRules:
    return TriageRules.load(ROOT / "messages" / "triage")


def graded(rules: TriageRules, path: Path) -> list[tuple[dict[str, Any], TriageResult]]:
    items = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [(item, triage(rules, item["text"], language="en", day_since_session=item["day"])) for item in items]


def test_there_are_blind_batches() -> None:
    assert len(BATCHES) >= 3


@pytest.mark.parametrize("path", BATCHES, ids=lambda p: p.stem)
def test_blind_batch_stays_safe(rules: TriageRules, path: Path) -> None:
    results = graded(rules, path)
    urgent_missed = [i["text"] for i, r in results
                     if i["level"] == "urgent" and r.level is not TriageLevel.URGENT and not r.ask_back]
    assert not urgent_missed, urgent_missed
    unseen = [i["text"] for i, r in results
              if i["level"] in ("urgent", "concern") and r.level is TriageLevel.ROUTINE]
    assert not unseen, unseen
    harmless = [r for i, r in results if i["level"] == "harmless"]
    assert sum(r.level is TriageLevel.URGENT for r in harmless) <= 0.05 * len(harmless)
    assert sum(r.level is not TriageLevel.ROUTINE for r in harmless) <= 0.15 * len(harmless)
    questions = [r for i, r in results if i["level"] == "question"]
    assert all(r.level is not TriageLevel.ROUTINE for r in questions)
