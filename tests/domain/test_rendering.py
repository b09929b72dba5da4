from __future__ import annotations

import re
from pathlib import Path
from textwrap import dedent

import pytest

from aftercare_bot.plans.clinical_safety import SAFETY_TEXT_KEYS
from aftercare_bot.texts import telegram_html
from aftercare_bot.texts.catalog import Texts, TextsError
from aftercare_bot.texts.problem_reports import describe
from aftercare_bot.texts.problems import FileProblem, LineProblem, problem
from aftercare_bot.texts.rendering import (
    PLAN_PLACEHOLDERS,
    Html,
    TemplateError,
    placeholders,
    render,
    template_problems,
)
from tests.support.paths import ROOT

SHIPPED_TEXTS = Texts.load(ROOT / "messages" / "texts")


def template_errors(template: str, allowed: frozenset[str] | None) -> list[str]:
    """The problems as an admin reads them, worded by the shipped admin texts."""
    return [SHIPPED_TEXTS.describe(found) for found in template_problems(template, allowed)]


def test_plan_placeholders() -> None:
    assert {"first_name", "client_name", "clinic_name", "clinic_phone", "treatment", "day"} == PLAN_PLACEHOLDERS


def test_placeholders_in_order_of_first_use() -> None:
    assert placeholders("{b} {a} {b} {{not}} {c.d}") == ["b", "a", "c.d"]


def test_placeholders_rejects_unbalanced_braces() -> None:
    with pytest.raises(TemplateError):
        placeholders("Hello {first_name")


def test_known_placeholders_and_literal_braces_are_fine() -> None:
    assert template_errors("Hi {first_name}, call {clinic_phone} {{not a placeholder}}", PLAN_PLACEHOLDERS) == []


def test_misspelled_placeholder_suggests_closest_name() -> None:
    [found] = template_problems("Hello\n{frist_name}!", PLAN_PLACEHOLDERS)
    assert found.line == 2 and found.problem.key == "problem_template_unknown_placeholder_close"
    assert found.problem.values["close"] == "first_name"
    [error] = template_errors("Hello\n{frist_name}!", PLAN_PLACEHOLDERS)
    assert error.startswith("Line 2: unknown placeholder {frist_name} — did you mean {first_name}?")


def test_unknown_placeholder_without_close_match_lists_known_names() -> None:
    [error] = template_errors("{zzz}", PLAN_PLACEHOLDERS)
    assert "did you mean" not in error
    assert "{clinic_phone}" in error


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{first_name.__class__}", "without dots or brackets"),
        ("{first_name[0]}", "without dots or brackets"),
        ("{first_name!r}", "without the ! part"),
        ("{first_name:>10}", "without the : part"),
        ("{}", "is empty"),
        ("{0}", "not a placeholder name"),
        ("one {", "{{"),
        ("one }", "}}"),
        ("{first_name", "not closed"),
    ],
)
def test_unsafe_or_broken_placeholders_are_explained(template: str, expected: str) -> None:
    errors = template_errors(template, PLAN_PLACEHOLDERS)
    assert len(errors) == 1
    assert expected in errors[0]


def test_errors_name_the_line() -> None:
    errors = template_errors("fine\n{first_name}\nbroken }", PLAN_PLACEHOLDERS)
    assert errors[0].startswith("Line 3: ")


def test_any_plain_name_allowed_when_allowed_is_none() -> None:
    assert template_errors("{anything_goes}", None) == []
    assert template_errors("{a.b}", None) != []


def test_render_escapes_values() -> None:
    assert render("Hi <b>{first_name}</b>", {"first_name": "<b>Ann & Bo</b>"}) == (
        "Hi <b>&lt;b&gt;Ann &amp; Bo&lt;/b&gt;</b>"
    )


def test_render_keeps_literal_braces_and_does_not_reinterpret_values() -> None:
    assert render("{{x}} {a}", {"a": "{clinic_phone}"}) == "{x} {clinic_phone}"


def test_render_inserts_html_values_as_they_are() -> None:
    assert render("<i>{a}</i> {b}", {"a": Html("<b>x</b> &amp; y"), "b": "<b>"}) == "<i><b>x</b> &amp; y</i> &lt;b&gt;"


@pytest.mark.parametrize("template", ["{a.__class__}", "{a[0]}", "{a!r}", "{a:>10}", "{b}", "{a"])
def test_render_refuses_anything_but_known_plain_names(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, {"a": "value"})


# --- texts -------------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text), encoding="utf-8")


SAFE_TEXT = "Call {clinic_phone}; for difficulty breathing, call emergency services."


