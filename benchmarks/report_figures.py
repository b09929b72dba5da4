"""The manager's report at scale: its figures over a million plan messages and ten thousand cases, on SQLite and
PostgreSQL, for a whole year (every row in the period) and for the last 30 days; and drawing the chart.

The rows are spread over a year that has passed: nine in ten sent, the rest skipped, failed or cancelled, one in
seven held by quiet hours, most check-ins answered within hours.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text

from aftercare_bot.db.models import AuditEvent, Escalation
from benchmarks.common import Databases, child_main, median, run_child, settings_for, temporary_workdir
from benchmarks.seeding import Backlog, plan_steps, seed

FIRST_USER = 20_000_000
CHILD_TIMEOUT = 900.0
YEAR = timedelta(days=365)

_STATES = """
UPDATE deliveries SET
  state = CASE WHEN id % 50 = 0 THEN 'skipped' WHEN id % 97 = 0 THEN 'failed' WHEN id % 61 = 0 THEN 'cancelled'
               ELSE 'sent' END,
  quiet_held = (id % 7 = 0)
"""
_SENT_AT = "UPDATE deliveries SET sent_at = send_at WHERE state = 'sent'"
_ANSWERS = {
    "sqlite": """UPDATE deliveries SET
        answer = CASE WHEN id % 5 = 0 THEN 'worried' WHEN id % 23 = 0 THEN 'urgent' ELSE 'ok' END,
        answered_at = strftime('%Y-%m-%d %H:%M:%f', sent_at, '+' || ((id * 37) % 14400) || ' seconds')
        WHERE checkin AND state = 'sent' AND id % 8 != 0""",
    "postgresql": """UPDATE deliveries SET
        answer = CASE WHEN id % 5 = 0 THEN 'worried' WHEN id % 23 = 0 THEN 'urgent' ELSE 'ok' END,
        answered_at = sent_at + ((id * 37) % 14400) * interval '1 second'
        WHERE checkin AND state = 'sent' AND id % 8 != 0""",
}
_SESSIONS = {
    "sqlite": "UPDATE enrolments SET session_at = (SELECT strftime('%Y-%m-%d %H:%M:%f', min(d.due_at), '-4 hours') "
              "FROM deliveries d WHERE d.enrolment_id = enrolments.id)",
    "postgresql": "UPDATE enrolments SET session_at = sub.first - interval '4 hours' FROM (SELECT enrolment_id, "
                  "min(due_at) AS first FROM deliveries GROUP BY enrolment_id) sub WHERE sub.enrolment_id = "
                  "enrolments.id",
}


async def _shape(url: str, start: datetime, cases: int, clients: int) -> None:
    """States, answers, sessions; cases and audit events spread over the year."""
    from aftercare_bot.db.session import create_engine

    engine = create_engine(url)
    backend = engine.dialect.name
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: _write(sync.execute, backend, start, cases, clients))
        if backend == "postgresql":
            async with engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


def _write(execute: Any, backend: str, start: datetime, cases: int, clients: int) -> None:
    for statement in (_STATES, _SENT_AT, _ANSWERS[backend], _SESSIONS[backend]):
        execute(text(statement))
    step = YEAR / cases
    execute(insert(Escalation), [
        {"client_id": 1 + n % clients, "level": "urgent" if n % 4 == 0 else "concern",
         "kind": "no_response" if n % 5 == 0 else "message",
         "reasons": "Check-in answer: worried" if n % 3 == 0 else "red flag", "state": "resolved",
         "created_at": start + step * n, "claimed_at": start + step * n + timedelta(seconds=60 + (n * 53) % 3000),
         "resolved_at": start + step * n + timedelta(seconds=600 + (n * 97) % 20000)}
        for n in range(cases)
    ])
    actions = ("invite_created", "invite_opened", "enrolled", "client_stopped", "escalation_realerted")
    events = 5 * cases
    execute(insert(AuditEvent), [
        {"at": start + YEAR / events * n, "action": actions[n % len(actions)], "client_id": 1 + n % clients,
         "detail": {}}
        for n in range(events)
    ])


async def measure_report(url: str, runs: int) -> dict[str, Any]:
    from aftercare_bot.app import build_services
    from aftercare_bot.reporting import charts
    from aftercare_bot.reporting.build import Words, figures, step_names
    from aftercare_bot.reporting.period import Period

    services = build_services(settings_for(url))
    now = services.clock.now()
    try:
        results: dict[str, Any] = {}
        for name, period in (("year", Period(now - YEAR, now)), ("month", Period(now - timedelta(days=30), now))):
            await figures(services, period)  # connects, warms the cache
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                found = await figures(services, period)
                times.append(time.perf_counter() - started)
            results[f"{name}_seconds"] = median(times)
            results[f"{name}_max_seconds"] = max(times)
            results[f"{name}_deliveries"] = found.total("due")
            results[f"{name}_cases"] = found.cases_opened
        words = Words(services, "en")
        labels = charts.Labels.from_texts(lambda key, **values: services.label(key, "en", **values),
                                          step_names(services))
        started = time.perf_counter()
        png = charts.draw(found, "Benchmark", labels, words.duration)
        results["draw_seconds"] = time.perf_counter() - started
        results["png_bytes"] = len(png)
        return results
    finally:
        await services.engine.dispose()


async def run_backend(backend: str, deliveries: int, cases: int, runs: int, postgres_url: str | None) -> dict[str, Any]:
    databases = Databases(postgres_url, temporary_workdir())
    url = await databases.fresh(backend, "report")
    steps = len(plan_steps())
    clients = deliveries // steps
    try:
        start = datetime.now(UTC) - YEAR
        started = time.perf_counter()
        await seed(url, Backlog(FIRST_USER, clients, send_at=start + timedelta(hours=1), rows_per_client=steps,
                                spread=YEAR - timedelta(days=2)))
        await _shape(url, start, cases, clients)
        seed_seconds = time.perf_counter() - started
        measured = run_child("report_figures", {"mode": "measure", "url": url, "runs": runs}, CHILD_TIMEOUT)
        return {"backend": backend, "deliveries": clients * steps, "cases": cases, "seed_seconds": seed_seconds,
                **measured}
    finally:
        await databases.drop(url)
        await databases.close()


async def measure(arguments: dict[str, Any]) -> Any:
    if arguments.get("mode") == "measure":
        return await measure_report(arguments["url"], int(arguments["runs"]))
    rows = [await run_backend(backend, int(arguments["deliveries"]), int(arguments["cases"]), int(arguments["runs"]),
                              arguments.get("postgres"))
            for backend in arguments["backends"]]
    return {"rows": rows, "goal_seconds": 2.0,
            "met": all(row["year_seconds"] < 2.0 and row["month_seconds"] < 2.0 for row in rows)}


if __name__ == "__main__":
    child_main(measure)
