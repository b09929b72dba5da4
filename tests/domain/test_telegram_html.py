from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aftercare_bot.texts.catalog import Texts
from aftercare_bot.texts.problems import LineProblem, problem
from aftercare_bot.texts.telegram_html import html_problems, plain_text, visible_length
from tests.support.paths import ROOT

TEXTS = Texts.load(ROOT / "messages" / "texts")


def html_errors(text: str) -> list[str]:
    """The problems as an admin reads them, worded by the shipped admin texts."""
    return [TEXTS.describe(found) for found in html_problems(text)]


@pytest.mark.parametrize(
    "text",
    [
        "Plain text with no tags",
        "<b>bold</b> <strong>bold</strong> <i>it</i> <em>it</em> <u>u</u> <ins>u</ins>",
        "<s>x</s> <strike>x</strike> <del>x</del>",
        '<span class="tg-spoiler">secret</span> <tg-spoiler>secret</tg-spoiler>',
        '<a href="https://example.com/?a=1&b=2">link</a>',
        "<code>x = 1</code>",
        '<pre><code class="language-python">print(1)</code></pre>',
        "<blockquote>quote</blockquote> <blockquote expandable>long quote</blockquote>",
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
        "&lt; &gt; &amp; &quot; &#39; &#x1F600;",
        "<b>bold <i>and italic <u>and underlined</u></i></b>",
        "<B>upper case tags</B>",
        "2 > 1 is fine: a bare greater-than sign is accepted",
        "Call {clinic_phone}, {{literal braces}}",
    ],
)
def test_valid_telegram_html_has_no_errors(text: str) -> None:
    assert html_errors(text) == []


def test_unclosed_tag_names_line_and_fix() -> None:
    assert html_problems("Hello\n\nPlease <b>be careful\nThanks") == [
        LineProblem(3, problem("problem_html_unclosed", tag="b", words=problem("problem_html_words_bold")))
    ]
    errors = html_errors("Hello\n\nPlease <b>be careful\nThanks")
    assert errors == ["Line 3: the tag <b> is never closed — add </b> after the bold words"]


def test_every_problem_has_a_wording_in_the_admin_texts() -> None:
    broken = (
        "a & b &eacute; &#0; < x <br> <div> <a>l</a> <span>s</span> <tg-emoji>e</tg-emoji> "
        '<blockquote expandable="1">q</blockquote> <code class="x">c</code> <b x="1" x="2">b</b> '
        "<code><b>c</b></code> <pre><i>p</i></pre> <a href='h'><a href='h'>l</a></a> "
        "<blockquote><blockquote>q</blockquote></blockquote> <b/> </p> <b><i>o</b></i> </u> <s>"
    )
    found = html_problems(broken)
    assert len({each.problem.key for each in found}) >= 18
    for each in found:
        worded = TEXTS.describe(each)
        assert worded.startswith(f"Line {each.line}: ") and "{" not in worded and "problem_" not in worded


def test_overlapping_tags_are_rejected() -> None:
    [error] = html_errors("<b>bold <i>both</b> italic</i>")
    assert error.startswith("Line 1: the tags overlap: close </i> before </b>")


def test_closing_tag_that_was_never_opened() -> None:
    [error] = html_errors("one\ntwo</i>")
    assert error == "Line 2: </i> closes a tag that was never opened — remove it, or add <i> where it should start"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5 < 6", "&lt;"),
        ("Ann & Bo", "&amp;"),
        ("caf&eacute;", "only &lt; &gt; &amp; &quot; work"),
        ("null &#0; char", "not a valid character number"),
        ("a<br>b", "just start a new line"),
        ("<div>x</div>", "does not support the tag <div>"),
        ("<a>link</a>", "needs an address"),
        ('<a href="">link</a>', "needs an address"),
        ('<a href="https://x.org" target="_blank">x</a>', 'does not take "target"'),
        ("<span>x</span>", "tg-spoiler"),
        ('<span class="bold">x</span>', "tg-spoiler"),
        ("<tg-emoji>👍</tg-emoji>", "emoji-id"),
        ('<blockquote expandable="yes">x</blockquote>', "without a value"),
        ("<code><b>x</b></code>", "cannot be used inside <code>"),
        ("<pre><i>x</i></pre>", "cannot be used inside <pre>"),
        ('<a href="https://a.org"><a href="https://b.org">x</a></a>', "inside another link"),
        ("<blockquote><blockquote>x</blockquote></blockquote>", "inside another quote"),
        ("<b/>", "closes itself"),
        ("x</p>", "does not support the tag </p>"),
    ],
)
def test_rejected_html_is_explained(text: str, expected: str) -> None:
    errors = html_errors(text)
    assert errors, text
    assert any(expected in error for error in errors), errors


def test_problems_carry_line_numbers_in_order() -> None:
    problems = html_problems("a & b\nfine\n<i>open")
    assert [problem.line for problem in problems] == [1, 3]


def test_visible_length_strips_tags_decodes_entities_and_counts_utf16() -> None:
    assert visible_length("<b>Hi</b> &amp; 😀") == len("Hi & ") + 2
    assert visible_length('<a href="https://example.com/very/long">x</a>') == 1
    assert visible_length("&#x1F600;") == 2


def test_plain_text() -> None:
    assert plain_text("<b>Aches &amp; pains</b> &lt;3") == "Aches & pains <3"


@given(st.text())
def test_escaped_text_is_always_valid_and_round_trips(text: str) -> None:
    escaped = html.escape(text)
    assert html_errors(escaped) == []
    assert plain_text(escaped) == text
