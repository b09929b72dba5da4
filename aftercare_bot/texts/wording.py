"""Values as people read them in messages: dates and times, state names, treatment names.

Everything here is plain text, to be passed into a text as a value (which escapes it once). How dates are
written comes from the CLDR data of the language (texts.cldr); its dates.yaml may name the CLDR locale to
follow (date_locale: en_GB). Times are always the clinic's (CLINIC_TIMEZONE).
"""

from __future__ import annotations

from datetime import datetime

from aftercare_bot.services import Services
from aftercare_bot.texts import cldr


def moment(svc: Services, at: datetime, language: str | None, *, with_year: bool = True) -> str:
    """`at` in clinic time, such as "5 Nov 2026, 14:30" (or "5 Nov, 14:30" without the year) in English."""
    return cldr.date_time(at.astimezone(svc.settings.timezone), date_locale(svc, language), with_year=with_year)


def date_locale(svc: Services, language: str | None) -> str:
    """The CLDR locale for dates in `language`: its own date_locale text, else the language code itself."""
    language = language or svc.settings.default_language
    return svc.texts.raw("date_locale", language) if svc.texts.has("date_locale", language) else language


def label_or(svc: Services, key: str, fallback: str, language: str | None) -> str:
    """The label `key`, or `fallback` when no language's texts have `key` (such as a state added later)."""
    try:
        return svc.label(key, language)
    except KeyError:
        return svc.label(fallback, language)


def treatment_title(svc: Services, treatment: str, language: str | None) -> str:
    """The title of the plan `treatment` in `language` (see Plan.title_for); the key when there is no such plan."""
    plan = svc.catalog.get(treatment)
    if plan is None:
        return treatment
    return plan.title_for(language, svc.settings.default_language)
