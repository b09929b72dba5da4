from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from textwrap import dedent
from zoneinfo import ZoneInfo

import pytest

from aftercare_bot.plans.clinical_safety import URGENT_CARE_ADVICE, warning_text_problems
from aftercare_bot.plans.model import (
    Plan,
    PlanError,
    PlanLoadError,
    Timing,
    check_plans,
    load_plans,
    parse_duration,
    parse_timing,
)
from aftercare_bot.texts.catalog import Texts
from aftercare_bot.texts.problem_reports import describe, plan_report
from aftercare_bot.texts.problems import InvalidValue, problem
from tests.support.paths import ROOT

SHIPPED_MESSAGES = ROOT / "messages"
SHIPPED_PLANS = SHIPPED_MESSAGES / "plans"
TEXTS = Texts.load(SHIPPED_MESSAGES / "texts")
LONDON = ZoneInfo("Europe/London")

# Every plan needs a step marked warning_signs: true, whose texts keep the clinic's phone and urgent-care advice.
VALID_PLAN = """\
treatment: peel
title:
  en: Chemical peel
steps:
  - key: evening
    due: 4h
    grace: 8h
    warning_signs: true
    text:
      en: |
        Hello {first_name},
        call <b>{clinic_phone}</b> if you notice bleeding.
        For difficulty breathing call emergency services.
  - key: next_day
    due: day 1 at 10:00
    grace: 6h
    checkin: true
    text:
      en: How are you?
"""


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Problem reports show paths relative to the working directory.
    monkeypatch.chdir(tmp_path)


def write_plan(tmp_path: Path, text: str, name: str = "peel.yaml") -> Path:
    plans_dir = tmp_path / "plans"
    plans_dir.mkdir(exist_ok=True)
    (plans_dir / name).write_text(dedent(text), encoding="utf-8")
    return plans_dir


def messages(errors: list[PlanError]) -> list[str]:
    """The problems as the command line shows them, worded by the shipped admin texts."""
    return [describe(error, TEXTS) for error in errors]