@pytest.fixture
def texts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # problem reports show paths relative to the working directory
    root = tmp_path / "texts"
    _write(root / "en" / "safety.yaml", "".join(f"{key}: '{SAFE_TEXT}'\n" for key in SAFETY_TEXT_KEYS))
    _write(
        root / "en" / "client.yaml",
        """\
        welcome: Hello <b>{name}</b>!
        only_english: English only
        aches_button: Aches &amp; pains
        """,
    )
    _write(root / "en" / "staff.yaml", "enrolled: '{client} was enrolled'\n")
    _write(root / "de" / "client.yaml", "welcome: Hallo <b>{name}</b>!\n")
    return root


def test_texts_get_renders_escaped_values(texts_dir: Path) -> None:
    texts = Texts.load(texts_dir)
    assert texts.get("welcome", "en", name="Ann & <Bo>") == "Hello <b>Ann &amp; &lt;Bo&gt;</b>!"
    assert texts.get("enrolled", "en", client="Ann", unused="ignored") == "Ann was enrolled"


def test_texts_fall_back_to_english(texts_dir: Path) -> None:
    texts = Texts.load(texts_dir)
    assert texts.get("welcome", "de", name="Ann") == "Hallo <b>Ann</b>!"
    assert texts.get("welcome", "de-AT", name="Ann") == "Hallo <b>Ann</b>!"
    assert texts.get("only_english", "de") == "English only"
    assert texts.get("only_english", None) == "English only"
    with pytest.raises(KeyError):
        texts.get("missing_everywhere", "de")


def test_texts_fall_back_to_the_clinic_language_then_english(texts_dir: Path) -> None:
    texts = Texts.load(texts_dir, "de")
    assert texts.get("welcome", "fr", name="Ann") == "Hallo <b>Ann</b>!"
    assert texts.get("welcome", None, name="Ann") == "Hallo <b>Ann</b>!"
    assert texts.get("only_english", "fr") == "English only"
    assert texts.get("welcome", "en", name="Ann") == "Hello <b>Ann</b>!"
    assert texts.check() == []  # every text must be in English, whatever the clinic's language


def test_texts_get_requires_every_placeholder(texts_dir: Path) -> None:
    with pytest.raises(TemplateError, match=r"client\.yaml:1"):
        Texts.load(texts_dir).get("welcome", "en")


def test_label_is_plain_text(texts_dir: Path) -> None:
    texts = Texts.load(texts_dir)
    assert texts.label("aches_button", "en") == "Aches & pains"
    assert texts.raw("aches_button", "en") == "Aches &amp; pains"


def test_texts_check_passes_for_valid_files(texts_dir: Path) -> None:
    assert Texts.load(texts_dir).check() == []


def test_duplicate_key_across_files_names_both(texts_dir: Path) -> None:
    _write(texts_dir / "en" / "zz_more.yaml", "other: x\nwelcome: again\n")
    with pytest.raises(TextsError) as raised:
        Texts.load(texts_dir)
    [found] = raised.value.problems
    assert describe(found, SHIPPED_TEXTS).startswith(
        "texts/en/zz_more.yaml:2: 'welcome' is also defined in texts/en/client.yaml:1"
    )


def test_duplicate_key_in_one_file(texts_dir: Path) -> None:
    _write(texts_dir / "en" / "zz_more.yaml", "other: x\nother: y\n")
    with pytest.raises(TextsError) as raised:
        Texts.load(texts_dir)
    [found] = raised.value.problems
    assert describe(found, SHIPPED_TEXTS) == (
        "texts/en/zz_more.yaml:2: a texts file: 'other' is written twice (first on line 1) — keep one"
    )


def test_yaml_syntax_error_names_file_and_line(texts_dir: Path) -> None:
    _write(texts_dir / "en" / "zz_more.yaml", "fine: ok\nbad: Call us: now\n")
    with pytest.raises(TextsError) as raised:
        Texts.load(texts_dir)
    [found] = raised.value.problems
    assert (found.file, found.line, found.key) == ("texts/en/zz_more.yaml", 2, "problem_yaml_invalid")
    assert describe(found, SHIPPED_TEXTS).startswith("texts/en/zz_more.yaml:2: the file is not valid YAML")


