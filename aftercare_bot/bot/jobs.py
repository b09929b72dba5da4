"""JobQueue wiring: one wake-up job at the next due time plus a periodic safety tick.

The database holds every scheduled message and timer; these jobs only decide when to look at it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from telegram.ext import Application, ContextTypes, Job

from aftercare_bot.plans import editing
from aftercare_bot.services import Services

log = logging.getLogger(__name__)

WAKE_JOB = "dispatch-wake"
TICK_JOB = "dispatch-tick"
MIN_DELAY = 0.0


def start(application: Application) -> None:
    services: Services = application.bot_data["services"]
    assert application.job_queue is not None, "install python-telegram-bot[job-queue]"
    interval = services.settings.dispatch_tick
    # Jobs added before the scheduler starts lose a first run that is already due, so the
    # repeating tick starts one interval in and a one-off wake-up covers start-up.
    application.job_queue.run_repeating(
        _tick, interval=interval, first=interval, name=TICK_JOB,
        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
    )
    wake(application)


def wake(application: Application, delay: float = MIN_DELAY) -> None:
    """Make sure a pass runs within `delay` seconds; an earlier wake-up already planned is kept."""
    queue = application.job_queue
    if queue is None:
        return
    delay = max(delay, MIN_DELAY)
    when = datetime.now(UTC) + timedelta(seconds=delay)
    for job in queue.get_jobs_by_name(WAKE_JOB):
        if (planned := _planned_run(job)) is not None and planned <= when:
            return
        job.schedule_removal()
    queue.run_once(_tick, when=delay, name=WAKE_JOB, job_kwargs={"misfire_grace_time": None})


def _planned_run(job: Job) -> datetime | None:
    try:
        return job.next_t
    except AttributeError:  # added before the scheduler started: it has no run time yet
        return None


async def run_pending_work(services: Services) -> None:
    """One pass over everything due: timers, then plan messages, then the daily retention purge."""
    # Error reports held back by their rate limit; never raises, so it runs even while the database is away.
    runtime = services.runtime
    if runtime.error_reports is not None:
        runtime.error_reports.flush()
    # Timers first: escalation re-alerts and queued safety messages must never wait behind a plan backlog.
    await runtime.timer_runner.run_due()
    # Plans edited on another replica (or imported) take effect here before anything is composed.
    await editing.refresh_now_and_then(services.session_factory, services.catalog)
    await runtime.dispatcher.run_due()
    # Last, so that it never delays a message: erasing finished conversations, at most once a day.
    await runtime.retention.run_if_due()
    # The next weekly report's timer (one query a week; the timer itself fires with the others above).
    await runtime.reports.ensure_scheduled()


async def _tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    services: Services = context.application.bot_data["services"]
    try:
        await run_pending_work(services)
        next_due = await _next_due(services)
    except Exception:
        # The database may be restarting; the safety tick will try again.
        log.exception("dispatch pass failed; will retry on the next tick")
        return
    if next_due is not None:
        delay = (next_due - services.clock.now()).total_seconds()
        tick = services.settings.dispatch_tick.total_seconds()
        if delay < tick:
            wake(context.application, delay + 0.05)


async def _next_due(services: Services) -> datetime | None:
    runtime = services.runtime
    candidates = [await runtime.dispatcher.next_due(), await runtime.timer_runner.next_due()]
    moments = [moment for moment in candidates if moment is not None]
    return min(moments) if moments else None