# --- durations and timings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("90m", timedelta(minutes=90)),
        ("3h", timedelta(hours=3)),
        ("1d 12h", timedelta(days=1, hours=12)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0h", "3 hours", "4H", "-1h", "1.5h", "h", "1y", "99999999w"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_parse_timing_offset_and_clock_time() -> None:
    assert parse_timing("4h") == Timing(offset=timedelta(hours=4))
    assert parse_timing("day 1 at 09:00") == Timing(day=1, at=time(9, 0))
    assert parse_timing("Day 0 at 7:30") == Timing(day=0, at=time(7, 30))
    assert parse_timing("day 42 at 10:00").describe() == "day 42 at 10:00"
    assert parse_timing("1d 12h").describe() == "1d 12h"


@pytest.mark.parametrize(
    "text", ["day 1 09:00", "day 1 at 25:00", "day 1 at 10:60", "day -1 at 10:00", "tomorrow", "day 1"]
)
def test_parse_timing_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timing(text)


def test_timing_needs_exactly_one_form() -> None:
    with pytest.raises(ValueError):
        Timing()
    with pytest.raises(ValueError):
        Timing(offset=timedelta(hours=1), day=1, at=time(9))
    with pytest.raises(ValueError):
        Timing(day=1)


def test_offset_is_an_exact_duration_across_the_clock_change() -> None:
    # 29 March 2025 15:00 GMT; clocks go forward on 30 March.
    session_at = datetime(2025, 3, 29, 15, 0, tzinfo=LONDON)
    assert parse_timing("1d").due_at(session_at, LONDON) == datetime(2025, 3, 30, 15, 0, tzinfo=UTC)


def test_day_and_time_follow_the_local_clock_across_the_march_change() -> None:
    session_at = datetime(2025, 3, 29, 15, 0, tzinfo=LONDON)  # GMT, UTC+0
    due = parse_timing("day 1 at 10:00").due_at(session_at, LONDON)
    assert due == datetime(2025, 3, 30, 9, 0, tzinfo=UTC)  # 10:00 BST
    assert due.tzinfo is UTC
    assert due.astimezone(LONDON).hour == 10
    before = parse_timing("day 0 at 10:00").due_at(session_at, LONDON)
    assert before == datetime(2025, 3, 29, 10, 0, tzinfo=UTC)  # the same day, still GMT


def test_clock_time_skipped_by_the_change_falls_an_hour_later() -> None:
    session_at = datetime(2025, 3, 29, 15, 0, tzinfo=LONDON)
    due = parse_timing("day 1 at 01:30").due_at(session_at, LONDON)
    assert due == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    assert due.astimezone(LONDON).strftime("%H:%M") == "02:30"


def test_day_zero_morning_for_an_afternoon_treatment_is_in_the_past() -> None:
    session_at = datetime(2025, 6, 10, 14, 0, tzinfo=LONDON)
    assert parse_timing("day 0 at 09:00").due_at(session_at, LONDON) < session_at


def test_day_counts_from_the_local_date_of_the_treatment() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    session_at = datetime(2025, 1, 1, 20, 0, tzinfo=UTC)  # already 2 January, 05:00 in Tokyo
    due = parse_timing("day 1 at 10:00").due_at(session_at, tokyo)
    assert due == datetime(2025, 1, 3, 1, 0, tzinfo=UTC)


def test_due_at_requires_an_aware_datetime() -> None:
    with pytest.raises(ValueError):
        parse_timing("4h").due_at(datetime(2025, 1, 1, 12, 0), LONDON)


# --- loading and checking plan files ---------------------------------------------------------------


def test_valid_plan_loads(tmp_path: Path) -> None:
    plans_dir = write_plan(tmp_path, VALID_PLAN)
    assert check_plans(plans_dir) == []
    plan = load_plans(plans_dir)["peel"]
    assert plan.title == {"en": "Chemical peel"}
    assert plan.languages == ("en",)
    evening, next_day = plan.steps
    assert evening.key == "evening"
    assert evening.due == Timing(offset=timedelta(hours=4))
    assert evening.grace == timedelta(hours=8)
    assert evening.texts["en"] == (
        "Hello {first_name},\ncall <b>{clinic_phone}</b> if you notice bleeding.\n"
        "For difficulty breathing call emergency services."
    )
    assert evening.checkin is False and evening.enabled is True and evening.warning_signs is True
    assert next_day.warning_signs is False
    assert evening.line == 5
    assert next_day.checkin is True
    assert next_day.due == Timing(day=1, at=time(10, 0))
    assert plan.step("next_day") is next_day


def test_step_text_falls_back_to_english(tmp_path: Path) -> None:
    step = load_plans(write_plan(tmp_path, VALID_PLAN))["peel"].step("next_day")
    assert step.text("de") == step.text("en") == step.text(None) == "How are you?"


def test_zero_offset_is_explained() -> None:
    with pytest.raises(InvalidValue) as raised:
        parse_timing("0h")
    assert raised.value.problem == problem("problem_duration_zero", text="0h")
    assert describe(raised.value.problem, TEXTS) == '"0h" is zero — the time must be longer than that'


def test_steps_may_be_listed_out_of_order(tmp_path: Path) -> None:
    text = VALID_PLAN.replace("due: 4h", "due: 3d")
    assert check_plans(write_plan(tmp_path, text)) == []


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    text = VALID_PLAN.replace("      en: How are you?", "      en: How are you: fine?")
    [error] = check_plans(write_plan(tmp_path, text))
    assert (error.file, error.line, error.key) == ("plans/peel.yaml", 19, "problem_yaml_invalid")
    assert describe(error, TEXTS).startswith("plans/peel.yaml:19: the file is not valid YAML")


def test_unknown_field_suggests_the_right_one(tmp_path: Path) -> None:
    text = VALID_PLAN.replace("grace: 6h", "grase: 6h")
    errors = messages(check_plans(write_plan(tmp_path, text)))
    assert "plans/peel.yaml:16: unknown setting 'grase' in step 'next_day' — did you mean 'grace'?" in errors
    assert "plans/peel.yaml:14: step 'next_day' has no 'grace:' — add it" in errors


def test_missing_top_level_field(tmp_path: Path) -> None:
    text = VALID_PLAN.replace("title:\n  en: Chemical peel\n", "")
    errors = messages(check_plans(write_plan(tmp_path, text)))
    assert "plans/peel.yaml:1: the plan has no 'title:' — add it" in errors


def test_duplicate_step_keys(tmp_path: Path) -> None:
    text = VALID_PLAN.replace("key: next_day", "key: evening")
    [error] = messages(check_plans(write_plan(tmp_path, text)))
    assert error.startswith("plans/peel.yaml:14: there are two steps called 'evening' (the other is on line 5)")


def test_duplicate_language_in_one_step(tmp_path: Path) -> None:
    text = VALID_PLAN + "      en: Again\n"
    [error] = messages(check_plans(write_plan(tmp_path, text)))
    assert error.startswith("plans/peel.yaml:20: ")
    assert "'en' is written twice (first on line 19)" in error


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("due: 4h", "due: 4 hours", "plans/peel.yaml:6: step 'evening', due: \"4 hours\" is not a valid time"),
        ("due: 4h", "due: day 1 at 9am", "plans/peel.yaml:6: step 'evening', due:"),
        ("grace: 8h", "grace: 0h", "plans/peel.yaml:7: step 'evening', grace: \"0h\" is zero"),
        ("checkin: true", "checkin: maybe", "plans/peel.yaml:17: step 'next_day', checkin must be true or false"),
        ("key: evening", "key: Evening Message", "plans/peel.yaml:5: the step key 'Evening Message' may only use"),
        ("treatment: peel", "treatment: peeling", "plans/peel.yaml:1: treatment is 'peeling' but the file is"),
    ],
)
def test_bad_values_are_reported_at_their_line(tmp_path: Path, old: str, new: str, expected: str) -> None:
    errors = messages(check_plans(write_plan(tmp_path, VALID_PLAN.replace(old, new))))
    assert any(error.startswith(expected) for error in errors), errors


