"""Texts that warn about complications must always say how to reach the clinic and when to seek urgent care.

Which texts: the fixed list SAFETY_TEXT_KEYS of messages/texts (the safety reply to a red flag and its
relatives), and every plan step marked `warning_signs: true`. They are checked wherever texts come in: an
edit from Telegram, `templates import`, `plan check`, and at start-up.

What is checked, in every language of the text:
- the placeholder {clinic_phone}, so the number shown is always the clinic's current one;
- urgent-care advice: the visible text (tags removed, any case, any line breaks) contains one of the
  language's words for it, such as "emergency services", or an emergency number right after a word that
  makes it one ("call 999", "appelez le 15"). A bare number is not enough: "15" may be minutes, "112" an
  amount. Fixed words are checked rather than a sentence, so the clinic may word the advice freely, while
  deleting it, or a translation that leaves it out, is caught. A language without a list cannot be
  checked, so warning-sign texts are refused in it and its clients get the English text, which passed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from aftercare_bot.texts.problems import Problem, problem
from aftercare_bot.texts.rendering import TemplateError, placeholders
from aftercare_bot.texts.telegram_html import plain_text

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


@dataclass(frozen=True)
class UrgentCareAdvice:
    """What counts as urgent-care advice in one language (compared with the visible text, ignoring case)."""

    words: tuple[str, ...]  # any one of these is enough
    numbers: tuple[str, ...]  # emergency numbers: they count only right after one of call_words
    call_words: tuple[str, ...]  # "call", "dial": a number straight after one is an emergency reference
    fillers: tuple[str, ...]  # up to three may stand between: "appelez le 15", "wählen Sie sofort die 112"
    examples: tuple[str, ...]  # how a number is written so that it counts, shown when the advice is missing

    def found_in(self, visible: str) -> bool:
        if any(re.search(rf"(?<!\w){re.escape(word)}(?!\w)", visible) for word in self.words):
            return True
        call = "|".join(map(re.escape, self.call_words))
        filler = "|".join(map(re.escape, self.fillers)) or "(?!)"
        number = "|".join(map(re.escape, self.numbers))
        gap = r"[^\w.!?;]+"  # spaces, colons, dashes, brackets: not the end of a sentence
        return re.search(rf"(?<!\w)(?:{call})(?:{gap}(?:{filler})){{0,3}}{gap}(?:{number})(?!\w)", visible) is not None


# Add a language here before warning-sign texts can be written in it.
URGENT_CARE_ADVICE: Mapping[str, UrgentCareAdvice] = {
    "en": UrgentCareAdvice(
        ("emergency services", "emergency department", "a&e"), ("999", "911", "112"),
        ("call", "dial", "ring", "emergency"), ("on", "number"), ("call 999", "call 911", "call 112"),
    ),
    "de": UrgentCareAdvice(
        ("notruf", "notaufnahme", "rettungsdienst"), ("112",), ("wählen", "rufen", "anrufen", "notrufnummer"),
        ("sie", "die", "den", "sofort"), ("wählen Sie die 112",),
    ),
    # 112 in Spain, 911 in most of Latin America; "llamá" is how Argentina and Uruguay say "llama".
    "es": UrgentCareAdvice(
        ("urgencias", "emergencias", "servicios de emergencia"), ("112", "911"),
        ("llame", "llama", "llamá", "llamar", "marque", "marca", "marcá", "marcar"),
        ("al", "el", "a", "ya", "enseguida", "de inmediato", "inmediatamente"), ("llama al 112", "llama al 911"),
    ),
    "fr": UrgentCareAdvice(
        ("urgences", "samu"), ("15", "112"), ("appelez", "appeler", "appelle", "composez", "composer"),
        ("le", "immédiatement"), ("appelez le 15", "appelez le 112"),
    ),
    "it": UrgentCareAdvice(
        ("pronto soccorso", "emergenza"), ("112", "118"), ("chiama", "chiami", "chiamate", "chiamare", "componi"),
        ("il", "subito"), ("chiami il 112", "chiami il 118"),
    ),
    "nl": UrgentCareAdvice(
        ("spoedeisende hulp", "alarmnummer"), ("112",), ("bel", "bellen", "belt"), ("direct", "meteen"),
        ("bel 112",),
    ),
    "pt": UrgentCareAdvice(
        ("urgência", "emergência"), ("112",), ("ligue", "ligar", "liga", "marque", "marcar"), ("para", "o"),
        ("ligue 112",),
    ),
    # Not "неотложная помощь": in Russia that is the non-urgent home-visit service, the wrong advice here.
    "ru": UrgentCareAdvice(
        ("скорую помощь", "скорая помощь", "скорой помощи", "скорую", "экстренные службы", "экстренную службу",
         "экстренных служб", "приёмное отделение", "приемное отделение"),
        ("112", "103", "03"),
        ("звоните", "позвоните", "звонить", "позвонить", "наберите", "набрать", "вызовите", "вызвать"),
        ("по", "номеру", "номер", "в", "на", "сразу", "немедленно", "срочно"), ("позвоните 112", "звоните 103"),
    ),
}


def urgent_care_advice(language: str) -> UrgentCareAdvice | None:
    """What counts for `language` ("pt-BR" uses "pt"), or None when the language has no list."""
    code = language.casefold().replace("_", "-")
    return URGENT_CARE_ADVICE.get(code) or URGENT_CARE_ADVICE.get(code.split("-")[0])


def warning_text_problems(template: str, language: str) -> list[Problem]:
    """What a warning-sign text in `language` lacks; empty when it may be used."""
    problems = []
    try:
        has_phone = CLINIC_PHONE in placeholders(template)
    except TemplateError:
        has_phone = False  # broken braces are reported by the template checks; the phone is not usable either
    if not has_phone:
        problems.append(problem("problem_safety_no_clinic_phone"))
    advice = urgent_care_advice(language)
    if advice is None:
        problems.append(
            problem(
                "problem_safety_language_unchecked",
                language=language,
                languages=", ".join(sorted(URGENT_CARE_ADVICE)),
            )
        )
    elif not advice.found_in(" ".join(plain_text(template).casefold().split())):
        shown = ", ".join(f"“{w}”" for w in (*advice.words, *advice.examples))
        problems.append(problem("problem_safety_no_urgent_care", words=shown))
    return problems
