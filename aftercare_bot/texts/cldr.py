"""Plural forms, dates and numbers as each language writes them, from the Unicode CLDR data (through Babel).

Nothing here is written by hand per language: a clinic that adds a language gets its plural rules, its month
names and its date order with it.
"""

from __future__ import annotations

import functools
from datetime import date as date_type
from datetime import datetime
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton
from babel.numbers import format_decimal

PLURAL_CATEGORIES = ("zero", "one", "two", "few", "many", "other")  # CLDR's, in its order
_LAST_RESORT = "en"


@functools.cache
def locale(name: str | None) -> Locale:
    """The CLDR locale of a language code ("ru", "pt-BR", "en_GB"): the code, else its language, else English."""
    name = (name or _LAST_RESORT).replace("-", "_")
    for candidate in (name, name.split("_")[0], _LAST_RESORT):
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue
    raise AssertionError("CLDR always has English")


def plural_category(count: int | float | Decimal, language: str | None) -> str:
    """one, few, many, other, ... : which plural form `language` uses for `count`."""
    return locale(language).plural_form(count)


def number(value: int | float | Decimal, language: str | None) -> str:
    return format_decimal(value, locale=locale(language))


def day(value: date_type, language: str | None) -> str:
    """A date alone, such as "5 Nov 2026" (en_GB), "5 нояб. 2026 г." (ru)."""
    return format_skeleton("yMMMd", value, locale=locale(language))


def date_time(local: datetime, language: str | None, *, with_year: bool = True) -> str:
    """A date and clock time such as "5 Nov 2026, 14:30" (en_GB), "5 нояб. 2026 г., 14:30" (ru), "5 nov 2026, 14:30"
    (es); `local` is already in the clinic's time zone and is shown as it is."""
    where = locale(language)
    date = format_skeleton("yMMMd" if with_year else "MMMd", local, tzinfo=local.tzinfo, locale=where)
    time = format_skeleton("Hm", local, tzinfo=local.tzinfo, locale=where)
    return str(where.datetime_formats["medium"]).replace("{1}", date).replace("{0}", time)