def test_unknown_placeholder_names_file_and_line(tmp_path: Path) -> None:
    text = VALID_PLAN.replace("Hello {first_name}", "Hello {frist_name}")
    [error] = messages(check_plans(write_plan(tmp_path, text)))
    assert error.startswith(
        "plans/peel.yaml:11: step 'evening', text 'en': unknown placeholder {frist_name} — "
        "did you mean {first_name}?"
    )


def test_attribute_access_in_a_placeholder_is_rejected(tmp_path: Path) -> None:
    text = VALID_PLAN.replace("Hello {first_name},", "Hello {first_name.__class__},")
    [error] = messages(check_plans(write_plan(tmp_path, text)))
    assert error.startswith("plans/peel.yaml:11: step 'evening', text 'en': {first_name.__class__} is not allowed")


def test_broken_html_names_file_and_line(tmp_path: Path) -> None:
    text = VALID_PLAN.replace("call <b>{clinic_phone}</b>", "call <b>{clinic_phone}")
    [error] = messages(check_plans(write_plan(tmp_path, text)))
    assert error == (
        "plans/peel.yaml:12: step 'evening', text 'en': the tag <b> is never closed — add </b> after the bold words"
    )


def test_text_too_long_once_long_names_are_filled_in(tmp_path: Path) -> None:
    filler = "word " * 815  # about 4075 characters: fits alone, not with long names filled in
    text = VALID_PLAN.replace("en: How are you?", f"en: '{{first_name}} {{client_name}} {filler}'")
    [error] = messages(check_plans(write_plan(tmp_path, text)))
    assert error.startswith("plans/peel.yaml:19: step 'next_day', text 'en': the message is")
    assert "Telegram allows at most 4096" in error
    short = {"first_name": "Al", "client_name": "Al Bo"}
    assert check_plans(tmp_path / "plans", sample_values=short) == []


def test_step_languages_must_be_in_the_title_and_english_is_always_there(tmp_path: Path) -> None:
    text = VALID_PLAN.replace("  en: Chemical peel\n", "  en: Chemical peel\n  de: Chemisches Peeling\n")
    text = text.replace("      en: How are you?", "      en: How are you?\n      fr: Comment allez-vous ?")
    errors = messages(check_plans(write_plan(tmp_path, text)))
    assert not any("has no 'de' text" in e for e in errors), "a missing translation falls back to English"
    assert any(e.startswith("plans/peel.yaml:20: step 'next_day' has a 'fr' text but the plan title") for e in errors)

    text = VALID_PLAN.replace("  en: Chemical peel\n", "  en: Chemical peel\n  de: Chemisches Peeling\n")
    text = text.replace("      en: How are you?", "      de: Wie geht es Ihnen?")
    errors = messages(check_plans(write_plan(tmp_path, text)))
    assert errors == [
        "plans/peel.yaml:20: step 'next_day' has no 'en' text — add it; it is sent whenever a translation is missing"
    ]


