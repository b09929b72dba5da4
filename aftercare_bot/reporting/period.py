"""Which days a report covers: the last week, the last month, or a range of clinic-local dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEK = timedelta(days=7)
MONTH = timedelta(days=30)
LONGEST = timedelta(days=731)


class PeriodError(ValueError):
    """The words or dates given do not make a period."""


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC."""

    start: datetime
    end: datetime

    def last_day(self, tz: ZoneInfo) -> date:
        """The last clinic-local day the period touches (its end is excluded)."""
        return (self.end - timedelta(microseconds=1)).astimezone(tz).date()


def ending(end: datetime, length: timedelta) -> Period:
    return Period(end - length, end)


def between(first: date, last: date, tz: ZoneInfo) -> Period:
    """From the start of `first` to the end of `last`, both clinic-local days and both included."""
    if last < first or last - first >= LONGEST:
        raise PeriodError(f"{first} to {last}")
    start = datetime.combine(first, time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
    return Period(start, end)


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise PeriodError(text) from exc


def from_words(words: list[str], *, now: datetime, tz: ZoneInfo) -> Period:
    """`[]` or `week`: the last 7 days; `month`: the last 30 days; `FIRST LAST`: those dates (YYYY-MM-DD)."""
    lowered = [word.lower() for word in words]
    if lowered in ([], ["week"]):
        return ending(now, WEEK)
    if lowered == ["month"]:
        return ending(now, MONTH)
    if len(words) == 2:
        return between(parse_date(words[0]), parse_date(words[1]), tz)
    raise PeriodError(" ".join(words))
