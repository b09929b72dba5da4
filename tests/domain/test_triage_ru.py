"""Russian triage (messages/triage/ru.yaml): negation in Russian word order, Latin-typed Russian, spelling,
time and person, and what the Russian file shares with the English one. The labelled corpus is run by
test_triage.py."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aftercare_bot.triage.classify import TriageLevel, TriageResult, TriageRules, triage
from tests.support.paths import ROOT

URGENT, CONCERN, ROUTINE = TriageLevel.URGENT, TriageLevel.CONCERN, TriageLevel.ROUTINE


@pytest.fixture(scope="module")
def rules() -> TriageRules:
    return TriageRules.load(ROOT / "messages" / "triage")


def run(rules: TriageRules, text: str, day: int | None = 1) -> TriageResult:
    return triage(rules, text, language="ru", day_since_session=day)


def level(rules: TriageRules, text: str, day: int | None = 1) -> TriageLevel:
    return run(rules, text, day).level


# --- negation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "не кровит",
        "крови нет",
        "кровь не идёт",
        "кровь остановилась",
        "перестало кровить",
        "кровить перестало",
        "без температуры",
        "температуры нет",
        "нет ни температуры, ни гноя",
        "отёк спал",
        "отёк прошёл",
        "уже не болит",
        "больше не кровит",
        "отёка больше нет",
        "гноя нет",
        "никаких волдырей",
        "ничего не болит, ничего не чешется",
        "температура нормальная",
        "ничего страшного",
        "не страшно",
        "помощь не нужна",
        "не чувствую никакой боли",
    ],
)
def test_negated_warning_signs_are_not_urgent(rules: TriageRules, text: str) -> None:
    assert level(rules, text) is not URGENT, run(rules, text)


@pytest.mark.parametrize(
    "text",
    [
        "кровь не останавливается",
        "не перестаёт кровить",
        "отёк не спадает",
        "не проходит отёк губ",
        "отёк так и не спал",
        "обезболивающее не помогает",
        "температуры нет, но гной есть",
        "без температуры, но гноится",
        "не болит, но гноится",
        "уже не кровит, зато пошли пузыри",
        "нет, не нормально, кровь идёт",
        "не знаю, нормально ли, но глаза заплыли",
        "не уверена, но кажется это гной",
        "не хочу паниковать, но кажется инфекция",
        "не могу дышать",
        "не чувствую щёку",
        "чуть сознание не потеряла",
        "ни черта не помогает обезболивающее",
        "Это не заражение?",
    ],
)
def test_negation_does_not_hide_a_warning_sign(rules: TriageRules, text: str) -> None:
    assert level(rules, text) is URGENT, run(rules, text)


def test_negated_acknowledgement_is_a_concern(rules: TriageRules) -> None:
    assert level(rules, "всё хорошо") is ROUTINE
    assert level(rules, "не хорошо") is CONCERN
    assert level(rules, "нехорошо") is CONCERN
    assert level(rules, "ненормально как-то") is CONCERN
    assert level(rules, "не очень") is CONCERN
    assert level(rules, "без проблем") is ROUTINE


# --- spelling, ё and й, slang, Latin letters ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "same_as"),
    [("отёк губ", "отек губ"), ("гной", "гнои"), ("щёки как у хомяка", "щеки как у хомяка"), ("ЗНОБИТ", "знобит")],
)
def test_yo_and_short_i_are_read_as_ye_and_i(rules: TriageRules, written: str, same_as: str) -> None:
    assert level(rules, written) is level(rules, same_as) is URGENT


@pytest.mark.parametrize(
    "text",
    [
        "кравит",
        "крофь идет",
        "тимпература поднялась",
        "апухли глаза",
        "тяжило дышать",
        "инфекцыя",
        "гнойиться",
        "кроооовь идет",
        "ГНОЙ!!!",
        "🩸",
        "🤒",
        "раздуло всё лицо",
        "губы как вареники",
        "знобит",
        "морозит весь вечер",
        "обметало губы",
        "простуда на губе выскочила",
        "глаза заплыли",
        "горло сжимает",
        "меня вырвало",
        "что-то не так, мне страшно",
        "чтото не так с лицом",
        "вызывать скорую?",
        "ехать в травмпункт?",
        "помогите!!!",
    ],
)
def test_misspellings_slang_and_emoji_are_understood(rules: TriageRules, text: str) -> None:
    assert level(rules, text) is URGENT, run(rules, text)


@pytest.mark.parametrize(
    "text",
    [
        "opuhlo lico",
        "krov idet",
        "krov' ne ostanavlivaetsya",
        "gnoi",
        "gnoj na shcheke",
        "gnoitsya",
        "temperatura 38.5",
        "ne mogu dyshat",
        "tyazhelo dyshat",
        "znobit",
        "glaza zaplyli",
        "gubi opuhli",
        "toshnit i kruzhitsya golova",
        "pokrasnenie polzet na sheyu",
        "chto-to ne tak, mne strashno",
        "vyzyvat skoruyu?",
    ],
)
def test_latin_typed_russian_is_understood(rules: TriageRules, text: str) -> None:
    result = run(rules, text)
    assert result.level is URGENT, result
    words = re.findall(r"\w+", text.replace("'", ""))
    assert any(f"'{word}" in result.reasons[0] for word in words), "staff read the client's own words"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("spasibo", ROUTINE),
        ("vse horosho", ROUTINE),
        ("ok", ROUTINE),
        ("ne bolit, vse horosho", ROUTINE),
        ("temperatury net", ROUTINE),
        ("kogda mozhno krasitsya?", CONCERN),
        ("nemnogo bolit", CONCERN),
    ],
)
def test_latin_typed_everyday_replies(rules: TriageRules, text: str, expected: TriageLevel) -> None:
    assert level(rules, text, 2) is expected


def test_english_words_are_not_read_as_russian_for_a_language_without_rules(rules: TriageRules) -> None:
    # Read as Russian, "temperature" is "температуре"; a client of a language with no file is not Russian.
    # (Other languages' rules may still read it as a fever: for a language with no file every file is tried.)
    result = triage(rules, "haven't had any temperature", language="de", day_since_session=2)
    russian_label = rules.by_language["ru"].labels[URGENT]
    assert not any(reason.startswith(russian_label) for reason in result.reasons), result
    assert triage(rules, "temperatura 38", language="ru", day_since_session=2).level is URGENT


@pytest.mark.parametrize(
    "text",
    [
        "Заранее спасибо!",
        "после инъекций всё хорошо",
        "горячо рекомендую",
        "спасибо за помощь",
        "полоса препятствий позади, всё ок",
        "я на солнце не выхожу",
        "купили новую кровать",
        "в пятницу приду",
        "считаю дни до результата",
        "умываюсь с помощью пенки",
        "пока полёт нормальный",
        "честно, всё отлично",
    ],
)
def test_everyday_words_are_not_read_as_warning_signs(rules: TriageRules, text: str) -> None:
    assert level(rules, text, 3) is not URGENT, run(rules, text, 3)


@pytest.mark.parametrize(
    "text",
    ["спасибо", "спс", "ок", "окей", "норм", "всё хорошо", "уже лучше", "👍", "👍🏻", "🙏", "❤️", "понятно, спасибо",
     "да", "СПАСИБОООО", "Доброе утро! Всё хорошо"],
)
def test_acknowledgements_are_routine(rules: TriageRules, text: str) -> None:
    assert level(rules, text, 2) is ROUTINE


# --- days, questions --------------------------------------------------------------------------------------


def test_redness_is_expected_early_and_a_concern_later(rules: TriageRules) -> None:
    text = "немного красное, как вы и говорили"
    assert [level(rules, text, day) for day in (0, 1, 2, 3, 5)] == [ROUTINE, ROUTINE, ROUTINE, CONCERN, CONCERN]
    assert level(rules, "краснее чем утром", 1) is CONCERN
    assert level(rules, "краснее чем утром", 4) is URGENT
    assert level(rules, "немного красная", None) is CONCERN


def test_booking_and_product_questions_are_questions_not_clinical(rules: TriageRules) -> None:
    for text in ("вы работаете в воскресенье?", "сколько стоит курс из трёх процедур", "когда можно краситься"):
        result = run(rules, text, 2)
        assert result.level is CONCERN and result.is_question and not result.ask_back, (text, result)
    result = run(rules, "немного шелушится", 4)
    assert result.level is CONCERN and result.ask_back and not result.is_question
    assert level(rules, "всё отлично, даже лучше, чем ожидала", 5) is ROUTINE  # "чем" is no question here


# --- time and person --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "было вчера немного крови, сейчас всё ок",
        "вчера немного кровило, сегодня всё в порядке",
        "в первые дни немного кровило, больше нет",
        "вчера ночью знобило, сейчас всё прошло",
        "в первый день была температура 37, сейчас всё нормально",
        "переживала из-за отёка, но он уже прошёл",
        "думала, что гной, но оказалось просто корочка",
        "у подруги после такой процедуры было воспаление, а у меня всё хорошо",
        "у мамы была аллергия на этот крем, у меня всё нормально",
        "у подруги был герпес после процедуры, у меня нет",
    ],
)
def test_past_resolved_or_someone_elses_symptoms_are_not_urgent(rules: TriageRules, text: str) -> None:
    assert level(rules, text, 3) is not URGENT, run(rules, text, 3)


@pytest.mark.parametrize(
    "text",
    [
        "вчера остановилось, а сегодня снова кровит",
        "кровь вроде остановилась, но сейчас опять пошла",
        "вчера была температура и сегодня опять 38",
        "до сих пор знобит",
        "отекло вчера и до сих пор не спадает",
        "у подруги тоже было, но у меня сейчас гноится",
        "муж говорит, что у меня губы опухли",
        "отек спал, но сегодня опять раздуло",
    ],
)
def test_symptoms_still_present_stay_urgent(rules: TriageRules, text: str) -> None:
    assert level(rules, text, 3) is URGENT, run(rules, text, 3)


# --- what the Russian file shares with the English one ----------------------------------------------------


def test_rule_ids_and_levels_match_the_english_file(rules: TriageRules) -> None:
    english = {rule.id: rule.level for rule in rules.by_language["en"].rules}
    russian = {rule.id: rule.level for rule in rules.by_language["ru"].rules}
    assert set(english) <= set(russian), sorted(set(english) - set(russian))
    assert {rule_id: russian[rule_id] for rule_id in english} == english


def test_the_ask_back_has_the_english_options_in_russian(rules: TriageRules) -> None:
    english, russian = rules.by_language["en"].ask_back, rules.by_language["ru"].ask_back
    assert english is not None and russian is not None
    assert [o.id for o in russian.options] == [o.id for o in english.options]
    assert all(any("а" <= ch <= "я" for ch in o.label.casefold()) for o in russian.options)
    assert "?" in russian.question and "{option}" in russian.reason and "{option}" in russian.none_reason


def test_reasons_are_in_russian_and_name_the_clients_words(rules: TriageRules) -> None:
    result = run(rules, "спасибо! но кровь всё ещё идёт", 0)
    assert result.level is URGENT and result.reasons[0].startswith("тревожный признак: ")
    assert "'кровь' + 'идет'" in " ".join(result.reasons)
    assert "acknowledgement" in result.rule_ids


# --- properties -------------------------------------------------------------------------------------------

RED_FLAGS = ["кровь не останавливается", "гной", "температура 38", "губы опухли", "не могу дышать", "krov idet",
             "opuhlo lico", "сыпь по всему лицу", "невыносимая боль", "🩸"]


@settings(max_examples=100, deadline=None)
@given(text=st.text(), flag=st.sampled_from(RED_FLAGS), day=st.one_of(st.none(), st.integers(0, 60)))
def test_a_red_flag_after_any_text_is_urgent(rules: TriageRules, text: str, flag: str, day: int | None) -> None:
    assert level(rules, f"{text}\n{flag}", day) is URGENT
    assert level(rules, f"{flag}\n{text}", day) is URGENT


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=st.characters(max_codepoint=0x7F)) | st.text())
def test_any_text_gets_a_level(rules: TriageRules, text: str) -> None:
    result = run(rules, text, None)
    assert isinstance(result.level, TriageLevel) and result.reasons