def test_a_partial_translation_falls_back_to_english(tmp_path: Path) -> None:
    text = VALID_PLAN.replace("  en: Chemical peel\n", "  en: Chemical peel\n  de: Chemisches Peeling\n")
    text = text.replace("      en: How are you?", "      en: How are you?\n      de: Wie geht es Ihnen?")
    plan = load_plans(write_plan(tmp_path, text))["peel"]
    assert plan.languages == ("de", "en")
    assert plan.step("next_day").text("de") == "Wie geht es Ihnen?"
    assert plan.step("evening").text("de").startswith("Hello {first_name}")


def test_english_is_required(tmp_path: Path) -> None:
    text = VALID_PLAN.replace("  en: Chemical peel", "  de: Chemisches Peeling")
    errors = messages(check_plans(write_plan(tmp_path, text)))
    assert "plans/peel.yaml:3: the title needs an English version ('en:')" in errors


def test_folder_problems(tmp_path: Path) -> None:
    assert messages(check_plans(tmp_path / "missing")) == ["missing: the plans folder does not exist"]
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "peel.yml").write_text(VALID_PLAN, encoding="utf-8")
    assert messages(check_plans(tmp_path / "plans")) == [
        "plans: there are no plan files (*.yaml) in this folder",
        "plans/peel.yml: plan files must end in .yaml — rename it",
    ]


def test_load_plans_refuses_a_broken_plan(tmp_path: Path) -> None:
    plans_dir = write_plan(tmp_path, VALID_PLAN.replace("due: 4h", "due: soon"))
    with pytest.raises(PlanLoadError) as raised:
        load_plans(plans_dir)
    assert raised.value.errors[0].line == 6
    assert "plans/peel.yaml:6:" in str(raised.value)


def test_plan_report_words_each_problem_and_counts_them() -> None:
    errors = [
        PlanError("plans/a.yaml", 3, problem("problem_plan_file_empty")),
        PlanError("plans/a.yaml", 9, problem("problem_plan_field_missing", field="steps")),
    ]
    assert plan_report(errors, TEXTS) == (
        "plans/a.yaml:3: the file is empty — it needs treatment, title and steps\n"
        "plans/a.yaml:9: the plan has no 'steps:' — add it\n"
        "2 problems found — fix them and run the check again."
    )
    assert plan_report([], TEXTS) == "All plans are fine: no problems found."


def test_a_problem_the_texts_cannot_word_is_still_reported() -> None:
    # A clinic's texts folder from an older version may lack a wording: the shipped one is used, then the key.
    empty = Texts({"en": {}})
    assert describe(problem("problem_plan_file_empty"), empty).startswith("the file is empty")
    assert describe(problem("problem_no_such_wording", n=1), empty) == "problem_no_such_wording(n=1)"


# --- the shipped plan -----------------------------------------------------------------------------


def test_shipped_plan_has_no_problems() -> None:
    assert check_plans(SHIPPED_PLANS) == []


def test_shipped_microneedling_plan_steps() -> None:
    plan = load_plans(SHIPPED_PLANS)["microneedling"]
    timings = {step.key: (step.due.describe(), step.checkin) for step in plan.steps}
    assert timings == {
        "same_evening": ("4h", False),
        "day1_checkin": ("day 1 at 10:00", True),
        "day2_sun": ("day 2 at 10:00", False),
        "day3_warning_signs": ("day 3 at 10:00", False),
        "day7_checkin": ("day 7 at 10:00", True),
        "week6_results": ("day 42 at 10:00", False),
    }
    for step in plan.steps:
        assert len(step.texts["en"]) < 1000
        assert "{first_name}" in step.texts["en"]


def test_shipped_warning_sign_texts_say_how_to_get_help() -> None:
    plan = load_plans(SHIPPED_PLANS)["microneedling"]
    marked = {step.key for step in plan.steps if step.warning_signs}
    assert marked == {"same_evening", "day3_warning_signs", "day7_checkin"}
    for step in plan.steps:
        if "bleeding" in step.texts["en"]:
            assert step.key in marked, "every step naming warning signs is marked, so the checks hold it"
            assert "{clinic_phone}" in step.texts["en"] and "emergency services" in step.texts["en"]


