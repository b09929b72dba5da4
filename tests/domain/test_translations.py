"""The shipped translations: every language's text files match the English ones key for key, and the Spanish texts
and plan pass the clinical safety check."""

from __future__ import annotations

import re
from datetime import datetime
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
TRANSLATIONS = sorted(path.name for path in TEXTS_DIR.iterdir() if path.is_dir() and path.name != "en")
SHIPPED = Texts.load(TEXTS_DIR)
TAG = re.compile(r"</?([a-z][a-z-]*)")


def read(path: Path) -> dict[str, str | dict[str, str]]:
    # BaseLoader reads every value as the text it is, as the texts catalog does ("no" stays "no").
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader) or {}


def forms(value: str | dict[str, str]) -> dict[str, str]:
    """A text's templates by plural form; a text without forms has one, named ""."""
    if isinstance(value, dict):
        return {form: template for form, template in value.items() if form != "count"}
    return {"": value}


def tags(template: str) -> list[str]:
    return sorted(TAG.findall(template))


def test_russian_and_spanish_are_shipped() -> None:
    assert {"es", "ru"} <= set(TRANSLATIONS)


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_a_translation_has_the_english_files_keys_placeholders_tags_and_plural_forms(language: str) -> None:
    english_files = sorted(path.name for path in (TEXTS_DIR / "en").glob("*.yaml"))
    assert sorted(path.name for path in (TEXTS_DIR / language).glob("*.yaml")) == english_files
    categories = set(cldr.locale(language).plural_form.tags) | {"other"}
    for name in english_files:
        english, translated = read(TEXTS_DIR / "en" / name), read(TEXTS_DIR / language / name)
        assert translated.keys() == english.keys(), f"{language}/{name}: keys differ from en/{name}"
        for key, value in english.items():
            where = f"{language}/{name}: {key}"
            theirs = translated[key]
            assert isinstance(theirs, dict) == isinstance(value, dict), f"{where}: plural in one language only"
            if isinstance(value, dict):
                assert isinstance(theirs, dict) and theirs.get("count") == value["count"], where
                assert set(forms(theirs)) == categories, f"{where}: needs exactly the forms {sorted(categories)}"
            wanted = {name for template in forms(value).values() for name in placeholders(template)}
            english_tags = tags(next(iter(forms(value).values())))
            for form, template in forms(theirs).items():
                shown = f"{where} ({form})" if form else where
                assert set(placeholders(template)) == wanted, f"{shown}: placeholders differ from en"
                assert tags(template) == english_tags, f"{shown}: HTML tags differ from en"


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_a_translation_loads_without_problems_and_has_every_safety_text(language: str) -> None:
    assert [found for found in SHIPPED.check() if f"texts/{language}/" in found.file] == []
    for key in SAFETY_TEXT_KEYS:
        assert SHIPPED.has(key, language), f"{language} has no {key}: its clients would get it in English"


# --- Spanish ---------------------------------------------------------------------------------------------------


def test_spanish_safety_texts_give_the_clinic_phone_and_say_to_call_emergency_services() -> None:
    for key in SAFETY_TEXT_KEYS:
        template = SHIPPED.raw(key, "es")
        assert warning_text_problems(template, "es") == [], key
        assert "{clinic_phone}" in template and "llama a emergencias" in template, key


def test_a_spanish_client_reads_spanish_with_spanish_plurals_and_dates() -> None:
    shown = SHIPPED.label("help", "es-MX", clinic_name="Glow", clinic_phone="+52 55 1234 5678")
    assert shown.startswith("Este bot envía consejos de cuidado de Glow")
    assert "Para llamar a la clínica: +52 55 1234 5678" in shown
    messages = [SHIPPED.label("consent_messages", "es", steps=n) for n in (1, 6, 1_000_000)]
    assert messages == ["1 mensaje breve", "6 mensajes breves", "1.000.000 de mensajes breves"]
    weeks = [SHIPPED.label("consent_duration", "es", weeks=n) for n in (1, 6)]
    assert weeks == ["aproximadamente 1 semana", "unas 6 semanas"]
    assert SHIPPED.raw("date_locale", "es") == "es"
    assert cldr.date_time(datetime(2026, 11, 5, 14, 30), SHIPPED.raw("date_locale", "es")) == "5 nov 2026, 14:30"


def test_the_plan_has_spanish_for_its_title_and_every_step_and_passes_the_safety_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert check_plans(PLANS_DIR) == []
    plan = load_plans(PLANS_DIR)["microneedling"]
    assert plan.title["es"] == "Microneedling"
    warning_steps = [step for step in plan.steps if step.warning_signs]
    assert warning_steps
    for step in plan.steps:
        spanish = step.texts["es"]
        assert set(placeholders(spanish)) == set(placeholders(step.texts["en"])), step.key
        assert tags(spanish) == tags(step.texts["en"]), step.key
    for step in warning_steps:
        assert warning_text_problems(step.texts["es"], "es") == [], step.key
        # The advice is what passes the check: without it the same text is refused.
        without = step.texts["es"].replace("llama a emergencias", "escríbenos").replace(
            "<b>Llama a emergencias</b>", "<b>Escríbenos</b>"
        )
        assert [found.key for found in warning_text_problems(without, "es")] == ["problem_safety_no_urgent_care"]


@pytest.mark.parametrize(
    "advice",
    [
        "Si te cuesta respirar, llama al 112.",
        "Si te cuesta respirar, llama de inmediato al 911.",
        "Si te cuesta respirar, llamá al 911.",
        "Si te cuesta respirar, marca ya el 112.",
        "Si te cuesta respirar, llama a los servicios de emergencia.",
        "Si te cuesta respirar, acude a urgencias.",
    ],
)
def test_spanish_urgent_care_advice_as_spain_and_latin_america_write_it(advice: str) -> None:
    assert warning_text_problems(f"Llámanos al {{clinic_phone}}. {advice}", "es") == []


@pytest.mark.parametrize(
    "not_advice", ["La sesión cuesta 112 euros.", "Te llamamos en 911 segundos.", "En caso de emergencia, escríbenos."]
)
def test_a_spanish_number_or_word_that_gives_no_advice_is_refused(not_advice: str) -> None:
    found = warning_text_problems(f"Llámanos al {{clinic_phone}}. {not_advice}", "es")
    assert [each.key for each in found] == ["problem_safety_no_urgent_care"]
