"""The bot's own HTTP server: Telegram's webhook calls, the health endpoint and the enrolment API.

Telegram POSTs each update to the public address given to setWebhook, with the secret token in a header;
a request without the right token is refused, so nobody else can feed the bot forged updates. Accepted
updates go to the Application's update queue and are handled like polled ones.
"""

from __future__ import annotations

import hmac
import json
import logging
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from aftercare_bot.api.server import EnrolmentApi
from aftercare_bot.bot.health import HEALTH_PATH, HealthMonitor

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1024 * 1024


def webhook_path(webhook_url: str) -> str:
    """The route is the path of the public address, so a proxy can pass requests through unchanged."""
    return urlsplit(webhook_url).path or "/"


class BotWebServer:
    """Serves /healthz, the webhook route when an Application and secret are given, and /api/v1 when an API is."""

    def __init__(
        self,
        monitor: HealthMonitor,
        *,
        host: str,
        port: int,
        application: Application | None = None,
        secret: str | None = None,
        path: str = "/",
        api: EnrolmentApi | None = None,
    ) -> None:
        self.monitor = monitor
        self.host, self.port = host, port
        self.application = application
        self.secret = secret
        self.path = path
        self.api = api
        self.accepting = True
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_UPDATE_BYTES)
        app.router.add_get(HEALTH_PATH, self._health)
        if self.application is not None:
            if not self.secret:
                raise ValueError("the webhook route needs a secret token")
            app.router.add_post(self.path, self._update)
        if self.api is not None:
            self.api.mount(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]  # the real port when 0 was asked for

    def stop_accepting(self) -> None:
        """From now on updates are answered 503, so Telegram keeps them and delivers them again later."""
        self.accepting = False

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request: web.Request) -> web.Response:
        healthy, details = await self.monitor.report()
        return web.json_response(details, status=200 if healthy else 503)

    async def _update(self, request: web.Request) -> web.Response:
        assert self.application is not None and self.secret is not None
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            forwarded = request.headers.get("X-Forwarded-For")
            log.warning(
                "refused a webhook request with %s secret token from %s%s",
                "a wrong" if given else "no", request.remote, f" (forwarded for {forwarded})" if forwarded else "",
            )
            return web.Response(status=403, text="forbidden")
        if not self.accepting:
            return web.Response(status=503, text="shutting down")
        try:
            data = await request.json()
            update = Update.de_json(data, self.application.bot)
        except (json.JSONDecodeError, TypeError, KeyError, ValueError, AttributeError) as exc:
            update, problem = None, str(exc)
        else:
            problem = "empty body"
        if update is None:
            log.warning("ignored a webhook request that is not an update: %s", problem)
            return web.Response(status=400, text="not an update")
        await self.application.update_queue.put(update)
        return web.Response(text="ok")