# --- warning-sign steps ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("call <b>{clinic_phone}</b>", "call <b>us</b>", "problem_safety_no_clinic_phone"),
        ("call <b>{clinic_phone}</b>", "call <b>{{clinic_phone}}</b>", "problem_safety_no_clinic_phone"),
        ("call emergency services.", "call us.", "problem_safety_no_urgent_care"),
        ("call emergency services.", "call emergency help.", "problem_safety_no_urgent_care"),
    ],
)
def test_a_warning_sign_text_without_phone_or_advice_is_refused(
    tmp_path: Path, old: str, new: str, key: str
) -> None:
    [error] = check_plans(write_plan(tmp_path, VALID_PLAN.replace(old, new)))
    assert error.file == "plans/peel.yaml" and error.line == 11
    assert error.problem.values["step"] == "evening" and error.problem.values["problem"].key == key
    assert describe(error, TEXTS).startswith("plans/peel.yaml:11: step 'evening', text 'en': this message tells")


def test_the_advice_is_found_in_any_case_across_tags_and_line_breaks(tmp_path: Path) -> None:
    text = VALID_PLAN.replace("call emergency services.", "call <b>Emergency</b>\n        Services.")
    assert check_plans(write_plan(tmp_path, text)) == []
    assert check_plans(write_plan(tmp_path, VALID_PLAN.replace("emergency services", "999"))) == []


@pytest.mark.parametrize(
    ("language", "advice"),
    [
        ("fr", "Nous répondons sous 15 minutes."),
        ("fr", "Appelez-nous sous 15 minutes."),
        ("en", "Refunds of up to 999 pounds."),
        ("en", "Open daily, 112 Harley Street."),
        ("en", "We call back within 911 seconds."),
        ("de", "Der Termin kostet 112 Euro."),
        ("it", "Chiami entro 118 ore."),
        ("ru", "Процедура стоит 103 рубля."),
        ("ru", "Позвоните нам в течение 112 минут."),
        ("ru", "Перезвоним через 03 минуты."),
    ],
)
def test_an_emergency_number_that_is_only_a_number_is_not_advice(language: str, advice: str) -> None:
    found = warning_text_problems(f"Appelez {{clinic_phone}}. {advice}", language)
    assert [p.key for p in found] == ["problem_safety_no_urgent_care"]


@pytest.mark.parametrize(
    ("language", "advice"),
    [
        ("fr", "En cas d'urgence vitale, appelez le 15."),
        ("fr", "Composez immédiatement le 112."),
        ("en", "If you cannot breathe, call 999."),
        ("en", "In an emergency: 911."),
        ("en", "Dial 112 straight away."),
        ("de", "Bei Atemnot wählen Sie sofort die 112."),
        ("es", "Si le cuesta respirar, llame al 112."),
        ("it", "Se respira male, chiami il 118."),
        ("nl", "Bij benauwdheid: bel direct 112."),
        ("pt", "Se tiver falta de ar, ligue 112."),
        ("ru", "Если трудно дышать, звоните 112."),
        ("ru", "При отёке горла позвоните немедленно по номеру 103."),
        ("ru", "Если стало трудно дышать, вызовите скорую помощь."),
        *((language, example) for language, advice in URGENT_CARE_ADVICE.items() for example in advice.examples),
    ],
)
def test_an_emergency_number_after_a_word_that_calls_it_is_advice(language: str, advice: str) -> None:
    assert warning_text_problems(f"{{clinic_phone}} — {advice}", language) == []


def test_every_language_of_a_warning_sign_step_is_checked(tmp_path: Path) -> None:
    with_german = VALID_PLAN.replace("  en: Chemical peel\n", "  en: Chemical peel\n  de: Chemisches Peeling\n")
    german = "      de: Bei Blutungen rufen Sie {clinic_phone} an, bei Atemnot den Notruf 112.\n  - key: next_day"
    text = with_german.replace("  - key: next_day", german)
    assert check_plans(write_plan(tmp_path, text)) == []
    errors = messages(check_plans(write_plan(tmp_path, text.replace(" an, bei Atemnot den Notruf 112", " an"))))
    assert errors == [
        "plans/peel.yaml:15: step 'evening', text 'de': this message tells clients about warning signs, so it must"
        " always say when to seek urgent care — keep one of “notruf”, “notaufnahme”, “rettungsdienst”,"
        " “wählen Sie die 112” in it, for example “If you have difficulty"
        " breathing or swelling of the face or throat, call emergency services.”"
    ]


