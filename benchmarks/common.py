"""Shared pieces: the emulator process, databases to measure against, settings, memory, sub-processes."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import make_url

from aftercare_bot.config import SHIPPED_MESSAGES_DIR, Settings
from aftercare_bot.db.migrate import upgrade
from aftercare_bot.db.session import create_engine, normalise_url

TOKEN = "123456:BENCH-token_for-the-emulator"
STAFF_CHAT_ID = -100200300
ADMIN_ID = 900001
ROOT = Path(__file__).resolve().parent.parent
EMULATOR_START_TIMEOUT = 30.0


def rss_mb() -> float:
    """Resident memory of this process now, in MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return peak_rss_mb()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; values need not be sorted."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def settings_for(database_url: str, api_url: str | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "telegram_api_base_url": api_url,
        "database_url": database_url,
        "staff_chat_id": STAFF_CHAT_ID,
        "admin_ids": [ADMIN_ID],
        "clinic_name": "Glow & Co",
        "clinic_phone": "+44 20 7946 0000",
        "clinic_timezone": "Europe/London",
        "quiet_hours": "off",
        "messages_dir": SHIPPED_MESSAGES_DIR,
        "flood_limits": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# -- the emulator, in a process of its own -------------------------------------------------------------


class EmulatorProcess:
    """Runs benchmarks/emulator_process.py and talks to its control API."""

    def __init__(self) -> None:
        self.api_url = ""
        self.control_url = ""
        self._process: asyncio.subprocess.Process | None = None
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> EmulatorProcess:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.emulator_process", "--token", TOKEN,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
        )
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), EMULATOR_START_TIMEOUT)
        addresses = json.loads(line)
        self.api_url, self.control_url = addresses["api"], addresses["control"]
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._http is not None:
            await self._http.close()
        process = self._process
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        assert self._http is not None
        async with self._http.request(method, self.control_url + path, json=body) as response:
            response.raise_for_status()
            return await response.json()

    async def add_users(self, first: int, count: int) -> None:
        await self._call("POST", "/users", {"first": first, "count": count})

    async def add_staff_group(self, chat_id: int, title: str, members: list[int]) -> None:
        await self._call("POST", "/group", {"id": chat_id, "title": title, "members": members})

    async def set_flood_limits(self, enabled: bool) -> None:
        await self._call("POST", "/flood", {"enabled": enabled})

    async def reset(self) -> None:
        await self._call("POST", "/reset")

    async def report(self) -> dict[str, Any]:
        return await self._call("GET", "/report")

    async def inbound(self, users: list[int], text: str, rate: float, wait_seconds: float) -> dict[str, Any]:
        """Each user writes `text` at `rate` per second; latency from queued update to the staff card."""
        body = {"users": users, "text": text, "rate": rate, "wait_seconds": wait_seconds}
        return await self._call("POST", "/inbound", body)


    async def burst(self, users: list[int], planned: list[int], *, text: str, rate: float, plan_due: float,
                    wait_seconds: float) -> dict[str, Any]:
        """Each user writes `text` at `rate` per second while the planned clients' messages fall due at
        `plan_due` (epoch seconds); see the emulator's /burst."""
        body = {"users": users, "planned": planned, "text": text, "rate": rate, "plan_due": plan_due,
                "wait_seconds": wait_seconds}
        return await self._call("POST", "/burst", body)


# -- databases ---------------------------------------------------------------------------------------


