"""JobQueue wiring: one wake-up job at the next due time plus a periodic safety tick, which kick the lanes.

The database holds every scheduled message and timer; these jobs only decide when to look at it. The work itself
runs in independent lanes (delivery/lanes.py: client, staff, plans), so the job returns at once and a busy staff
chat never makes a tick wait, let alone skip.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from telegram.ext import Application, ContextTypes, Job

from aftercare_bot.delivery import lanes
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


def build_lanes(services: Services, after: Callable[[], Awaitable[object]] | None = None) -> lanes.Lanes:
    """The three lanes; `after` runs after each pass (to plan the next wake-up)."""
    return lanes.Lanes([
        lanes.Lane(lanes.CLIENT, lambda: services.runtime.timer_runner.run_lane(lanes.CLIENT), after),
        lanes.Lane(lanes.STAFF, lambda: services.runtime.timer_runner.run_lane(lanes.STAFF), after),
        lanes.Lane(lanes.PLANS, lambda: run_plans(services), after),
    ])


async def run_plans(services: Services) -> None:
    """The plans lane: plan messages, then the daily retention purge."""
    runtime = services.runtime
    # Plans edited on another replica (or imported) take effect here before anything is composed.
    await editing.refresh_now_and_then(services.session_factory, services.catalog)
    await runtime.dispatcher.run_due()
    # Last, so that it never delays a message: erasing finished conversations, at most once a day.
    await runtime.retention.run_if_due()
    # The next weekly report's timer (one query a week; the timer itself fires with the others above).
    await runtime.reports.ensure_scheduled()


async def run_pending_work(services: Services) -> None:
    """Every lane's work once, one after the other, client-facing first (tests and the sandbox's clock)."""
    runtime = services.runtime
    if runtime.error_reports is not None:
        runtime.error_reports.flush()
    await runtime.timer_runner.run_lane(lanes.CLIENT)
    await runtime.timer_runner.run_lane(lanes.STAFF)
    await run_plans(services)


async def _tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    services: Services = context.application.bot_data["services"]
    runtime = services.runtime
    # Error reports held back by their rate limit; never raises, so it runs even while the database is away.
    if runtime.error_reports is not None:
        runtime.error_reports.flush()
    runtime.lanes.kick()


async def rearm(application: Application) -> None:
    """After a lane's pass: a wake-up for the next due moment, when that comes before the safety tick."""
    services: Services = application.bot_data["services"]
    next_due = await _next_due(services)
    if next_due is not None:
        delay = (next_due - services.clock.now()).total_seconds()
        if delay < services.settings.dispatch_tick.total_seconds():
            wake(application, delay + 0.05)


async def _next_due(services: Services) -> datetime | None:
    runtime = services.runtime
    candidates = [await runtime.dispatcher.next_due(), await runtime.timer_runner.next_due()]
    moments = [moment for moment in candidates if moment is not None]
    return min(moments) if moments else None


async def stop(services: Services, timeout: float) -> bool:  # noqa: ASYNC109
    """On shutdown: no lane claims more; passes under way get `timeout` seconds, then are cut short. Logs one
    line of what is left for the next start (or another replica). True when nothing had to be cut short."""
    if not services.started:
        return True
    runtime = services.runtime
    runtime.dispatcher.stop_claiming()
    runtime.timer_runner.stop_claiming()
    cut = await runtime.lanes.stop(timeout)
    if cut:
        try:
            left = await _work_left(services)
        except Exception as exc:  # the database may be what is stopping
            left = f"unknown ({exc.__class__.__name__})"
        log.warning("stopped with work in hand (lanes cut short: %s); left in the database for the next start or "
                    "another replica: %s", ", ".join(cut), left)
    return not cut


async def _work_left(services: Services) -> str:
    runtime = services.runtime
    counts = {
        "client messages and timers": await runtime.timer_runner.due_count(lanes.CLIENT),
        "staff posts and timers": await runtime.timer_runner.due_count(lanes.STAFF),
        "plan messages": await runtime.dispatcher.due_count(),
    }
    return ", ".join(f"{count} {what} due" for what, count in counts.items())