def test_a_warning_sign_text_in_a_language_the_bot_cannot_check_is_refused(tmp_path: Path) -> None:
    text = VALID_PLAN.replace("  en: Chemical peel\n", "  en: Chemical peel\n  fi: Kemiallinen kuorinta\n")
    text = text.replace("  - key: next_day", "      fi: Soita {clinic_phone} tai 112.\n  - key: next_day")
    [error] = messages(check_plans(write_plan(tmp_path, text)))
    assert "text 'fi': messages about warning signs can only be written in de, en, es" in error
    assert "leave “fi” out of this message, and clients with that language get its English text" in error


def test_the_warning_signs_setting_must_be_true_or_false(tmp_path: Path) -> None:
    text = VALID_PLAN.replace("warning_signs: true", "warning_signs: yes please")
    assert messages(check_plans(write_plan(tmp_path, text))) == [
        "plans/peel.yaml:8: step 'evening', warning_signs must be true or false"
    ], "the misspelt mark is reported once, not also as a plan without a warning-sign step"


def test_a_warning_sign_step_cannot_be_turned_off(tmp_path: Path) -> None:
    text = VALID_PLAN.replace("    warning_signs: true\n", "    warning_signs: true\n    enabled: false\n")
    plans_dir = write_plan(tmp_path, text)
    assert messages(check_plans(plans_dir)) == [
        "plans/peel.yaml:9: step 'evening' tells clients about warning signs (warning_signs: true), so it cannot be"
        " turned off — remove the line enabled: false; to change what it says, edit its text, keeping {clinic_phone}"
        " and the urgent-care advice"
    ]
    with pytest.raises(PlanLoadError):
        load_plans(plans_dir)
    # Any other step may be turned off.
    other_off = VALID_PLAN.replace("checkin: true", "checkin: true\n    enabled: false")
    assert check_plans(write_plan(tmp_path, other_off)) == []


def test_a_plan_needs_a_warning_sign_step(tmp_path: Path) -> None:
    plans_dir = write_plan(tmp_path, VALID_PLAN.replace("    warning_signs: true\n", ""))
    [error] = check_plans(plans_dir)
    assert (error.line, error.key) == (4, "problem_plan_no_warning_step")
    assert describe(error, TEXTS) == (
        "plans/peel.yaml:4: no step is marked warning_signs: true — every plan must tell clients the warning signs of"
        " infection or bleeding, how to reach the clinic and when to seek urgent care; add warning_signs: true to the"
        " step that does, with {clinic_phone} and the urgent-care advice in its text"
    )
    with pytest.raises(PlanLoadError):
        load_plans(plans_dir)
    # Marking a step that lacks the phone or the advice is no way out: its text is then held to the safety checks.
    marked = VALID_PLAN.replace("    warning_signs: true\n", "").replace(
        "    checkin: true\n", "    checkin: true\n    warning_signs: true\n"
    )
    assert [e.problem.values["problem"].key for e in check_plans(write_plan(tmp_path, marked))] == [
        "problem_safety_no_clinic_phone",
        "problem_safety_no_urgent_care",
    ]


def test_texts_are_checked_even_when_the_step_has_other_problems(tmp_path: Path) -> None:
    text = VALID_PLAN.replace("grace: 8h", "grace: soon").replace("{first_name}", "{first_nmae}")
    errors = messages(check_plans(write_plan(tmp_path, text)))
    assert any(error.startswith("plans/peel.yaml:7: step 'evening', grace:") for error in errors)
    assert any(
        error.startswith("plans/peel.yaml:11: step 'evening', text 'en': unknown placeholder") for error in errors
    )


def test_title_in_the_readers_language_else_the_clinics_else_english_else_the_key() -> None:
    plan = Plan("peel", {"en": "Chemical peel", "de": "Chemisches Peeling", "fr": "Peeling chimique"}, ())
    assert plan.title_for("fr", "de") == "Peeling chimique"
    assert plan.title_for("it", "de") == "Chemisches Peeling"
    assert plan.title_for(None, "de") == "Chemisches Peeling"
    assert plan.title_for("it", "es") == "Chemical peel"
    assert Plan("peel", {}, ()).title_for("it", "es") == "peel"