def test_texts_check_reports_html_and_placeholder_problems_with_lines(texts_dir: Path) -> None:
    _write(
        texts_dir / "en" / "zz_more.yaml",
        """\
        intro: |
          first line
          <b>never closed
        braces: 'one { two'
        """,
    )
    _write(texts_dir / "de" / "zz_more.yaml", "intro: Hallo {name}\nbraces: x\ngerman_only: nur\n")
    problems = [describe(found, SHIPPED_TEXTS) for found in Texts.load(texts_dir).check()]
    assert any(p.startswith("texts/en/zz_more.yaml:3: intro: the tag <b> is never closed") for p in problems)
    assert any(p.startswith("texts/en/zz_more.yaml:4: braces: a placeholder is opened with {") for p in problems)
    assert any(p.startswith("texts/de/zz_more.yaml:1: intro: it uses {name}, which the en version") for p in problems)
    assert any(p.startswith("texts/de/zz_more.yaml:3: german_only: there is no en version") for p in problems)
    assert len(problems) == 4


# --- problems worded by the texts ----------------------------------------------------------------------


def test_problems_given_as_values_are_worded_in_the_readers_language(texts_dir: Path) -> None:
    _write(texts_dir / "en" / "zz_more.yaml", 'refused: "Not saved:\\n{problems}"\nbad: "{what} is bad"\n')
    _write(texts_dir / "en" / "zz_problems.yaml", 'problem_at_line: "Line {line}: {problem}"\n')
    _write(texts_dir / "en" / "zz_list.yaml", 'problem_list_item: "- {problem}"\n')
    german = 'bad: "{what} ist schlecht"\nrefused: "Nicht gespeichert:\\n{problems}"\n'
    _write(texts_dir / "de" / "zz_more.yaml", german)
    texts = Texts.load(texts_dir)
    found = [problem("bad", what="<x>"), LineProblem(2, problem("bad", what="&"))]
    assert texts.get("refused", "en", problems=found) == "Not saved:\n- &lt;x&gt; is bad\n- Line 2: &amp; is bad"
    assert texts.get("refused", "de", problems=found[:1]) == "Nicht gespeichert:\n- &lt;x&gt; ist schlecht"
    assert texts.describe(found[1]) == "Line 2: & is bad"


def test_every_problem_key_in_the_code_has_an_english_wording() -> None:
    root = ROOT / "aftercare_bot"
    used = set()
    for path in root.rglob("*.py"):
        used |= set(re.findall(r'"(problem_[a-z_]*[a-z])"', path.read_text(encoding="utf-8")))
    # Keys put together from a name: what a tag encloses, hints for tags from web pages, hints for YAML.
    used |= {f"problem_html_words_{name}" for name in telegram_html._TAG_CONTENT.values()}
    used |= {f"problem_html_hint_{name}" for name in telegram_html._UNSUPPORTED_HINTS.values()}
    used |= {f"problem_yaml_hint_{name}" for name in ("tabs", "block", "one_document", "indentation")}
    missing = sorted(key for key in used if not SHIPPED_TEXTS.has(key, "en"))
    assert not missing, f"problem keys without a text in messages/texts/en: {missing}"


# --- clinical safety of the texts ------------------------------------------------------------------------


def test_a_missing_or_unsafe_safety_text_stops_loading_and_is_named(texts_dir: Path) -> None:
    _write(texts_dir / "de" / "safety.yaml", "esc_safety_urgent: Bitte rufen Sie uns an.\n")
    with pytest.raises(TextsError) as raised:
        Texts.load(texts_dir)
    problems = [describe(found, SHIPPED_TEXTS) for found in raised.value.problems]
    assert problems == [
        "texts/de/safety.yaml:1: esc_safety_urgent: this message tells clients about warning signs, so it must always"
        " say how to reach the clinic — keep {clinic_phone} in it",
        "texts/de/safety.yaml:1: esc_safety_urgent: this message tells clients about warning signs, so it must always"
        " say when to seek urgent care — keep one of “notruf”, “notaufnahme”, “rettungsdienst”,"
        " “wählen Sie die 112” in it, for example “If you have difficulty"
        " breathing or swelling of the face or throat, call emergency services.”",
    ]
    (texts_dir / "de" / "safety.yaml").unlink()
    (texts_dir / "en" / "safety.yaml").write_text("help: '" + SAFE_TEXT + "'\n", encoding="utf-8")
    with pytest.raises(TextsError) as raised:
        Texts.load(texts_dir)
    assert [found.problem.values["key"] for found in raised.value.problems] == [
        key for key in SAFETY_TEXT_KEYS if key != "help"
    ]
    assert isinstance(raised.value.problems[0], FileProblem) and raised.value.problems[0].file == "texts/en"


def test_the_shipped_safety_texts_keep_phone_and_advice() -> None:
    assert SHIPPED_TEXTS.safety_problems() == []
    for key in SAFETY_TEXT_KEYS:
        assert "{clinic_phone}" in SHIPPED_TEXTS.raw(key, "en") and "emergency services" in SHIPPED_TEXTS.raw(key, "en")
