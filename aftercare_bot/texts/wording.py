"""Values as people read them in messages: dates and times, state names, treatment names.

Everything here is plain text, to be passed into a text as a value (which escapes it once). How dates are
written, month names included, comes from the language's texts (messages/texts/<lang>/dates.yaml), so a
clinic that adds a language adds its dates too; times are always the clinic's (CLINIC_TIMEZONE).
"""

from __future__ import annotations

from datetime import datetime

from aftercare_bot.services import Services


def moment(svc: Services, at: datetime, language: str | None, *, with_year: bool = True) -> str:
    """`at` in clinic time, such as "5 Nov 2026 14:30" (or "5 Nov 14:30" without the year) in English."""
    local = at.astimezone(svc.settings.timezone)
    return svc.label(
        "date_time" if with_year else "date_time_no_year",
        language,
        day=local.day,
        month=svc.label(f"month_{local.month}", language),
        month_number=f"{local.month:02d}",
        year=local.year,
        hour=f"{local.hour:02d}",
        minute=f"{local.minute:02d}",
    )


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
