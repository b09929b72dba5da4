"""The naive design next to this bot's: one in-memory APScheduler job per message (JobQueue.run_once, as
in python-telegram-bot's timer example) against the schedule kept in the database.

Start-up is timed from a fresh process with its imports done: for the naive design, scheduling every
message and starting the scheduler; for this bot, building the application, starting its JobQueue and
running the first pass and next-wake-up query over the pending rows. Memory is the process's resident
set afterwards. Each side runs in its own process.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.common import (
    TOKEN,
    Databases,
    child_main,
    rss_mb,
    run_child,
    settings_for,
    temporary_workdir,
)
from benchmarks.seeding import Backlog, plan_steps, seed

FIRST_USER = 20_000_000
CHILD_TIMEOUT = 900.0
SPREAD = timedelta(weeks=6)


async def naive_start(messages: int) -> dict[str, Any]:
    from telegram.ext import ApplicationBuilder, ContextTypes

    async def send_step(context: ContextTypes.DEFAULT_TYPE) -> None:
        raise AssertionError("nothing is due during the measurement")

    steps = [key for key, _checkin in plan_steps()]
    imported_rss = rss_mb()
    started = time.perf_counter()
    application = ApplicationBuilder().token(TOKEN).build()
    queue = application.job_queue
    assert queue is not None, "install python-telegram-bot[job-queue]"
    first = datetime.now(UTC) + timedelta(hours=1)
    for number in range(messages):
        user_id, step = FIRST_USER + number // len(steps), steps[number % len(steps)]
        queue.run_once(send_step, when=first + SPREAD * (number / messages), chat_id=user_id,
                       name=f"{user_id}:{step}", data=step)
    await queue.start()  # APScheduler adds the jobs scheduled so far to its job store here
    seconds = time.perf_counter() - started
    next_run = min(job.next_t for job in queue.jobs() if job.next_t is not None)
    result = {"start_seconds": seconds, "rss_mb": rss_mb(), "imported_rss_mb": imported_rss,
              "jobs": len(queue.jobs()), "next_wake_up": next_run.isoformat()}
    await queue.stop(wait=False)
    return result


async def database_start(url: str) -> dict[str, Any]:
    from aftercare_bot.app import build_application, build_services, replica_name
    from aftercare_bot.bot.telegram.sender import TelegramSender
    from aftercare_bot.delivery.dispatcher import Dispatcher

    async def blocked(client: Any, cancelled: int) -> None:
        raise AssertionError("nothing is sent during the measurement")

    imported_rss = rss_mb()
    started = time.perf_counter()
    services = build_services(settings_for(url))
    application = build_application(services)
    dispatcher = Dispatcher(
        settings=services.settings, session_factory=services.session_factory,
        sender=TelegramSender(application.bot), clock=services.clock, composer=services.composer,
        on_blocked=blocked, owner=replica_name(),
    )
    queue = application.job_queue
    assert queue is not None
    await queue.start()
    report = await dispatcher.run_due()
    next_run = await dispatcher.next_due()
    seconds = time.perf_counter() - started
    assert report.sent == 0 and next_run is not None
    result = {"start_seconds": seconds, "rss_mb": rss_mb(), "imported_rss_mb": imported_rss,
              "next_wake_up": next_run.isoformat()}
    await queue.stop(wait=False)
    await services.engine.dispose()
    return result


async def compare(messages: int, backends: list[str], postgres_url: str | None) -> dict[str, Any]:
    naive = run_child("peer", {"mode": "naive", "messages": messages}, CHILD_TIMEOUT)
    steps = len(plan_steps())
    ours: dict[str, Any] = {}
    databases = Databases(postgres_url, temporary_workdir())
    try:
        for backend in backends:
            url = await databases.fresh(backend, "peer")
            first_send = datetime.now(UTC) + timedelta(hours=1)
            await seed(url, Backlog(FIRST_USER, messages // steps, send_at=first_send, rows_per_client=steps,
                                    spread=SPREAD))
            ours[backend] = run_child("peer", {"mode": "database", "url": url}, CHILD_TIMEOUT)
            ours[backend]["pending"] = messages // steps * steps
            await databases.drop(url)
    finally:
        await databases.close()
    return {
        "messages": messages,
        "naive": naive,
        "bot": ours,
        "ratios": {
            backend: {
                "start_time_naive_over_bot": naive["start_seconds"] / side["start_seconds"],
                "rss_naive_over_bot": naive["rss_mb"] / side["rss_mb"],
                "rss_added_naive_over_bot": (naive["rss_mb"] - naive["imported_rss_mb"])
                / max(side["rss_mb"] - side["imported_rss_mb"], 1.0),
            }
            for backend, side in ours.items()
        },
    }


async def measure(arguments: dict[str, Any]) -> Any:
    mode = arguments.get("mode")
    if mode == "naive":
        return await naive_start(int(arguments["messages"]))
    if mode == "database":
        return await database_start(arguments["url"])
    return await compare(int(arguments["messages"]), arguments["backends"], arguments.get("postgres"))


if __name__ == "__main__":
    child_main(measure)
