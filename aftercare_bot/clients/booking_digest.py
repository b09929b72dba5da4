"""Durable daily work for enrolments made by booking systems and imports: the summary to the staff chat, and
phone numbers erased when their link expires. Both run as database timers (delivery/due_timers.py), so a
restart or another replica never loses or repeats them.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select

from aftercare_bot.clients import booking
from aftercare_bot.db.models import Timer, TimerState
from aftercare_bot.db.repositories import external_enrolments, timers
from aftercare_bot.services import Services

log = logging.getLogger(__name__)

SUMMARY_TIMER = "enrolment_summary"
SUMMARY_SUBJECT = 0  # one summary for the clinic


def next_summary_at(services: Services, after: datetime) -> datetime:
    """The next ENROLMENT_SUMMARY_AT in clinic time, strictly after `after`."""
    tz = services.settings.timezone
    local = after.astimezone(tz)
    moment = datetime.combine(local.date(), services.settings.enrolment_summary_at, tzinfo=tz)
    while moment <= local:
        moment = datetime.combine(moment.date() + timedelta(days=1), services.settings.enrolment_summary_at, tzinfo=tz)
    return moment.astimezone(after.tzinfo)


async def ensure_scheduled(services: Services) -> None:
    """At start-up: one summary timer, whatever replicas and restarts came before."""
    now = services.clock.now()
    async with services.session_factory.begin() as session:
        live = await session.scalar(select(Timer.id).where(
            Timer.kind == SUMMARY_TIMER, Timer.state.in_((TimerState.PENDING, TimerState.RUNNING))
        ).limit(1))
        if live is None:
            await timers.schedule(session, kind=SUMMARY_TIMER, subject_id=SUMMARY_SUBJECT,
                                  due_at=next_summary_at(services, now), now=now)


def summary_html(services: Services, counts: Counter[str], statuses: Counter[str]) -> str:
    language = services.settings.default_language
    lines = [services.text("booking_summary_title", language, count=sum(counts.values()))]
    for source in (booking.API, booking.IMPORT):
        if counts[source]:
            lines.append(services.text(f"booking_summary_{source}", language, count=counts[source]))
    states = ", ".join(
        f"{services.label(f'booking_status_{status}', language)}: {n}" for status, n in sorted(statuses.items())
    )
    lines.append(services.text("booking_summary_states", language, states=states))
    return "\n".join(lines)


class BookingDigest:
    def __init__(self, services: Services) -> None:
        self.svc = services

    async def summary(self, timer: Timer) -> datetime | None:
        """Tell the staff chat of the enrolments made since the last summary, in one message; then wait a day.
        The enrolments are marked reported in the transaction that queues the message: told exactly once."""
        now = self.svc.clock.now()
        async with self.svc.session_factory.begin() as session:
            # Another summary timer (two replicas started at once): the oldest one is kept.
            older = await session.scalar(select(Timer.id).where(
                Timer.kind == SUMMARY_TIMER, Timer.id < timer.id,
                Timer.state.in_((TimerState.PENDING, TimerState.RUNNING)),
            ).limit(1))
            if older is not None:
                return None
            records = await external_enrolments.unreported(session, before=now)
            chats: list[int] = []
            if records:
                counts = Counter(record.source for record in records)
                statuses = Counter([(await booking.status_of(session, r, now=now)).status.value for r in records])
                chats = await self.svc.runtime.outbox.to_staff(session, summary_html(self.svc, counts, statuses))
                await external_enrolments.mark_reported(session, [r.id for r in records], now)
            # The daily pass also catches phones whose expiry timer went missing (older links, say).
            await external_enrolments.erase_expired_phones(session, now=now)
        if chats:
            await self.svc.runtime.outbox.deliver(*chats)
        return next_summary_at(self.svc, now)

    async def phone_expiry(self, timer: Timer) -> datetime | None:
        async with self.svc.session_factory.begin() as session:
            await external_enrolments.erase_phone_if_expired(session, timer.subject_id, now=self.svc.clock.now())
        return None
