"""Runs the bot until SIGTERM or SIGINT, taking updates by long polling or through a webhook.

The Application is started and stopped by hand (not with run_polling/run_webhook) so that both modes
share the same health endpoint and the same graceful stop:

1. take no more updates (polling stops; the webhook answers 503, so Telegram keeps the update),
2. let the dispatcher finish the batch it is sending and claim nothing more, within SHUTDOWN_TIMEOUT,
3. finish the updates already taken, stop the jobs, close the database.

The webhook is left registered on stop: other replicas behind the same address keep serving it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from enum import StrEnum

from telegram import Update
from telegram.ext import Application

from aftercare_bot.api.server import EnrolmentApi
from aftercare_bot.app import build_application
from aftercare_bot.bot import jobs
from aftercare_bot.bot.health import HealthMonitor
from aftercare_bot.bot.webhook import BotWebServer, webhook_path
from aftercare_bot.config import Settings
from aftercare_bot.services import Services

log = logging.getLogger("aftercare_bot")

ALLOWED_UPDATES = Update.ALL_TYPES
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Mode(StrEnum):
    POLLING = "polling"
    WEBHOOK = "webhook"


def webhook_problems(settings: Settings) -> list[str]:
    """What webhook mode needs beyond what the settings validate on their own, in describe_errors' style."""
    problems = []
    if not settings.webhook_url:
        problems.append("  WEBHOOK_URL: is required in webhook mode (the public https address Telegram calls)")
    if settings.webhook_secret is None:
        problems.append("  WEBHOOK_SECRET: is required in webhook mode (1-256 characters: A-Z a-z 0-9 _ -)")
    return problems


class BotRunner:
    def __init__(self, services: Services, mode: Mode, *, application: Application | None = None) -> None:
        self.services = services
        self.mode = mode
        self.application = application or build_application(services)
        self.monitor = HealthMonitor(services, mode.value)
        self.servers: list[BotWebServer] = []
        self.webhook_server: BotWebServer | None = None
        # Served wherever the bot listens: the webhook port, and HEALTH_PORT in either mode.
        self.api = (
            EnrolmentApi(services, lambda: self.application.bot.username) if services.settings.api_enabled else None
        )

    async def start(self) -> None:
        settings = self.services.settings
        application = self.application
        await application.initialize()
        if application.post_init:
            await application.post_init(application)
        await application.start()
        if self.mode == Mode.WEBHOOK:
            assert settings.webhook_url and settings.webhook_secret, "check webhook_problems() first"
            secret = settings.webhook_secret.get_secret_value()
            self.webhook_server = BotWebServer(
                self.monitor, host=settings.webhook_listen, port=settings.webhook_port, application=application,
                secret=secret, path=webhook_path(settings.webhook_url), api=self.api,
            )
            await self._serve(self.webhook_server)
            # Every replica registers the same address; setting it again is harmless and keeps it right.
            await application.bot.set_webhook(
                settings.webhook_url, secret_token=secret, allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
            )
        else:
            assert application.updater is not None
            # Polling removes a webhook left from earlier; two polling replicas would take turns failing.
            await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False)
        served = {server.port for server in self.servers}
        if settings.health_port is not None and settings.health_port not in served:
            await self._serve(BotWebServer(self.monitor, host=settings.webhook_listen, port=settings.health_port,
                                           api=self.api))

    async def _serve(self, server: BotWebServer) -> None:
        await server.start()
        self.servers.append(server)

    async def stop(self) -> bool:
        """Stop gracefully within SHUTDOWN_TIMEOUT; False if in-flight work had to be cut short."""
        application = self.application
        grace = self.services.settings.shutdown_timeout.total_seconds()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        self.monitor.stopping = True  # load balancers see 503 on /healthz and stop sending traffic
        if self.webhook_server is not None:
            self.webhook_server.stop_accepting()
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.job_queue is not None and application.job_queue.scheduler.running:
            application.job_queue.scheduler.pause()  # no new dispatcher passes
        # The lanes finish what they hold and claim nothing more; what is left stays in the database (one log line).
        clean = await jobs.stop(self.services, max(deadline - loop.time(), 0.0))
        if application.running:
            try:
                # Handles the updates already taken and waits for running jobs (the timer runner, say).
                await asyncio.wait_for(application.stop(), timeout=max(deadline - loop.time(), 0.1))
            except TimeoutError:
                clean = False
        for server in self.servers:
            await server.stop()
        self.servers.clear()
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)
        return clean


async def serve(services: Services, mode: Mode) -> int:
    """Run until a stop signal, then stop gracefully; the database must be migrated. Returns the exit code."""
    settings = services.settings
    loop = asyncio.get_running_loop()
    received: asyncio.Future[signal.Signals] = loop.create_future()

    def on_signal(signum: signal.Signals) -> None:
        if received.done():
            log.info("%s received again; still stopping", signum.name)
        else:
            received.set_result(signum)

    handled: list[signal.Signals] = []
    for signum in STOP_SIGNALS:
        try:
            loop.add_signal_handler(signum, on_signal, signum)
            handled.append(signum)
        except (RuntimeError, NotImplementedError, ValueError):  # not the main thread, or not a Unix system
            log.warning("cannot listen for %s here; stop the bot another way", signum.name)
    runner = BotRunner(services, mode)
    try:
        await runner.start()
    except BaseException as exc:
        with contextlib.suppress(Exception):
            await runner.stop()  # whatever did start: the job queue, a server, the database pool
        await services.engine.dispose()
        if isinstance(exc, OSError):  # typically the port is taken
            log.error("the bot could not start: %s", exc)
            return 1
        raise
    database = services.engine.url.render_as_string(hide_password=True)
    if mode == Mode.WEBHOOK:
        log.info("aftercare bot running in webhook mode: Telegram calls %s, listening on %s:%s (database %s)",
                 settings.webhook_url, settings.webhook_listen, settings.webhook_port, database)
    else:
        log.info("aftercare bot running in polling mode (database %s)", database)
    for server in runner.servers:
        log.info("health endpoint: http://%s:%s/healthz", server.host, server.port)
        if server.api is not None:
            log.info("enrolment API: http://%s:%s/api/v1/ (OpenAPI: /api/v1/openapi.json)", server.host, server.port)

    signum = await received
    grace = settings.shutdown_timeout.total_seconds()
    log.info("%s received: taking no more updates, finishing messages being sent (at most %gs)", signum.name, grace)
    if await runner.stop():
        log.info("aftercare bot stopped cleanly")
    else:
        log.warning("aftercare bot stopped after %gs with work still running; messages that were being sent "
                    "are sent again by a replica after SEND_LEASE", grace)
    for signum in handled:
        loop.remove_signal_handler(signum)
    return 0
