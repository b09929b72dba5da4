"""Inbound: from a client's red-flag message reaching the bot (the update queued in the emulator) to the
case card posted in the staff chat, with messages from different clients arriving at a steady rate.

The running bot polls the emulator as it polls Telegram; both moments are taken by the emulator's clock.
Measured at the rate asked for (100 a second) and at a calm rate, which shows the latency without a queue.
Flood limits are off: 100 cards a second into one staff group is far beyond Telegram's 20 a minute, so
with them on this would measure the limiter's queue rather than the bot.
"""

from __future__ import annotations

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

FIRST_USER = 30_000_000
WARM_UP_CLIENTS = 5
RED_FLAG = "I have a fever and yellow pus on my cheek since this morning"


def _summary(result: dict[str, Any], messages: int, rate: float) -> dict[str, Any]:
    latencies = result["latencies"]
    return {
        "messages": messages,
        "rate": rate,
        "offered_rate": result["offered_rate"],
        "card_rate": result["card_rate"],
        "cards": len(latencies),
        "missing": result["missing"],
        "p50_ms": median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies, default=float("nan")) * 1000,
    }


async def measure(arguments: dict[str, Any]) -> dict[str, Any]:
    messages, rate = int(arguments["messages"]), float(arguments["rate"])
    calm_messages, calm_rate = int(arguments["calm_messages"]), float(arguments["calm_rate"])
    # One client per message: a second message from a client joins their open case instead of a new card.
    clients = WARM_UP_CLIENTS + calm_messages + messages
    databases = Databases(None, temporary_workdir())
    url = await databases.fresh("sqlite", "inbound")
    # Enrolled clients, their plans not yet due (a message is routed with the client's enrolment).
    await seed(url, Backlog(FIRST_USER, clients, send_at=datetime.now(UTC) + timedelta(days=1)))
    users = list(range(FIRST_USER, FIRST_USER + clients))
    warm_up, calm, busy = (users[:WARM_UP_CLIENTS], users[WARM_UP_CLIENTS:WARM_UP_CLIENTS + calm_messages],
                           users[WARM_UP_CLIENTS + calm_messages:])
    async with EmulatorProcess() as telegram:
        await telegram.add_users(FIRST_USER, clients)
        await telegram.add_staff_group(STAFF_CHAT_ID, "Clinic team", [ADMIN_ID])
        settings = settings_for(url, telegram.api_url, flood_limits=False)
        async with running_bot(settings, poll=True):
            warmed = await telegram.inbound(warm_up, RED_FLAG, rate=5, wait_seconds=30)
            assert not warmed["missing"], "the staff card of a warm-up message never came"
            calm_result = await telegram.inbound(calm, RED_FLAG, rate=calm_rate,
                                                 wait_seconds=60 + calm_messages / calm_rate)
            await telegram.reset()
            # Bounded, allowing for a bot that posts only a few cards a second.
            busy_result = await telegram.inbound(busy, RED_FLAG, rate=rate, wait_seconds=60 + messages / 3)
            report = await telegram.report()
    await databases.drop(url)
    return {
        **_summary(busy_result, messages, rate),
        "calm": _summary(calm_result, calm_messages, calm_rate),
        "errors": report["errors"],
        "spec_violations": report["spec_violations"],
    }


if __name__ == "__main__":
    child_main(measure)
