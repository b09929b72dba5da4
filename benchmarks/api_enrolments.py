"""Enrolments through the API over real HTTP on 127.0.0.1, and a CSV import, on SQLite (or PostgreSQL).

    .venv/bin/python -m benchmarks.api_enrolments [--postgres URL] [--count 500]

Not part of `python -m benchmarks`: a separate, quick measurement (about ten seconds on SQLite).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import make_url

from aftercare_bot.api.server import EnrolmentApi
from aftercare_bot.app import build_services
from aftercare_bot.bot.health import HealthMonitor
from aftercare_bot.bot.webhook import BotWebServer
from aftercare_bot.clients import api_keys, csv_import
from aftercare_bot.clients.booking import Rules
from aftercare_bot.config import SHIPPED_MESSAGES_DIR, Settings
from aftercare_bot.db.migrate import upgrade
from aftercare_bot.db.session import create_engine, normalise_url


async def run(database_url: str, count: int) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, telegram_bot_token="123456:BENCH-token", database_url=database_url, admin_ids=[1],
        clinic_phone="+44 20 7946 0000", messages_dir=SHIPPED_MESSAGES_DIR, api_rate_limit=100_000,
    )
    services = build_services(settings)
    await upgrade(services.engine)
    async with services.session_factory.begin() as session:
        _, key = await api_keys.create(session, "bench", created_by=None, now=services.clock.now())
    server = BotWebServer(HealthMonitor(services, "polling"), host="127.0.0.1", port=0,
                          api=EnrolmentApi(services, lambda: "bench_bot"))
    await server.start()
    start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    url = f"http://127.0.0.1:{server.port}/api/v1/enrolments"
    headers = {"Authorization": f"Bearer {key}"}
    timings: dict[str, list[float]] = {"create": [], "repeat": [], "status": []}
    async with aiohttp.ClientSession(headers=headers) as http:
        for phase in ("create", "repeat"):
            for n in range(count):
                body = {"external_id": f"b-{n}", "name": f"Client {n}", "treatment": "microneedling",
                        "session_start": start, "phone": f"+4474001{n:05d}"}
                began = time.perf_counter()
                async with http.post(url, json=body) as answer:
                    assert answer.status == (201 if phase == "create" else 200), await answer.text()
                timings[phase].append(time.perf_counter() - began)
        for n in range(count):
            began = time.perf_counter()
            async with http.get(f"{url}/b-{n}") as answer:
                assert answer.status == 200
            timings["status"].append(time.perf_counter() - began)
    await server.stop()
    rows = "\n".join(f"c-{n},Client {n},microneedling,{start},+4474002{n:05d}" for n in range(1000))
    text = "external_id,name,treatment,session_start,phone\n" + rows
    rules = Rules.of(settings, services.catalog.treatments(), services.clock.now())
    imports = []
    for _ in range(2):
        began = time.perf_counter()
        report = await csv_import.import_csv(services.session_factory, text, rules=rules, actor_id=None,
                                             now=services.clock.now(), settings=settings)
        imports.append(time.perf_counter() - began)
        assert not report.problems
    await services.engine.dispose()
    backend = services.engine.dialect.name
    for phase, values in timings.items():
        ms = sorted(v * 1000 for v in values)
        print(f"{backend} {phase:7} n={len(ms)} median {statistics.median(ms):.1f} ms, "
              f"p95 {ms[int(len(ms) * 0.95)]:.1f} ms, {len(ms) / sum(values):.0f}/s one at a time")
    print(f"{backend} CSV import of 1000 rows: {imports[0]:.2f} s; the same file again: {imports[1]:.2f} s")


async def on_postgres(server_url: str, count: int) -> None:
    """In a database of its own on the server, created and dropped here."""
    admin_url = normalise_url(server_url)
    name = f"aftercare_apibench_{secrets.token_hex(4)}"
    admin = create_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        await run(make_url(admin_url).set(database=name).render_as_string(hide_password=False), count)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="a PostgreSQL server URL (a database is created and dropped on it)")
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    if args.postgres:
        asyncio.run(on_postgres(args.postgres, args.count))
        return
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", args.count))


if __name__ == "__main__":
    main()
