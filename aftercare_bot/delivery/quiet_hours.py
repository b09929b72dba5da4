"""When a scheduled message may go out, given the clinic's quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aftercare_bot.config import QuietHours


def next_allowed(moment: datetime, quiet: QuietHours | None, tz: ZoneInfo) -> datetime:
    """`moment` itself if it is outside quiet hours, otherwise the end of the quiet period (in UTC)."""
    if quiet is None:
        return moment
    local = moment.astimezone(tz)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return moment
    end_date = local.date()
    if quiet.start > quiet.end and local.time().replace(tzinfo=None) >= quiet.start:
        end_date += timedelta(days=1)  # the window crosses midnight and we are before it
    return datetime.combine(end_date, quiet.end, tzinfo=tz).astimezone(UTC)
