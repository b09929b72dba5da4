"""Reads the staff command `/enrol <client name> [treatment=...] [at=...] [lang=...] [renew=...]`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aftercare_bot.db.refs import RowRef

MAX_NAME_LENGTH = 100
# A session may be entered a little ahead (booked) or after the fact, but not absurdly far either way.
MAX_PAST = timedelta(days=14)
MAX_FUTURE = timedelta(days=60)
_OPTION = re.compile(r"(treatment|at|lang|language|renew)=(.*)", re.IGNORECASE)
_CLOCK = re.compile(r"\d{1,2}:\d{2}")
_LANGUAGE = re.compile(r"[a-z]{2,3}")


@dataclass(frozen=True)
class EnrolRequest:
    client_name: str
    treatment: str
    session_at: datetime
    language: str | None
    renews: RowRef | None = None  # the lost link this one replaces (the not-yet-joined list offers the command)


@dataclass(frozen=True)
class EnrolProblem:
    """A text key from messages/ and the values for it."""

    key: str
    values: dict[str, str] = field(default_factory=dict)


def parse_enrol(
    args: list[str], *, now: datetime, tz: ZoneInfo, treatments: list[str], default_treatment: str
) -> EnrolRequest | EnrolProblem:
    name_words: list[str] = []
    options: dict[str, str] = {}
    words = list(args)
    while words:
        word = words.pop(0)
        match = _OPTION.fullmatch(word)
        if not match:
            name_words.append(word)
            continue
        key, value = match.group(1).lower(), match.group(2)
        # `at=2026-11-20 14:30` arrives as two words.
        if key == "at" and words and _CLOCK.fullmatch(words[0]) and not _CLOCK.fullmatch(value):
            value = f"{value} {words.pop(0)}"
        options["lang" if key == "language" else key] = value.strip()

    name = " ".join(name_words).strip()
    if not name:
        return EnrolProblem("enrol_usage")
    if len(name) > MAX_NAME_LENGTH:
        return EnrolProblem("enrol_name_too_long", {"limit": str(MAX_NAME_LENGTH)})

    treatment = options.get("treatment", default_treatment).lower()
    if treatment not in treatments:
        return EnrolProblem("enrol_unknown_treatment", {"treatment": treatment, "known": ", ".join(treatments)})

    language = options.get("lang")
    if language is not None and not _LANGUAGE.fullmatch(language.lower()):
        return EnrolProblem("enrol_bad_language", {"language": language})

    session_at = now
    if "at" in options:
        parsed = parse_session_time(options["at"], now=now, tz=tz)
        if parsed is None:
            return EnrolProblem("enrol_bad_time", {"value": options["at"]})
        if not now - MAX_PAST <= parsed <= now + MAX_FUTURE:
            return EnrolProblem("enrol_time_out_of_range", {"value": options["at"]})
        session_at = parsed
    renews = None
    if "renew" in options:
        renews = RowRef.parse(options["renew"])
        if renews is None:
            return EnrolProblem("enrol_bad_renew", {"value": options["renew"]})
    return EnrolRequest(name, treatment, session_at, language.lower() if language else None, renews)


def parse_session_time(value: str, *, now: datetime, tz: ZoneInfo) -> datetime | None:
    """`14:30` (today, clinic time), `2026-11-20 14:30`, `2026-11-20T14:30` or `now`."""
    value = value.strip()
    if value.lower() == "now":
        return now
    local_now = now.astimezone(tz)
    try:
        if _CLOCK.fullmatch(value):
            clock = datetime.strptime(value, "%H:%M").time()
            return datetime.combine(local_now.date(), clock, tzinfo=tz).astimezone(UTC)
        moment = datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)
