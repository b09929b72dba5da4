"""Triage in Spanish: negation and time as Spanish speakers write them, fast typing, ¿ and ¡, greetings."""

from __future__ import annotations

import pytest

from aftercare_bot.triage.classify import TriageLevel, TriageResult, TriageRules, triage
from aftercare_bot.triage.rules import tokenise
from tests.support.paths import ROOT

URGENT, CONCERN, ROUTINE = TriageLevel.URGENT, TriageLevel.CONCERN, TriageLevel.ROUTINE


@pytest.fixture(scope="module")
def rules() -> TriageRules:
    return TriageRules.load(ROOT / "messages" / "triage")


def run(rules: TriageRules, text: str, day: int | None = 2) -> TriageResult:
    return triage(rules, text, language="es", day_since_session=day)


@pytest.mark.parametrize(
    "text",
    [
        "no tengo fiebre",
        "sin pus",
        "ni fiebre ni pus",
        "nada de dolor",
        "ya no sangra",
        "ya se me pasó la hinchazón",
        "la hinchazón se me pasó",
        "se fue la rojez",
        "desapareció la rojez",
        "dejó de sangrar enseguida",
        "no he vuelto a tener fiebre",
        "tampoco tengo fiebre",
        "cero dolor",
        "No se me hinchó nada",
    ],
)
def test_spanish_negation_cancels_the_sign(rules: TriageRules, text: str) -> None:
    assert run(rules, text).level is not URGENT, run(rules, text)


@pytest.mark.parametrize(
    "text",
    [
        "no para de sangrar",
        "no deja de sangrar",
        "no se me baja la hinchazón de los labios",
        "sangra sin parar",
        "no tengo fiebre pero me sale pus",
        "no sé si es normal pero me salieron ampollas",
        "no creo que esté infectado, pero sale un poco de pus",
        "ni siquiera el ibuprofeno me quita el dolor",
        "el ibuprofeno no me hace nada",
        "no puedo respirar bien",
        "no puedo abrir los ojos",
        "No sigue sangrando",
    ],
)
def test_spanish_negation_does_not_hide_a_sign(rules: TriageRules, text: str) -> None:
    assert run(rules, text).level is URGENT, run(rules, text)


@pytest.mark.parametrize(
    "text",
    [
        "ayer tuve fiebre pero ya estoy bien",
        "a mi amiga le salió herpes después de su sesión",
        "mi hermana tuvo una infección con otro tratamiento",
        "sangró un poquito el primer día y ya nada",
        "pensé que era pus pero era la crema, falsa alarma",
    ],
)
def test_spanish_past_or_someone_elses_sign_is_not_urgent(rules: TriageRules, text: str) -> None:
    assert run(rules, text, 3).level is not URGENT, run(rules, text, 3)


@pytest.mark.parametrize(
    "text",
    [
        "ayer tuve fiebre y hoy sigo con fiebre",
        "ayer tuve fiebre y todavía la tengo",
        "paró de sangrar pero esta mañana empezó otra vez",
        "de nuevo me salió herpes",
        "mi madre se hizo el tratamiento ayer y dice que tiene la cara muy hinchada",
        "mi marido dice que tengo los labios hinchados",
    ],
)
def test_spanish_present_or_returning_sign_stays_urgent(rules: TriageRules, text: str) -> None:
    assert run(rules, text, 3).level is URGENT, run(rules, text, 3)


@pytest.mark.parametrize(
    "text",
    [
        "HINCHAZÓN en los labios",
        "inchazon en los labios",
        "ichazon en los labios",
        "tengo fievre",
        "puss en la barbilla",
        "sanrgando mucho",
        "xq me sangra todavia?",
        "tb me salio pus q hago",
        "parezco un pez globo",
        "re hinchada la cara",
        "me cuesta respirar",
        "se me cierra la garganta",
        "estoy vomitando",
        "¿voy a urgencias?",
        "algo va mal",
        "tengo miedo",
        "duele muchísimo",
        "🤒",
    ],
)
def test_spanish_fast_typing_slang_and_missing_accents_are_understood(rules: TriageRules, text: str) -> None:
    assert run(rules, text, 1).level is URGENT, run(rules, text, 1)


@pytest.mark.parametrize(
    "text",
    ["gracias", "¡Mil gracias!", "todo bien", "genial", "👍", "vale", "ok", "mucho mejor", "perfecto 👌",
     "sin novedades", "jajaja gracias", "nada fuera de lo normal"],
)
def test_spanish_everyday_replies_are_routine(rules: TriageRules, text: str) -> None:
    assert run(rules, text).level is ROUTINE, run(rules, text)


def test_opening_question_and_exclamation_marks_end_a_sentence(rules: TriageRules) -> None:
    assert tokenise("no sé ¿tengo fiebre?") == ["no", "se", "¿", "tengo", "fiebre", "?"]
    # Without the break, "no" would reach the fever and cancel it.
    assert run(rules, "no sé ¿tengo fiebre?").level is URGENT
    assert run(rules, "nose ¿será herpes?").level is URGENT
    assert run(rules, "¡gracias!").level is ROUTINE
    result = run(rules, "hola ¿puedo maquillarme")
    assert result.level is CONCERN and result.is_question


def test_a_greeting_asked_is_a_courtesy_not_a_question(rules: TriageRules) -> None:
    assert run(rules, "Hola, ¿qué tal? Yo muy bien 😊").level is ROUTINE
    assert run(rules, "¿Cómo estáis? Todo bien por aquí").level is ROUTINE
    # Anything else asked still reaches staff, and so does someone waiting for an answer.
    for text in ("hola ¿qué tal? ¿puedo ir a la piscina?", "hola?", "¿qué tal se ve?"):
        result = run(rules, text)
        assert result.level is CONCERN and (result.is_question or result.ask_back), (text, result)
    # English has no such courtesy listed: a question mark is still a question there.
    assert triage(rules, "all good?", language="en", day_since_session=2).level is CONCERN


def test_staff_read_spanish_labels_and_the_ask_back_is_in_spanish(rules: TriageRules) -> None:
    result = run(rules, "gracias, pero sigue sangrando", 0)
    assert result.reasons[0].startswith("señal de alarma: sangrado")
    assert "bleeding" in result.rule_ids and "acknowledgement" in result.rule_ids
    ask = rules.for_language("es-MX").ask_back
    assert ask is not None and ask.option("none") is not None
    english = rules.for_language("en").ask_back
    assert english is not None
    assert [o.id for o in ask.options] == [o.id for o in english.options]
    assert "¿" in ask.question


def test_spanish_harmless_replies_are_asked_back_or_carded_only_when_something_is_said(rules: TriageRules) -> None:
    result = run(rules, "me pica un montón", 3)
    assert result.level is CONCERN and result.ask_back
    result = run(rules, "¿cuánto cuesta la siguiente sesión?", 14)
    assert result.level is CONCERN and result.is_question and not result.ask_back
