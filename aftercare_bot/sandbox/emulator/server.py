"""An HTTP server speaking the Telegram Bot API on 127.0.0.1, for python-telegram-bot to talk to.

Point the application at it with ``ApplicationBuilder().base_url(emulator.base_url)
.base_file_url(emulator.base_file_url)``, act as users (``emulator.send_text(ann, "hello")``) and
wait for the bot's answers (``await emulator.wait_for_message(ann)``).
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from aftercare_bot.sandbox.emulator.actions import World
from aftercare_bot.sandbox.emulator.bot_api import BotApi
from aftercare_bot.sandbox.emulator.faults import ANY_METHOD, FaultPlan, FloodLimiter
from aftercare_bot.sandbox.emulator.models import ApiError
from aftercare_bot.sandbox.emulator.spec import UploadedFile
from aftercare_bot.sandbox.emulator.webhook import WebhookDeliverer

MAX_UPLOAD_BYTES = 50 * 1024 * 1024


class BotApiEmulator(World):
    """The emulated Telegram (see :class:`World` for people, chats and inspection) behind HTTP."""

    def __init__(
        self,
        token: str = "123:ABC",
        bot_username: str = "aftercare_test_bot",
        *,
        bot_name: str = "Aftercare Test Bot",
        flood_limits: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(token, bot_username, bot_name, clock)
        self.host = host
        self.port = port
        self.faults = FaultPlan()
        self.api = BotApi(self, faults=self.faults, limiter=FloodLimiter() if flood_limits else None)
        self._runner: web.AppRunner | None = None
        self._webhook = WebhookDeliverer(self)

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)``; PTB appends the token."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://{self.host}:{self.port}/file/bot"

    @property
    def flood_limits(self) -> bool:
        return self.api.limiter is not None

    @flood_limits.setter
    def flood_limits(self, enabled: bool) -> None:
        self.api.limiter = FloodLimiter() if enabled else None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        app.router.add_route("*", "/bot{token}/{method}", self._answer_call)
        app.router.add_get("/file/bot{token}/{path:.+}", self._answer_download)
        # handler_cancellation: a long poll whose client went away stops waiting.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._webhook.start()

    async def stop(self) -> None:
        self.api.close()
        await self._webhook.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for subscription in list(self._subscribers):
            subscription.close()

    async def __aenter__(self) -> BotApiEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- fault injection -------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = None,
        count: int = 1,
        description: str | None = None,
        chat_id: int | None = None,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` ("*" for any), to ``chat_id`` only if given, with this
        error."""
        self.faults.fail_next(method, status=status, retry_after=retry_after, count=count, description=description,
                              chat_id=chat_id)

    def set_delay(self, method: str, seconds: float | None) -> None:
        """Answer ``method`` ("*" for any) only after ``seconds``, e.g. to make the client time out."""
        self.faults.set_delay(method, seconds)

    def drop_connections(self, count: int = 1, method: str = ANY_METHOD) -> None:
        """Close the connection of the next ``count`` matching requests without answering."""
        self.faults.drop_connections(count, method)

    def set_down(self, down: bool = True) -> None:
        """While down, every request has its connection dropped."""
        self.faults.down = down

    # -- HTTP ------------------------------------------------------------------------------------

    async def _answer_call(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if self.faults.take_drop(method):
            return self._drop(request)
        delay = self.faults.delay_for(method)
        if delay:
            await asyncio.sleep(delay)
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        try:
            raw, files = await _read_params(request)
        except ApiError as error:
            return web.json_response(error.body(), status=error.status)
        status, body = await self.api.handle(method, raw, files)
        return web.json_response(body, status=status)

    async def _answer_download(self, request: web.Request) -> web.StreamResponse:
        if self.faults.take_drop("download"):
            return self._drop(request)
        record = self.file_by_path(request.match_info["path"])
        if request.match_info["token"] != self.token or record is None:
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        content_type = mimetypes.guess_type(record.file_path)[0] or "application/octet-stream"
        return web.Response(body=record.content, content_type=content_type)

    def _drop(self, request: web.Request) -> web.StreamResponse:
        self.stats.dropped_connections += 1
        self.emit("connection_dropped", path=request.path)
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=204)  # never reaches the client: the connection is gone


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Parameters from the query string plus a JSON, urlencoded or multipart body."""
    raw: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.content_type == "application/json":
        try:
            body = json.loads(await request.text() or "{}")
        except ValueError as error:
            raise ApiError(400, "Bad Request: can't parse JSON body") from error
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: the JSON body must be an object")
        raw.update(body)
    elif request.can_read_body:
        for name, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                files[name] = UploadedFile(value.filename, value.content_type, value.file.read())
            else:
                raw[name] = value
    return raw, files
