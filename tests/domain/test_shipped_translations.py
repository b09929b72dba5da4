"""The shipped translations match English: the same files, keys, placeholders, tags and plural mappings, and
every warning-sign text passes the clinical safety check in its own language.

A translation drifts in ways the loader forgives (a missing key falls back to English, a missing placeholder
renders fine), so these are checked here, for every language folder in messages/texts.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from aftercare_bot.plans.clinical_safety import SAFETY_TEXT_KEYS, warning_text_problems
from aftercare_bot.plans.model import check_plans, load_plans
from aftercare_bot.texts import cldr
from aftercare_bot.texts.catalog import Texts
from aftercare_bot.texts.rendering import placeholders
from tests.support.paths import ROOT

TEXTS_DIR = ROOT / "messages" / "texts"
PLANS_DIR = ROOT / "messages" / "plans"
ENGLISH = TEXTS_DIR / "en"
TRANSLATIONS = sorted(p.name for p in TEXTS_DIR.iterdir() if p.is_dir() and p.name != "en")
_TAG = re.compile(r"</?([a-z][a-z-]*)")


def read(path: Path) -> dict[str, object]:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def templates(value: object) -> list[str]:
    """The templates of a text: itself, or the plural forms of a mapping."""
    if isinstance(value, dict):
        return [str(form) for name, form in value.items() if name != "count"]
    return [str(value)]


def shape(value: object) -> tuple[set[str], Counter[str]]:
    """What a translation must keep: the placeholders, and how often each tag is opened and closed."""
    names: set[str] = set()
    tags: Counter[str] = Counter()
    for template in templates(value):
        names |= set(placeholders(template))
    main = str(value["other"]) if isinstance(value, dict) else str(value)
    tags.update(match.group(0) for match in _TAG.finditer(main))
    return names, tags


def test_russian_is_shipped() -> None:
    assert "ru" in TRANSLATIONS


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_a_translation_has_every_file_and_key_of_english(language: str) -> None:
    folder = TEXTS_DIR / language
    assert sorted(p.name for p in folder.glob("*.yaml")) == sorted(p.name for p in ENGLISH.glob("*.yaml"))
    for path in sorted(ENGLISH.glob("*.yaml")):
        english, translated = set(read(path)), set(read(folder / path.name))
        assert (sorted(english - translated), sorted(translated - english)) == ([], []), f"{language}/{path.name}"


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_a_translation_keeps_the_placeholders_and_tags_of_english(language: str) -> None:
    for path in sorted(ENGLISH.glob("*.yaml")):
        translated = read(TEXTS_DIR / language / path.name)
        for key, english in read(path).items():
            if key == "date_locale":
                continue
            assert shape(translated[key]) == shape(english), f"{language}/{path.name}: {key}"


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_a_plural_text_has_exactly_the_forms_of_its_language(language: str) -> None:
    forms = set(cldr.locale(language).plural_form.tags) | {"other"}
    for path in sorted(ENGLISH.glob("*.yaml")):
        translated = read(TEXTS_DIR / language / path.name)
        for key, english in read(path).items():
            if isinstance(english, dict):
                value = translated[key]
                assert isinstance(value, dict) and value["count"] == english["count"], f"{language}: {key}"
                assert set(value) - {"count"} == forms, f"{language}: {key}"


def test_russian_plurals_and_dates_follow_russian() -> None:
    texts = Texts.load(TEXTS_DIR)
    assert [texts.label("consent_messages", "ru", steps=n) for n in (1, 3, 6, 21)] == [
        "1 короткое сообщение", "3 коротких сообщения", "6 коротких сообщений", "21 короткое сообщение",
    ]
    assert [texts.label("consent_duration", "ru", weeks=n) for n in (1, 2, 6)] == [
        "примерно за 1 неделю", "примерно за 2 недели", "примерно за 6 недель",
    ]
    assert texts.raw("date_locale", "ru") == "ru"


def test_every_safety_text_exists_in_russian_and_passes_the_russian_check() -> None:
    texts = Texts.load(TEXTS_DIR)
    assert texts.safety_problems() == []
    for key in SAFETY_TEXT_KEYS:
        assert texts.has(key, "ru"), key
        russian = texts.raw(key, "ru")
        assert warning_text_problems(russian, "ru") == [], key
        assert "{clinic_phone}" in russian and "скорую помощь" in russian, key


def test_the_shipped_plans_are_in_russian_and_pass_the_checks() -> None:
    assert check_plans(PLANS_DIR) == []
    for plan in load_plans(PLANS_DIR).values():
        assert "ru" in plan.title
        for step in plan.steps:
            russian = step.texts.get("ru")
            assert russian, f"{plan.treatment}/{step.key} has no Russian text"
            assert shape(russian) == shape(step.texts["en"]), f"{plan.treatment}/{step.key}"
            if step.title:
                assert "ru" in step.title, f"{plan.treatment}/{step.key} has no Russian title"
            if step.warning_signs:
                assert warning_text_problems(russian, "ru") == [], f"{plan.treatment}/{step.key}"
                assert "{clinic_phone}" in russian and "скорую помощь" in russian
