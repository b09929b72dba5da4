"""Is this replica well? The database answers and the dispatcher has shown signs of life recently.

Served as `GET /healthz` by the running bot (see webhook.py) and asked by `aftercare-bot health`, which the
container's HEALTHCHECK runs. Only the running process knows whether its dispatcher is ticking, so the
command asks that process over HTTP rather than looking at the database from outside.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aftercare_bot.config import Settings
from aftercare_bot.db.repositories import deliveries
from aftercare_bot.db.session import ping
from aftercare_bot.services import Services

HEALTH_PATH = "/healthz"
DATABASE_TIMEOUT = 5.0
_ANY_ADDRESS = {"", "0.0.0.0", "::"}


def stale_after(settings: Settings) -> timedelta:
    """How long the dispatcher may stay silent: several ticks, never less than a minute (a slow batch)."""
    return max(3 * settings.dispatch_tick, timedelta(minutes=1))


def health_port(settings: Settings) -> int | None:
    """Where the running bot answers /healthz: HEALTH_PORT, else the webhook port when webhooks are set up."""
    if settings.health_port is not None:
        return settings.health_port
    return settings.webhook_port if settings.webhook_url else None


def health_url(settings: Settings, port: int) -> str:
    host = settings.webhook_listen.strip()
    host = "127.0.0.1" if host in _ANY_ADDRESS else host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}{HEALTH_PATH}"


@dataclass
class HealthMonitor:
    services: Services
    mode: str
    max_tick_age: timedelta | None = None
    started: float = field(default_factory=time.monotonic)
    stopping: bool = False

    async def report(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, details); details are safe to show to anyone who can reach the port."""
        limit = (self.max_tick_age or stale_after(self.services.settings)).total_seconds()
        database, due = await self._database()
        dispatcher = self.services.runtime.dispatcher if self.services.started else None
        age = None if dispatcher is None else round(time.monotonic() - dispatcher.last_progress, 1)
        ticking = age is not None and age <= limit
        healthy = database == "ok" and ticking and not self.stopping
        details: dict[str, Any] = {
            "status": "stopping" if self.stopping else ("ok" if healthy else "unhealthy"),
            "mode": self.mode,
            "database": database,
            "dispatcher_last_tick_age_s": age,
            "dispatcher_max_tick_age_s": limit,
            "dispatcher": "ok" if ticking else ("not started" if age is None else "stalled"),
            "due_messages": due,
            "replica": getattr(dispatcher, "owner", None),
            "uptime_s": round(time.monotonic() - self.started, 1),
        }
        return healthy, details

    async def _database(self) -> tuple[str, int | None]:
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT), self.services.session_factory() as session:
                await ping(session)
                due = await deliveries.count_due(session, now=self.services.clock.now())
        except TimeoutError:
            return f"no answer within {DATABASE_TIMEOUT:g}s", None
        except Exception as exc:
            return f"error: {exc.__class__.__name__}", None
        return "ok", int(due or 0)


def probe(url: str, timeout: float = 10.0) -> tuple[bool, str]:
    """Ask a running bot; (healthy, what it said). Used by `aftercare-bot health`."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200, response.read().decode()
    except urllib.error.HTTPError as exc:
        return False, exc.read().decode(errors="replace") or f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"no answer from {url}: {reason}"


def summary(body: str) -> str:
    """One line for the container log from the JSON answer (or the error text)."""
    try:
        details = json.loads(body)
    except ValueError:
        return body.strip()
    return ", ".join(f"{key}={value}" for key, value in details.items())
