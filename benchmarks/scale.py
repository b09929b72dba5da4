"""Scale: the dispatcher's idle tick (a run_due pass with nothing due, and next_due) and the memory of the
process, with 10k, 100k and 1M messages pending, on SQLite and PostgreSQL.

The rows are spread over the six weeks of a plan and none is due, which is how a live bot spends almost
all of its ticks. Each size is measured in a fresh process, so resident memory is comparable.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from aftercare_bot.db.models import Client
from aftercare_bot.delivery.dispatcher import Dispatcher
from aftercare_bot.delivery.ports import OutboundMessage
from benchmarks.common import (
    Databases,
    child_main,
    median,
    percentile,
    rss_mb,
    run_child,
    settings_for,
    temporary_workdir,
)
from benchmarks.seeding import Backlog, plan_steps, seed

FIRST_USER = 10_000_000
CHILD_TIMEOUT = 600.0


class NothingIsSent:
    async def send(self, message: OutboundMessage) -> int:
        raise AssertionError("nothing is due in this measurement")


async def _never_blocked(client: Client, cancelled: int) -> None:
    raise AssertionError("nothing is sent in this measurement")


async def measure_idle_tick(url: str, passes: int) -> dict[str, Any]:
    from aftercare_bot.app import build_services

    settings = settings_for(url)
    services = build_services(settings)
    dispatcher = Dispatcher(
        settings=settings, session_factory=services.session_factory, sender=NothingIsSent(),
        clock=services.clock, composer=services.composer, on_blocked=_never_blocked, owner="benchmark",
    )
    try:
        started = time.perf_counter()
        first = await dispatcher.run_due()  # includes connecting to the database
        await dispatcher.next_due()
        first_seconds = time.perf_counter() - started
        assert first.sent == 0, "nothing should be due"
        ticks, lookups = [], []
        for _ in range(passes):
            started = time.perf_counter()
            await dispatcher.run_due()
            ticks.append(time.perf_counter() - started)
            started = time.perf_counter()
            next_due = await dispatcher.next_due()
            lookups.append(time.perf_counter() - started)
        assert next_due is not None and next_due > datetime.now(UTC)
        plans = await query_plans(services.engine, dispatcher)
        return {
            "first_tick_ms": first_seconds * 1000,
            "run_due_ms": median(ticks) * 1000,
            "run_due_p95_ms": percentile(ticks, 0.95) * 1000,
            "next_due_ms": median(lookups) * 1000,
            "next_due_p95_ms": percentile(lookups, 0.95) * 1000,
            "rss_mb": rss_mb(),
            "full_scans": [plan for plan in plans if _is_full_scan(plan)],
            "plans": plans,
        }
    finally:
        await services.engine.dispose()


async def query_plans(engine: AsyncEngine, dispatcher: Dispatcher) -> list[str]:
    """The database's plan for each statement on deliveries that an idle tick runs, as one line each."""
    statements: list[tuple[str, Any]] = []

    def capture(connection: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "deliveries" in statement and not statement.lstrip().upper().startswith(("BEGIN", "COMMIT")):
            statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        await dispatcher.run_due()
        await dispatcher.next_due()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    sqlite = engine.dialect.name == "sqlite"
    plans = []
    async with engine.connect() as connection:
        for statement, parameters in statements:
            explain = ("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement
            result = await connection.exec_driver_sql(explain, parameters)
            lines = [str(row[-1]) if sqlite else str(row[0]).strip() for row in result]
            plans.append(f"{' '.join(statement.split())[:60]}… → " + " | ".join(lines))
        await connection.rollback()
    return plans


def _is_full_scan(plan: str) -> bool:
    """SQLite says SCAN for a table read from start to end; PostgreSQL says Seq Scan."""
    steps = plan.split(" → ", 1)[-1]
    return bool(re.search(r"\bSCAN deliveries\b(?! USING)|Seq Scan on deliveries", steps))


def _database_size_mb(url: str) -> float | None:
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    return sum(
        Path(f"{parsed.database}{suffix}").stat().st_size
        for suffix in ("", "-wal")
        if Path(f"{parsed.database}{suffix}").exists()
    ) / 2**20


async def run_backend(
    backend: str, sizes: list[int], passes: int, postgres_url: str | None
) -> list[dict[str, Any]]:
    """Grow one database through the sizes; measure each in a child process."""
    databases = Databases(postgres_url, temporary_workdir())
    url = await databases.fresh(backend, "scale")
    steps = len(plan_steps())
    results, clients_so_far = [], 0
    try:
        for size in sizes:
            clients = size // steps - clients_so_far
            started = time.perf_counter()
            await seed(url, Backlog(
                FIRST_USER + clients_so_far, clients, send_at=datetime.now(UTC) + timedelta(hours=1),
                rows_per_client=steps, spread=timedelta(weeks=6),
            ))
            seed_seconds = time.perf_counter() - started
            clients_so_far += clients
            measured = run_child("scale", {"mode": "measure", "url": url, "passes": passes}, CHILD_TIMEOUT)
            results.append({
                "backend": backend, "pending": clients_so_far * steps, "seed_seconds": seed_seconds,
                "database_mb": _database_size_mb(url), **measured,
            })
    finally:
        await databases.drop(url)
        await databases.close()
    return results


async def measure(arguments: dict[str, Any]) -> Any:
    if arguments.get("mode") == "measure":
        return await measure_idle_tick(arguments["url"], int(arguments["passes"]))
    rows = []
    for backend in arguments["backends"]:
        passes = int(arguments["passes"])
        rows += await run_backend(backend, arguments["sizes"], passes, arguments.get("postgres"))
    return {"rows": rows, "flat": flatness(rows)}


def flatness(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per backend: the largest size against the smallest; flat when the tick and memory barely move."""
    verdicts: dict[str, dict[str, Any]] = {}
    for backend in sorted({row["backend"] for row in rows}):
        mine = sorted((row for row in rows if row["backend"] == backend), key=lambda row: row["pending"])
        small, large = mine[0], mine[-1]
        tick_ratio = large["run_due_ms"] / small["run_due_ms"]
        next_ratio = large["next_due_ms"] / small["next_due_ms"]
        rss_growth = large["rss_mb"] - small["rss_mb"]
        verdicts[backend] = {
            "from": small["pending"], "to": large["pending"],
            "run_due_ratio": tick_ratio, "next_due_ratio": next_ratio, "rss_growth_mb": rss_growth,
            "full_scans": large["full_scans"],
            # A scan grows with the rows (100x here); an index lookup barely moves. Timings on a shared
            # machine are noisy, so the plans decide as much as the ratios do.
            "flat": not large["full_scans"] and tick_ratio < 3.0 and next_ratio < 3.0 and rss_growth < 20.0,
        }
    return verdicts


if __name__ == "__main__":
    child_main(measure)
