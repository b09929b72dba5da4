from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from aftercare_bot.rendering import (
    PLAN_PLACEHOLDERS,
    TemplateError,
    placeholders,
    render,
    template_errors,
)
from aftercare_bot.texts import Texts, TextsError


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


@pytest.mark.parametrize("template", ["{a.__class__}", "{a[0]}", "{a!r}", "{a:>10}", "{b}", "{a"])
def test_render_refuses_anything_but_known_plain_names(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, {"a": "value"})


# --- texts -------------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text), encoding="utf-8")


@pytest.fixture
def texts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # problem reports show paths relative to the working directory
    root = tmp_path / "texts"
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
    [problem] = raised.value.problems
    assert problem.startswith("texts/en/zz_more.yaml:2: 'welcome' is also defined in texts/en/client.yaml:1")


def test_duplicate_key_in_one_file(texts_dir: Path) -> None:
    _write(texts_dir / "en" / "zz_more.yaml", "other: x\nother: y\n")
    with pytest.raises(TextsError, match=r"zz_more\.yaml:2: .*'other' is written twice \(first on line 1\)"):
        Texts.load(texts_dir)


def test_yaml_syntax_error_names_file_and_line(texts_dir: Path) -> None:
    _write(texts_dir / "en" / "zz_more.yaml", "fine: ok\nbad: Call us: now\n")
    with pytest.raises(TextsError, match=r"zz_more\.yaml:2: the file is not valid YAML"):
        Texts.load(texts_dir)


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
    problems = Texts.load(texts_dir).check()
    assert any(p.startswith("texts/en/zz_more.yaml:3: intro: the tag <b> is never closed") for p in problems)
    assert any(p.startswith("texts/en/zz_more.yaml:4: braces: a placeholder is opened with {") for p in problems)
    assert any(p.startswith("texts/de/zz_more.yaml:1: 'intro' uses {name}") for p in problems)
    assert any(p.startswith("texts/de/zz_more.yaml:3: 'german_only' has no en version") for p in problems)
    assert len(problems) == 4
