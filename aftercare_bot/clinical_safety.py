"""Texts that warn about complications must always say how to reach the clinic and when to seek urgent care.

Which texts: the fixed list SAFETY_TEXT_KEYS of messages/texts (the safety reply to a red flag and its
relatives), and every plan step marked `warning_signs: true`. They are checked wherever texts come in: an
edit from Telegram, `templates import`, `plan check`, and at start-up.

What is checked, in every language of the text:
- the placeholder {clinic_phone}, so the number shown is always the clinic's current one;
- urgent-care advice: the visible text (tags removed, any case, any line breaks) contains one of the
  language's URGENT_CARE_WORDS, such as "emergency services". A fixed list of words is checked rather than
  a sentence, so the clinic may word the advice freely, while deleting it, or a translation that leaves it
  out, is caught. A language without a list cannot be checked, so warning-sign texts are refused in it and
  its clients get the English text, which passed the check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from aftercare_bot.problems import Problem, problem
from aftercare_bot.rendering import TemplateError, placeholders
from aftercare_bot.telegram_html import plain_text

CLINIC_PHONE = "clinic_phone"

# Texts in messages/texts/<lang>/ that tell a client who may be in trouble to call: these keys are fixed in
# code, so that no edit of the files can take a text off the list.
SAFETY_TEXT_KEYS = (
    "esc_safety_urgent",  # the reply to a red flag
    "esc_safety_stranger",  # the same, to someone the bot does not know as a client
    "esc_final_call_clinic",  # nobody claimed an urgent case in time
    "esc_concern_received",  # the reply to a worrying message that is not a red flag
    "checkin_worried",  # "Something worries me" on a check-in
    "help",  # /help
    "something_went_wrong",  # the bot failed while a client may have been reporting a problem
)

# Words that count as urgent-care advice, per language (compared with the visible text, ignoring case).
# Add a language here before warning-sign texts can be written in it.
URGENT_CARE_WORDS: Mapping[str, tuple[str, ...]] = {
    "en": ("emergency services", "emergency department", "a&e", "999", "911", "112"),
    "de": ("notruf", "notaufnahme", "rettungsdienst", "112"),
    "es": ("urgencias", "emergencias", "112"),
    "fr": ("urgences", "samu", "112", "15"),
    "it": ("pronto soccorso", "emergenza", "112", "118"),
    "nl": ("spoedeisende hulp", "alarmnummer", "112"),
    "pt": ("urgência", "emergência", "112"),
}


def urgent_care_words(language: str) -> tuple[str, ...] | None:
    """The words for `language` ("pt-BR" uses "pt"), or None when the language has no list."""
    code = language.casefold().replace("_", "-")
    return URGENT_CARE_WORDS.get(code) or URGENT_CARE_WORDS.get(code.split("-")[0])


def warning_text_problems(template: str, language: str) -> list[Problem]:
    """What a warning-sign text in `language` lacks; empty when it may be used."""
    problems = []
    try:
        has_phone = CLINIC_PHONE in placeholders(template)
    except TemplateError:
        has_phone = False  # broken braces are reported by the template checks; the phone is not usable either
    if not has_phone:
        problems.append(problem("problem_safety_no_clinic_phone"))
    words = urgent_care_words(language)
    if words is None:
        problems.append(
            problem(
                "problem_safety_language_unchecked",
                language=language,
                languages=", ".join(sorted(URGENT_CARE_WORDS)),
            )
        )
    elif not _mentions_any(template, words):
        problems.append(problem("problem_safety_no_urgent_care", words=", ".join(f"“{w}”" for w in words)))
    return problems


def _mentions_any(template: str, words: tuple[str, ...]) -> bool:
    visible = " ".join(plain_text(template).casefold().split())
    return any(re.search(rf"(?<!\w){re.escape(word)}(?!\w)", visible) for word in words)
