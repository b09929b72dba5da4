"""Bursts with Telegram's limits on: red flags arriving together, the emulator enforcing Telegram's flood limits
(30 messages/s overall, 1/s per chat, 20/min in the staff group) and answering 429 beyond them, while other
clients' plan messages fall due.

Each burst is a number of red flags arriving at a rate: 100 a second, and 20 a second, which Telegram's 30
messages a second overall can answer as they come; on the free tier, and with SAFETY_PAID_BROADCAST (safety
replies sent as paid broadcasts while the overall limit is saturated). For each: how long each writer waited for
the safety answer, when every case was shown to staff (its card, or its line in a digest), how late the plan
messages falling due during the burst went out, whether Telegram ever answered 429, and how many messages were
paid for (0.1 Telegram Star each).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.common import (
    ADMIN_ID,
    STAFF_CHAT_ID,
    Databases,
    EmulatorProcess,
    child_main,
    median,
    percentile,
    running_bot,
    settings_for,
    temporary_workdir,
)
from benchmarks.seeding import Backlog, seed

FIRST_WRITER, FIRST_PLANNED = 40_000_000, 50_000_000
PLAN_CLIENTS = 20
PLAN_DUE_AFTER = 5.0  # seconds after the burst starts
RED_FLAG = "I have a fever and yellow pus on my cheek since this morning"
STARS_PER_PAID_MESSAGE = 0.1


async def one_burst(size: int, rate: float, paid: bool = False) -> dict[str, Any]:
    databases = Databases(None, temporary_workdir())
    url = await databases.fresh("sqlite", f"burst{size}")
    await seed(url, Backlog(FIRST_WRITER, size, send_at=datetime.now(UTC) + timedelta(days=1)))
    # Plan messages due a few seconds into the burst; the bot starts within them.
    start_margin = 3.0
    plan_due = time.time() + start_margin + PLAN_DUE_AFTER
    await seed(url, Backlog(FIRST_PLANNED, PLAN_CLIENTS, send_at=datetime.fromtimestamp(plan_due, UTC),
                            grace=timedelta(hours=1)))
    async with EmulatorProcess() as telegram:
        await telegram.add_users(FIRST_WRITER, size)
        await telegram.add_users(FIRST_PLANNED, PLAN_CLIENTS)
        await telegram.add_staff_group(STAFF_CHAT_ID, "Clinic team", [ADMIN_ID])
        await telegram.set_flood_limits(True)
        settings = settings_for(url, telegram.api_url, flood_limits=True, quiet_hours="off", dispatch_tick="5s",
                                safety_paid_broadcast=paid)
        async with running_bot(settings, start=True, poll=True):
            await telegram.reset()
            wait = max(start_margin + 0.0, plan_due - time.time())
            wait_for_all = 120 + size / 5
            result = await telegram.burst(
                list(range(FIRST_WRITER, FIRST_WRITER + size)),
                list(range(FIRST_PLANNED, FIRST_PLANNED + PLAN_CLIENTS)),
                text=RED_FLAG, rate=rate, plan_due=plan_due, wait_seconds=wait_for_all + wait,
            )
            report = await telegram.report()
    await databases.drop(url)
    answers, shown, lateness = result["answers"], result["shown"], result["plan_lateness"]
    staff_sends = report["calls"].get("sendMessage", 0)
    return {
        "red_flags": size,
        "rate": rate,
        "tier": "paid" if paid else "free",
        "written_in_s": result["written_in"],
        "answered": len(answers),
        "answer_p50_ms": median(answers) * 1000,
        "answer_p99_ms": percentile(answers, 0.99) * 1000,
        "answer_max_ms": max(answers, default=float("nan")) * 1000,
        "cases_shown": len(shown),
        "all_shown_after_s": shown[-1] if len(shown) >= size else None,
        "half_shown_after_s": shown[len(shown) // 2] if shown else None,
        "plan_messages": len(lateness),
        "plan_late_max_s": max(lateness, default=float("nan")),
        "plan_late_p50_s": median(lateness),
        "too_many_requests": report["too_many_requests"],
        "flood_limited": report["flood_limited"],
        "send_calls": staff_sends,
        "paid_broadcasts": report["paid_broadcasts"],
        "stars_spent": report["paid_broadcasts"] * STARS_PER_PAID_MESSAGE,
    }


async def measure(arguments: dict[str, Any]) -> dict[str, Any]:
    """`bursts`: [red flags, rate per second], with "paid" as a third item for SAFETY_PAID_BROADCAST."""
    runs = []
    for size, rate, *tier in arguments["bursts"]:
        runs.append(await one_burst(int(size), float(rate), paid=tier == ["paid"]))
    return {"bursts": runs}


if __name__ == "__main__":
    child_main(measure)
