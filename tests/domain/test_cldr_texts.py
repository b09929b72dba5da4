"""Plural forms, dates and numbers come from the CLDR data, for English, Russian, Spanish and any language added."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from aftercare_bot.texts import cldr
from aftercare_bot.texts.catalog import Texts, TextsError
from tests.support.paths import ROOT

MOMENT = datetime(2026, 11, 5, 14, 30)


@pytest.mark.parametrize(("language", "with_year", "without_year"), [
    ("en_GB", "5 Nov 2026, 14:30", "5 Nov, 14:30"),
    ("ru", "5 нояб. 2026\u202fг., 14:30", "5 нояб., 14:30"),
    ("es", "5 nov 2026, 14:30", "5 nov, 14:30"),
    ("en", "Nov 5, 2026, 14:30", "Nov 5, 14:30"),
])
def test_dates_follow_each_language(language: str, with_year: str, without_year: str) -> None:
    assert cldr.date_time(MOMENT, language) == with_year
    assert cldr.date_time(MOMENT, language, with_year=False) == without_year


def test_an_unknown_language_falls_back_to_its_base_and_then_english() -> None:
    assert str(cldr.locale("pt-BR")) == "pt_BR"
    assert cldr.locale("en-ZZ").language == "en"
    assert cldr.locale("../etc").language == "en"


def texts_with(tmp_path: Path, language: str, source: str) -> Texts:
    folder = tmp_path / "texts"
    (folder / "en").mkdir(parents=True, exist_ok=True)
    for path in (ROOT / "messages" / "texts" / "en").glob("*.yaml"):
        (folder / "en" / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / language).mkdir(exist_ok=True)
    (folder / language / "extra.yaml").write_text(source, encoding="utf-8")
    return Texts.load(folder)


RUSSIAN = """\
weeks_left:
  count: weeks
  one: остался {weeks} неделя
  few: осталось {weeks} недели
  many: осталось {weeks} недель
  other: осталось {weeks} недели
"""
SPANISH = """\
weeks_left:
  count: weeks
  one: queda {weeks} semana
  many: quedan {weeks} de semanas
  other: quedan {weeks} semanas
"""


@pytest.mark.parametrize(("count", "expected"), [
    (1, "остался 1 неделя"), (2, "осталось 2 недели"), (5, "осталось 5 недель"), (11, "осталось 11 недель"),
    (21, "остался 21 неделя"), (22, "осталось 22 недели"), (1.5, "осталось 1,5 недели"),
    (12345, "осталось 12\xa0345 недель"),
])
def test_russian_has_three_plural_forms_chosen_by_cldr(tmp_path: Path, count: float, expected: str) -> None:
    assert texts_with(tmp_path, "ru", RUSSIAN).label("weeks_left", "ru", weeks=count) == expected


@pytest.mark.parametrize(("count", "expected"), [
    (1, "queda 1 semana"), (2, "quedan 2 semanas"), (0, "quedan 0 semanas"), (1000000, "quedan 1.000.000 de semanas"),
])
def test_spanish_plurals_and_numbers(tmp_path: Path, count: int, expected: str) -> None:
    assert texts_with(tmp_path, "es", SPANISH).label("weeks_left", "es", weeks=count) == expected


@pytest.mark.parametrize(("steps", "weeks", "expected"), [
    (1, 1, "1 short message over about 1 week —"),
    (6, 6, "6 short messages over about 6 weeks —"),
])
def test_the_consent_message_says_week_and_weeks_as_english_does(steps: int, weeks: int, expected: str) -> None:
    texts = Texts.load(ROOT / "messages" / "texts")
    consent = texts.label(
        "consent", "en", clinic_name="Glow", treatment="Micro-needling",
        messages=texts.label("consent_messages", "en", steps=steps),
        duration=texts.label("consent_duration", "en", weeks=weeks),
    )
    assert expected in consent
    assert "1 weeks" not in consent


@pytest.mark.parametrize(("source", "complaint"), [
    ("x:\n  count: n\n  one: '{n} a'\n", "problem_plural_incomplete"),
    ("x:\n  count: n\n  other: 'no number'\n", "problem_plural_incomplete"),
    ("x:\n  count: n\n  several: '{n}'\n  other: '{n}'\n", "problem_plural_form_unknown"),
])
def test_a_plural_text_that_cannot_work_is_refused_with_its_line(tmp_path: Path, source: str, complaint: str) -> None:
    with pytest.raises(TextsError) as refused:
        texts_with(tmp_path, "es", source)
    assert complaint in str(refused.value)
