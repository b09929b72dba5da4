"""Which language a client is spoken to in, and what each language is called.

A clinic offers the languages it has texts for (a folder under messages/texts). A client's language is the one
given at enrolment (`lang=`), else their Telegram language when the clinic offers it, else the clinic's
default (DEFAULT_LANGUAGE); a client may change it later with /language.
"""

from __future__ import annotations

from collections.abc import Collection

from babel import Locale, UnknownLocaleError

# Written by the clinic in each language's texts (`language_name: Русский`); CLDR's name stands in until then.
NAME_KEY = "language_name"


def base_code(code: str | None) -> str:
    """"ru-RU", "pt_BR", "EN" -> "ru", "pt", "en"; "" for nothing."""
    return (code or "").strip().replace("_", "-").split("-")[0].lower()


def offered(code: str | None, languages: Collection[str]) -> str | None:
    """`code` as the clinic offers it: itself ("pt-br"), else its base language ("pt"), else None."""
    wanted = (code or "").strip().replace("_", "-").lower()
    if not wanted:
        return None
    if wanted in languages:
        return wanted
    base = base_code(wanted)
    return base if base in languages else None


def client_language(
    chosen: str | None, telegram_code: str | None, languages: Collection[str], default: str
) -> str:
    """The language a new client gets: the one chosen at enrolment, else their Telegram language when the clinic
    has texts in it, else the clinic's default. A language chosen at enrolment is kept even without texts: its
    plan texts may exist, and everything else falls back to the default."""
    if chosen:
        return chosen
    return offered(telegram_code, languages) or default


def native_name(code: str) -> str:
    """The language's name in itself, as CLDR writes it ("русский" -> "Русский"); the code when CLDR has none."""
    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name(code.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return code
    return name[:1].upper() + name[1:] if name else code
