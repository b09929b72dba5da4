"""The bot as a separate process (`python -m aftercare_bot run`), for tests of signals and several replicas.

The Bot API emulator runs in the test's own event loop; the process reaches it over HTTP like Telegram.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import func, insert, select

from aftercare_bot.bot.health import HEALTH_PATH
from aftercare_bot.config import Settings
from aftercare_bot.db.models import Client, ClientStatus, Delivery, DeliveryState, Enrolment, EnrolmentState
from aftercare_bot.db.session import create_engine
from tests.conftest import TOKEN

WEBHOOK_SECRET = "replica-test_secret-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bot_environment(**settings: object) -> dict[str, str]:
    """This process's environment without any bot setting, plus `settings` (names as in Settings)."""
    env = {name: value for name, value in os.environ.items() if name.lower() not in Settings.model_fields}
    env.update({name.upper(): str(value) for name, value in settings.items()})
    env.setdefault("TELEGRAM_BOT_TOKEN", TOKEN)
    env.setdefault("CLINIC_PHONE", "+44 20 7946 0000")
    env.setdefault("ADMIN_IDS", "900001")  # someone must receive escalations
    env.setdefault("QUIET_HOURS", "off")  # tests send "now", whatever the time of day
    env.setdefault("FLOOD_LIMITS", "false")
    return env


class BotProcess:
    def __init__(self, folder: Path, name: str, env: dict[str, str], *args: str) -> None:
        self.folder = folder
        self.log_path = folder / f"{name}.log"
        self.env = env
        self.args = args
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("wb") as log:
            # The folder holds no .env file, so only `env` configures the bot.
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "aftercare_bot", "run", *self.args,
                env=self.env, cwd=self.folder, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_healthy(self, port: int, timeout: float = 30.0) -> dict:  # noqa: ASYNC109
        """Poll /healthz until it answers 200; fail early if the process dies."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise AssertionError(f"the bot exited with {self.process.returncode}:\n{self.log}")
                try:
                    async with session.get(f"http://127.0.0.1:{port}{HEALTH_PATH}") as response:
                        if response.status == 200:
                            return await response.json()
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"the bot did not become healthy within {timeout}s:\n{self.log}")

    async def stop(self, signum: int = signal.SIGTERM, timeout: float = 20.0) -> int:  # noqa: ASYNC109
        """Send the signal and wait for the exit code."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signum)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"the bot did not stop within {timeout}s:\n{self.log}") from None

    async def kill(self) -> None:
        """For clean-up after a failed test: never leave a process behind."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def schedule_due_messages(
    database_url: str, user_ids: list[int], treatment: str, step_keys: list[str]
) -> int:
    """Clients with an active plan whose `step_keys` are all due now, inserted in bulk; returns the row count."""
    now = datetime.now(UTC)
    clients = [
        {"id": index, "telegram_user_id": user_id, "chat_id": user_id, "name": f"Client {user_id}",
         "first_name": f"C{user_id}", "language": "en", "status": ClientStatus.ACTIVE, "created_at": now,
         "updated_at": now}
        for index, user_id in enumerate(user_ids, start=1)
    ]  # fmt: skip
    enrolments = [
        {"id": row["id"], "client_id": row["id"], "treatment": treatment, "session_at": now, "language": "en",
         "state": EnrolmentState.ACTIVE, "created_at": now}
        for row in clients
    ]  # fmt: skip
    deliveries = [
        {"enrolment_id": row["id"], "client_id": row["id"], "chat_id": row["chat_id"], "step_key": key,
         "due_at": now, "send_at": now - timedelta(seconds=1), "expires_at": now + timedelta(days=1),
         "state": DeliveryState.PENDING, "attempts": 0, "checkin": False}
        for row in clients for key in step_keys
    ]  # fmt: skip
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(Client), clients)
            await connection.execute(insert(Enrolment), enrolments)
            for start in range(0, len(deliveries), 5000):
                await connection.execute(insert(Delivery), deliveries[start : start + 5000])
    finally:
        await engine.dispose()
    return len(deliveries)


async def delivery_states(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(Delivery.state, func.count()).group_by(Delivery.state))
            return {state: count for state, count in rows.all()}
    finally:
        await engine.dispose()


class RoundRobin:
    """The load balancer in front of the replicas: one public address, each call to the next replica."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.targets = itertools.cycle(ports)
        self.port = free_port()
        self.served: list[int] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/telegram", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        port = next(self.targets)
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-telegram")}
        async with aiohttp.ClientSession() as session, session.post(
            f"http://127.0.0.1:{port}/telegram", data=await request.read(), headers=headers | {
                "Content-Type": "application/json"},
        ) as answer:
            if answer.status == 200:
                self.served.append(port)
            return web.Response(status=answer.status, text=await answer.text())


def webhook_replicas(tmp_path: Path, balancer: RoundRobin, **settings: object) -> list[BotProcess]:
    """`aftercare-bot run --webhook` processes, one per port of `balancer`, on the address it serves."""
    return [
        BotProcess(tmp_path, f"replica{n}", bot_environment(
            webhook_url=f"http://127.0.0.1:{balancer.port}/telegram", webhook_listen="127.0.0.1", webhook_port=port,
            webhook_secret=WEBHOOK_SECRET, dispatch_tick="1s", **settings,
        ), "--webhook")
        for n, port in enumerate(balancer.ports)
    ]  # fmt: skip