class Databases:
    """Fresh, migrated databases: SQLite files copied from one migrated template; PostgreSQL databases
    created on the given server and dropped when the benchmark ends."""

    def __init__(self, postgres_url: str | None, workdir: Path) -> None:
        self.postgres_url = normalise_url(postgres_url) if postgres_url else None
        self.workdir = workdir
        self._template: Path | None = None
        self._created: list[str] = []

    @property
    def backends(self) -> list[str]:
        return ["sqlite", "postgresql"] if self.postgres_url else ["sqlite"]

    async def fresh(self, backend: str, label: str) -> str:
        if backend == "sqlite":
            if self._template is None:
                self._template = self.workdir / "template.db"
                await _migrate(f"sqlite+aiosqlite:///{self._template}")
            path = self.workdir / f"{label}-{secrets.token_hex(3)}.db"
            shutil.copy(self._template, path)
            return f"sqlite+aiosqlite:///{path}"
        assert self.postgres_url is not None, "no PostgreSQL URL given"
        name = f"aftercare_bench_{label}_{secrets.token_hex(3)}"
        async with _admin(self.postgres_url) as admin:
            await admin.execute(text(f'CREATE DATABASE "{name}"'))
        self._created.append(name)
        url = make_url(self.postgres_url).set(database=name).render_as_string(hide_password=False)
        await _migrate(url)
        return url

    async def drop(self, url: str) -> None:
        parsed = make_url(url)
        if parsed.drivername.startswith("sqlite"):
            _remove_sqlite_files(str(parsed.database))
            return
        assert self.postgres_url is not None
        async with _admin(self.postgres_url) as admin:
            await admin.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        with contextlib.suppress(ValueError):
            self._created.remove(str(parsed.database))

    async def close(self) -> None:
        for name in list(self._created):
            assert self.postgres_url is not None
            url = make_url(self.postgres_url).set(database=name)
            await self.drop(url.render_as_string(hide_password=False))


def _remove_sqlite_files(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def _admin(url: str) -> AsyncIterator[Any]:
    engine = create_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def temporary_workdir() -> Path:
    """A scratch folder for SQLite files, removed when the process ends."""
    path = Path(tempfile.mkdtemp(prefix="aftercare-bench-"))
    atexit.register(shutil.rmtree, path, True)
    return path


# -- measurements in child processes -------------------------------------------------------------------


def run_child(module: str, arguments: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run ``python -m benchmarks.<module>`` with JSON arguments; its last stdout line is its JSON result.

    A fresh process per measurement keeps resident memory comparable between the things measured.
    """
    completed = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", json.dumps(arguments)],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"benchmarks.{module} failed ({completed.returncode}):\n{completed.stderr[-4000:]}"
        )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def child_main(measure: Callable[[dict[str, Any]], Any]) -> None:
    """Entry point of a child process: arguments as JSON in argv[1], the result as JSON on stdout."""
    arguments = json.loads(sys.argv[1])
    result = asyncio.run(measure(arguments))
    print(json.dumps(result), flush=True)


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


# -- the bot under test --------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running_bot(
    settings: Settings, *, start: bool = False, poll: bool = False, clock: Any = None
) -> AsyncIterator[Any]:
    """The real Application as `aftercare-bot run` builds it.

    `start` also runs its JobQueue (which wakes the dispatcher), `poll` its updater.
    """
    from aftercare_bot.app import build_application, build_services

    services = build_services(settings, clock=clock)
    application = build_application(services)
    await application.initialize()
    # run_polling() would call these hooks; starting by hand, they are called explicitly.
    if application.post_init:
        await application.post_init(application)
    try:
        if start or poll:
            await application.start()
        if poll:
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0.0, timeout=10)
        yield application
    finally:
        if application.updater and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)


class LoopWatch:
    """How late this process's event loop wakes up, and how long garbage collection pauses it.

    A stall bunches up messages that the rate limiter had spaced out, so both ends of a flood-limit
    measurement are watched."""

    TICK = 0.01

    def __init__(self) -> None:
        self.worst_lag = 0.0
        self.stalls_over_50ms = 0
        self.worst_gc_pause = 0.0
        self._gc_started = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        import gc

        gc.callbacks.append(self._on_gc)
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> dict[str, float]:
        import gc

        gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return {"worst_loop_lag_ms": self.worst_lag * 1000, "loop_stalls_over_50ms": self.stalls_over_50ms,
                "worst_gc_pause_ms": self.worst_gc_pause * 1000}

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.worst_gc_pause = max(self.worst_gc_pause, time.perf_counter() - self._gc_started)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.TICK)
            lag = loop.time() - started - self.TICK
            self.worst_lag = max(self.worst_lag, lag)
            self.stalls_over_50ms += lag > 0.05
