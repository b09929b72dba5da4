"""The enrolment API served over real HTTP on 127.0.0.1 by the bot's own web server, next to a BotHarness."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from aftercare_bot.api.server import EnrolmentApi
from aftercare_bot.bot.health import HealthMonitor
from aftercare_bot.bot.webhook import BotWebServer
from aftercare_bot.clients import api_keys
from tests.support.harness import BotHarness


def session_start(hours: float = 0) -> str:
    """A session time the API accepts: half an hour ago (the emulated bot's clock runs with real time), moved by
    `hours`, to the second."""
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30) + timedelta(hours=hours)
    return moment.isoformat()


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class ApiRig:
    def __init__(self, bot: BotHarness) -> None:
        self.bot = bot
        self.server = BotWebServer(
            HealthMonitor(bot.services, "polling"), host="127.0.0.1", port=0,
            api=EnrolmentApi(bot.services, lambda: bot.application.bot.username),
        )
        self.key = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/api/v1"

    async def start(self) -> ApiRig:
        await self.server.start()
        self.key = await self.new_key("Booking system")
        return self

    async def new_key(self, name: str) -> str:
        async with self.bot.services.session_factory.begin() as session:
            _, secret = await api_keys.create(session, name, created_by=None, now=self.bot.clock.now())
        return secret

    async def call(self, method: str, path: str, body: Any = None, *, key: str | None = "default",
                   raw: str | None = None) -> Answer:
        headers = {}
        if key is not None:
            headers["Authorization"] = f"Bearer {self.key if key == 'default' else key}"
        async with aiohttp.ClientSession() as session, session.request(
            method, self.base + path, json=body if raw is None else None, data=raw, headers=headers
        ) as response:
            payload: Any = await response.read()
            if response.content_type == "application/json":
                payload = await response.json()
            return Answer(response.status, payload, dict(response.headers))

    async def stop(self) -> None:
        await self.server.stop()
