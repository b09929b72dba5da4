"""The Russian texts and plan: Russian plurals and dates, and every warning-sign text passes the clinical
safety check in Russian. What every translation shares with English is checked in test_translations.py."""

from __future__ import annotations

import re
from collections import Counter

from aftercare_bot.plans.clinical_safety import SAFETY_TEXT_KEYS, warning_text_problems
from aftercare_bot.plans.model import check_plans, load_plans
from aftercare_bot.texts.catalog import Texts
from aftercare_bot.texts.rendering import placeholders
from tests.support.paths import ROOT

TEXTS_DIR = ROOT / "messages" / "texts"
PLANS_DIR = ROOT / "messages" / "plans"
_TAG = re.compile(r"</?([a-z][a-z-]*)")


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
