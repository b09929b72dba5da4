"""Flood-limit fidelity: a backlog of due messages drained by the running bot with FLOOD_LIMITS=true,
against an emulator that enforces Telegram's limits (30 messages/s overall, 1/s per chat, 20/min per group)
and answers 429 to anything beyond them.

Some clients have two messages due at once (as after downtime), so the per-chat limit is exercised too.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from aftercare_bot.db.models import Delivery, DeliveryState
from benchmarks.common import (
    Databases,
    EmulatorProcess,
    LoopWatch,
    Stopwatch,
    child_main,
    running_bot,
    settings_for,
    temporary_workdir,
)
from benchmarks.seeding import Backlog, seed

TELEGRAM_OVERALL_LIMIT = 30.0
FIRST_SINGLE = 2_000_000
FIRST_PAIRED = 3_000_000
PAIRED_SHARE = 0.1  # of the rows belong to clients with two messages due together


async def sent_count(services: Any) -> int:
    async with services.session_factory() as session:
        return await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.SENT)
        ) or 0


async def measure(arguments: dict[str, Any]) -> dict[str, Any]:
    rows = int(arguments["rows"])
    paired_clients = int(rows * PAIRED_SHARE / 2)
    single_clients = rows - 2 * paired_clients
    # All due; spread over the past minute, so that the two kinds of clients are interleaved in the queue.
    due, spread = datetime.now(UTC) - timedelta(minutes=2), timedelta(minutes=1)
    databases = Databases(None, temporary_workdir())
    url = await databases.fresh("sqlite", "flood")
    await seed(url, Backlog(FIRST_SINGLE, single_clients, send_at=due, spread=spread))
    await seed(url, Backlog(FIRST_PAIRED, paired_clients, send_at=due, rows_per_client=2, spread=spread))
    # Bounded: the drain should take rows/30 s; allow twice that plus start-up.
    limit_seconds = 2 * rows / TELEGRAM_OVERALL_LIMIT + 60
    async with EmulatorProcess() as telegram:
        await telegram.add_users(FIRST_SINGLE, single_clients)
        await telegram.add_users(FIRST_PAIRED, paired_clients)
        await telegram.set_flood_limits(True)
        await telegram.reset()
        settings = settings_for(url, telegram.api_url, flood_limits=True, dispatch_tick="5s")
        watch, bot_loop = Stopwatch(), LoopWatch()
        bot_loop.start()
        async with running_bot(settings, start=True) as application:  # the JobQueue wakes the dispatcher
            services = application.bot_data["services"]
            sent = 0
            while watch.seconds < limit_seconds:
                sent = await sent_count(services)
                if sent >= rows:
                    break
                await asyncio.sleep(0.5)
            drain_seconds = watch.seconds
        bot_stalls = await bot_loop.stop()
        report = await telegram.report()
    await databases.drop(url)
    emulator_sent = report["sent"]
    rate = emulator_sent.get("rate") or 0.0
    return {
        "rows": rows,
        "clients_with_two_due": paired_clients,
        "recorded_sent": sent,
        "drained": sent >= rows,
        "drain_seconds": drain_seconds,
        "rate": rate,
        "share_of_limit": rate / TELEGRAM_OVERALL_LIMIT,
        "too_many_requests": report["too_many_requests"],
        "flood_limited": report["flood_limited"],
        "max_sent_in_any_second": emulator_sent.get("max_in_1s", 0),
        "max_per_chat_in_any_second": emulator_sent.get("max_per_private_chat_in_1s", 0),
        "send_calls": report["calls"].get("sendMessage", 0),
        "gaps_over_100ms": emulator_sent.get("gaps_over_100ms", 0),
        "seconds_in_gaps_over_100ms": emulator_sent.get("seconds_in_gaps_over_100ms", 0.0),
        "longest_gap": emulator_sent.get("longest_gap", 0.0),
        "pauses_at": emulator_sent.get("pauses_at", []),
        "shortest_span_of_30": emulator_sent.get("shortest_span_of_30"),
        "bot_process": bot_stalls,
        "emulator_process": {key: report[key] for key in
                             ("worst_loop_lag_ms", "loop_stalls_over_50ms", "worst_gc_pause_ms")},
    }


if __name__ == "__main__":
    child_main(measure)
