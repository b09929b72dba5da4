"""Durable work for enrolments made by booking systems and imports: the summary to the staff chat, and phone
numbers erased when their link expires. Both run as database timers (delivery/due_timers.py; the summary's is
scheduled by the first such enrolment of the day), so a restart or another replica never loses or repeats them.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from sqlalchemy import select

from aftercare_bot.clients import booking
from aftercare_bot.db.models import Timer, TimerState
from aftercare_bot.db.repositories import external_enrolments
from aftercare_bot.services import Services

log = logging.getLogger(__name__)

SUMMARY_TIMER = booking.SUMMARY_TIMER


async def ensure_scheduled(services: Services) -> None:
    """At start-up: enrolments not yet reported (a summary cut short, say) get a summary timer."""
    now = services.clock.now()
    async with services.session_factory.begin() as session:
        if await external_enrolments.unreported(session, before=now):
            await booking.schedule_summary(session, now=now, settings=services.settings)


def summary_html(services: Services, counts: Counter[str], statuses: Counter[str]) -> str:
    language = services.staff_language
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
            # This pass also catches phones whose expiry timer went missing (older links, say).
            await external_enrolments.erase_expired_phones(session, now=now)
        if chats:
            await self.svc.runtime.outbox.deliver(*chats)
        async with self.svc.session_factory() as session:
            # Made while this summary was being written, after it had been counted: the next summary's.
            later = await external_enrolments.unreported(session, before=self.svc.clock.now())
        return booking.next_summary_at(self.svc.settings, now) if later else None

    async def phone_expiry(self, timer: Timer) -> datetime | None:
        async with self.svc.session_factory.begin() as session:
            await external_enrolments.erase_phone_if_expired(session, timer.subject_id, now=self.svc.clock.now())
        return None
