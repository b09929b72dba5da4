"""The blind batches (tests/support/data/triage_blind), once measured and recorded, guard against regressions:
every warning sign is caught or asked back, every clinical message reaches staff, harmless ones stay quiet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from aftercare_bot.triage.classify import TriageLevel, TriageResult, TriageRules, triage
from tests.support.paths import DATA, ROOT

BLIND = DATA / "triage_blind"
# English batches at the top, other languages in a folder named by their code (ru/, es/).
BATCHES = [("en", path) for path in sorted(BLIND.glob("batch*.yaml"))] + [
    (folder.name, path)
    for folder in sorted(p for p in BLIND.iterdir() if p.is_dir() and p.name != "not_yet_folded")
    for path in sorted(folder.glob("batch*.yaml"))
]


@pytest.fixture(scope="module")
def rules() -> TriageRules:
    return TriageRules.load(ROOT / "messages" / "triage")


def graded(rules: TriageRules, language: str, path: Path) -> list[tuple[dict[str, Any], TriageResult]]:
    items = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [(item, triage(rules, item["text"], language=language, day_since_session=item["day"])) for item in items]


def test_there_are_blind_batches_in_every_shipped_language() -> None:
    counts = {language: sum(1 for lang, _ in BATCHES if lang == language) for language in ("en", "ru", "es")}
    assert all(count >= 2 for count in counts.values()), counts


@pytest.mark.parametrize(("language", "path"), BATCHES, ids=[f"{lang}-{path.stem}" for lang, path in BATCHES])
def test_blind_batch_stays_safe(rules: TriageRules, language: str, path: Path) -> None:
    results = graded(rules, language, path)
    urgent_missed = [i["text"] for i, r in results
                     if i["level"] == "urgent" and r.level is not TriageLevel.URGENT and not r.ask_back]
    assert not urgent_missed, urgent_missed
    unseen = [i["text"] for i, r in results
              if i["level"] in ("urgent", "concern") and r.level is TriageLevel.ROUTINE]
    assert not unseen, unseen
    harmless = [r for i, r in results if i["level"] == "harmless"]
    assert sum(r.level is TriageLevel.URGENT for r in harmless) <= 0.05 * len(harmless)
    if language == "en":  # the English goal; for Russian and Spanish the harmless cards are recorded, not bounded
        assert sum(r.level is not TriageLevel.ROUTINE for r in harmless) <= 0.15 * len(harmless)
    questions = [r for i, r in results if i["level"] == "question"]
    assert all(r.level is not TriageLevel.ROUTINE for r in questions)
