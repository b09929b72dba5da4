"""Choosing a client's language, the staff language setting, and what an admin types in the staff language."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aftercare_bot.config import Settings, describe_errors
from aftercare_bot.plans.changes import apply_change, copy_plan
from aftercare_bot.plans.clinical_safety import warning_text_problems
from aftercare_bot.texts.languages import base_code, client_language, native_name, offered

OFFERED = ("en", "ru", "es", "pt-br")


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, telegram_bot_token="1:abc", clinic_phone="123", admin_ids="1",  # type: ignore[call-arg]
                    **values)


def test_telegram_codes_are_reduced_to_a_language_the_clinic_offers() -> None:
    assert [base_code(code) for code in ("ru-RU", "es_419", "EN", None)] == ["ru", "es", "en", ""]
    assert offered("ru-RU", OFFERED) == "ru" and offered("ES", OFFERED) == "es"
    assert offered("pt-BR", OFFERED) == "pt-br", "a regional variant the clinic has is kept"
    assert offered("de-AT", OFFERED) is None and offered("", OFFERED) is None and offered(None, OFFERED) is None


def test_a_clients_language_is_the_enrolment_choice_else_telegram_else_the_default() -> None:
    assert client_language("es", "ru-RU", OFFERED, "en") == "es"
    assert client_language(None, "ru-RU", OFFERED, "en") == "ru"
    assert client_language(None, "ja", OFFERED, "es") == "es"
    assert client_language(None, None, OFFERED, "en") == "en"


def test_languages_are_named_in_themselves() -> None:
    assert [native_name(code) for code in ("en", "ru", "es")] == ["English", "Русский", "Español"]
    assert native_name("qq") == "qq"


def test_staff_language_defaults_to_the_default_language_and_is_checked() -> None:
    assert settings().staff_language == "en"
    assert settings(default_language="ES").staff_language == "es"
    assert settings(default_language="es", staff_language="RU").staff_language == "ru"
    assert settings(default_language="ru", staff_language=" ").staff_language == "ru", "blank: not set"
    with pytest.raises(ValidationError) as caught:
        settings(staff_language="Russian!")
    assert "STAFF_LANGUAGE: 'Russian!' is not a language code" in describe_errors(caught.value)


def test_russian_warning_texts_need_the_clinic_phone_and_the_urgent_care_advice() -> None:
    assert warning_text_problems("Звоните {clinic_phone}. Если трудно дышать, вызовите скорую помощь.", "ru") == []
    assert warning_text_problems("Звоните {clinic_phone}. Если трудно дышать, позвоните 112.", "ru") == []
    missing = warning_text_problems("Звоните {clinic_phone}. Или 112 минут подождите.", "ru")
    assert [found.key for found in missing] == ["problem_safety_no_urgent_care"]


PLAN = {
    "treatment": "peel",
    "title": {"en": "Peel", "ru": "Пилинг"},
    "steps": [{"key": "day1", "due": "1d", "grace": "8h", "checkin": False, "enabled": True,
               "text": {"en": "Hello", "ru": "Привет"}}],
}


def test_a_new_step_typed_in_the_staff_language_stands_in_for_english_until_it_is_written() -> None:
    added = {"op": "add_step", "step": "day2", "due": "2d", "text": "Как вы?"}
    ru_step = apply_change(PLAN, {**added, "language": "ru"})["steps"][-1]
    assert ru_step["text"] == {"en": "Как вы?", "ru": "Как вы?"}
    en_step = apply_change(PLAN, {**added, "text": "How are you?", "language": "en"})["steps"][-1]
    assert en_step["text"] == {"en": "How are you?"}
    es_step = apply_change(PLAN, {**added, "language": "es"})["steps"][-1]
    assert es_step["text"] == {"en": "Как вы?"}, "no Spanish title yet: adding Spanish asks for it first"


def test_a_copied_plan_is_titled_in_the_staff_language() -> None:
    assert copy_plan(PLAN, "peel2", "Лёгкий пилинг", "ru")["title"] == {"en": "Лёгкий пилинг", "ru": "Лёгкий пилинг"}
    assert copy_plan(PLAN, "peel2", "Light peel")["title"] == {"en": "Light peel", "ru": "Пилинг"}
    assert copy_plan(PLAN, "peel2", "Peeling suave", "es")["title"]["es"] == "Peeling suave"
