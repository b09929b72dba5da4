"""The weekly report, sent to the admins at REPORT_SCHEDULE (clinic time), once a week across restarts and replicas.

Each week's report is a durable timer (delivery/due_timers.py) named by its moment, so a replica claims it and
a restart keeps it. Every pass makes sure the next week's timer exists (cheap: remembered once done). Should two
replicas schedule the same week at once, the oldest timer alone sends it; the audit trail records each report
sent, so a timer run again after a crash does not send it twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from aftercare_bot.clients import team
from aftercare_bot.db.models import Role, Timer
from aftercare_bot.db.repositories import audit, timers
from aftercare_bot.delivery.ports import (
    OutboundMessage,
    PictureSender,
    RecipientBlocked,
    SendRejected,
    SendRetryLater,
)
from aftercare_bot.reporting.build import make_report, telegram_messages
from aftercare_bot.reporting.period import WEEK, Period
from aftercare_bot.services import Services

log = logging.getLogger(__name__)

WEEKLY_REPORT_TIMER = "weekly_report"
REPORT_SENT = "weekly_report_sent"
RETRY = timedelta(minutes=10)


def timer_key(moment: datetime) -> int:
    """A week's timer is named by its moment, in minutes since 1970."""
    return int(moment.timestamp()) // 60


class WeeklyReports:
    def __init__(self, services: Services, sender: PictureSender) -> None:
        self.svc = services
        self.sender = sender
        self._scheduled: int | None = None  # the timer known to exist

    async def ensure_scheduled(self) -> None:
        """The next report's timer exists; one query the first time in each week, none after."""
        schedule = self.svc.settings.report_schedule
        if schedule is None:
            return
        now = self.svc.clock.now()
        due = schedule.following(now, self.svc.settings.timezone)
        key = timer_key(due)
        if self._scheduled == key:
            return
        async with self.svc.session_factory.begin() as session:
            if not await timers.exists(session, kind=WEEKLY_REPORT_TIMER, subject_id=key):
                await timers.schedule(session, kind=WEEKLY_REPORT_TIMER, subject_id=key, due_at=due, now=now)
                log.info("weekly report scheduled for %s", due)
        self._scheduled = key

    async def on_timer(self, timer: Timer) -> datetime | None:
        schedule, due = self.svc.settings.report_schedule, timer.due_at
        if schedule is None or schedule.latest(due, self.svc.settings.timezone) != due:
            return None  # turned off, or moved to another day or time since it was scheduled
        async with self.svc.session_factory() as session:
            first = await timers.first_of(session, kind=WEEKLY_REPORT_TIMER, subject_id=timer.subject_id)
            last_sent = await audit.last_at(session, REPORT_SENT)
            admins = [m.user_id for m in await team.members(session, self.svc.settings) if m.role == Role.ADMIN]
        if first != timer.id or (last_sent is not None and last_sent >= due):
            return None  # another timer of the same week sends it, or this one did before a crash
        language = self.svc.staff_language
        report = await make_report(self.svc, Period(due - WEEK, due), language, title_key="report_weekly_title")
        caption, rest = telegram_messages(report)
        reached = 0
        for user_id in admins:
            try:
                await self.sender.send_picture(user_id, report.png, filename="weekly-report.png", caption_html=caption)
                if rest:
                    await self.sender.send(OutboundMessage(user_id, rest))
                reached += 1
            except SendRetryLater as exc:
                if not reached:
                    log.warning("weekly report must wait: %s", exc)
                    return self.svc.clock.now() + RETRY
                log.warning("weekly report not sent to admin %s: %s", user_id, exc)
            except (RecipientBlocked, SendRejected) as exc:
                log.warning("weekly report not sent to admin %s: %s", user_id, exc)
        async with self.svc.session_factory.begin() as session:
            await audit.record(session, now=self.svc.clock.now(), action=REPORT_SENT,
                               detail={"period_end": due.isoformat(), "admins": reached})
        log.info("weekly report for the week to %s sent to %d admin(s)", due, reached)
        return None
