"""The sandbox: the real bot, polling the in-package Bot API emulator, with a web page to play every part.

The bot is built, migrated and started exactly as `aftercare-bot run` does it in polling mode (build_services,
BotRunner); only its Telegram is the emulator, its database a throw-away SQLite file and its clock a
ManualClock that the page can move forward.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import sys
import tempfile
import webbrowser
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from telegram.ext import Application

from aftercare_bot.app import build_services
from aftercare_bot.bot import jobs
from aftercare_bot.bot.runner import BotRunner, Mode
from aftercare_bot.clock import ManualClock
from aftercare_bot.config import LANGUAGE_CODE, Settings, describe_errors
from aftercare_bot.reporting.weekly import WEEKLY_REPORT_TIMER
from aftercare_bot.sandbox import settings as defaults
from aftercare_bot.sandbox.emulator.models import JSON, ChatHandle, UserHandle
from aftercare_bot.sandbox.emulator.sandbox_web import ChatWeb, PageError
from aftercare_bot.sandbox.emulator.server import BotApiEmulator
from aftercare_bot.services import Services

log = logging.getLogger(__name__)

CLOCK_STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
# Offered on the page besides the clinic's own languages: one it has no texts in, to see what such clients get.
LANGUAGE_WITHOUT_TEXTS = "de"
ANSWER_TIMEOUT = 10.0
NAME_LIMIT = 200
LANGUAGE_CODE_LIMIT = 16


class Sandbox:
    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 8080, env_file: str | None = ".env", **overrides: Any
    ) -> None:
        self.clock = ManualClock()
        self.telegram = BotApiEmulator(
            token=defaults.SANDBOX_TOKEN, bot_username=defaults.BOT_USERNAME, bot_name=defaults.BOT_NAME,
            clock=lambda: self.clock.now().timestamp(),
        )  # fmt: skip
        self.web = ChatWeb(
            self.telegram, host=host, port=port, routes=self._routes(), extra_state=self.page_state
        )
        self.staff_chat: ChatHandle = self.telegram.group(defaults.STAFF_CHAT_ID, defaults.STAFF_CHAT_TITLE)
        self.roles: dict[int, str] = {}
        self.admin = self._staff(defaults.ADMIN_ID, "Alex", "admin", "administrator")
        self.front_desk = self._staff(defaults.FRONT_DESK_ID, "Fran", "front desk", "member")
        self.nurse = self._staff(defaults.NURSE_ID, "Nina", "nurse", "member")
        self.runner: BotRunner | None = None
        self.application: Application | None = None
        self._env_file = env_file
        self._overrides = overrides
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._clock_lock = asyncio.Lock()
        self.client_language: str | None = "en"  # the Telegram language of clients the page creates

    @property
    def url(self) -> str:
        return self.web.url

    @property
    def services(self) -> Services:
        assert self.application is not None, "the sandbox is not running"
        return self.application.bot_data["services"]

    @property
    def settings(self) -> Settings:
        return self.services.settings

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._start_bot()
            await self.web.start()
        except BaseException:
            await self.stop()
            raise

    async def _start_bot(self) -> None:
        await self.telegram.start()
        self._folder = tempfile.TemporaryDirectory(prefix="aftercare-sandbox-")
        database = Path(self._folder.name) / "sandbox.db"
        settings = defaults.sandbox_settings(
            self.telegram.base_url, database, env_file=self._env_file, **self._overrides
        )
        # Imported here: alembic logs at import time, and run_sandbox() quietens it first.
        from aftercare_bot.db.migrate import upgrade

        services = build_services(settings, clock=self.clock)
        await upgrade(services.engine)
        self.runner = BotRunner(services, Mode.POLLING)
        self.application = self.runner.application
        await self.runner.start()

    async def stop(self) -> None:
        await self.web.stop()
        runner, self.runner, self.application = self.runner, None, None
        if runner is not None:
            await runner.stop()
        await self.telegram.stop()
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    # -- people ----------------------------------------------------------------------------------

    def _staff(self, user_id: int, name: str, role: str, status: str) -> UserHandle:
        user = self.telegram.user(user_id, name)
        self.telegram.add_member(self.staff_chat, user, status)
        self.roles[user_id] = role
        return user

    def new_client(self, name: str) -> UserHandle:
        first, _, last = " ".join(name.split()).partition(" ")
        taken = [uid for uid in self.telegram.users if uid >= defaults.FIRST_CLIENT_ID]
        user_id = max(taken, default=defaults.FIRST_CLIENT_ID - 1) + 1
        client = self.telegram.user(user_id, first or "Client", last_name=last or None,
                                    language_code=self.client_language)
        self.web.publish("people", {"users": [u.to_json() for u in self.telegram.users.values()]})
        return client

    def is_client(self, user_id: int) -> bool:
        return user_id in self.telegram.users and user_id not in self.roles

    # -- what the page does ----------------------------------------------------------------------

    async def enrol(self, name: str) -> JSON:
        """The front desk sends /enrol in the staff group; the bot's answer holds the client's link."""
        name = " ".join(name.split())
        if not name or len(name) > NAME_LIMIT:
            raise PageError(f"type the client's name (up to {NAME_LIMIT} characters)")
        since = self.telegram.last_message_id(self.staff_chat)
        self.telegram.send_text(self.front_desk, f"/enrol {name}", chat=self.staff_chat)
        answer = await self.telegram.wait_for_message(self.staff_chat, since=since, timeout=ANSWER_TIMEOUT)
        match = self._start_link().search(answer.plain_text or "")
        if match is None:
            return {"problem": answer.plain_text or "", "message_id": answer.message_id}
        return {"link": match.group(0), "name": name, "message_id": answer.message_id}

    def open_link(self, link: str, *, name: str | None = None, user_id: int | None = None) -> int:
        """The client opens their link: Telegram sends the bot /start with the link's token."""
        match = self._start_link().fullmatch(link.strip())
        if match is None:
            raise PageError(f"that is not a start link of @{self.telegram.bot.username}")
        if user_id is not None and self.is_client(user_id):
            client = self.telegram.users[user_id]
        else:
            client = self.new_client(name or "Sam")
        self.telegram.send_command(client, "start", match.group(1))
        return client.id

    def set_client_language(self, code: str, user_id: int | None = None) -> JSON:
        """Clients from now on (and the client `user_id`) have their Telegram set to `code` ("" for none)."""
        code = code.strip()
        if code and not (len(code) <= LANGUAGE_CODE_LIMIT and LANGUAGE_CODE.fullmatch(code.lower())):
            raise PageError("choose a language code such as en, ru or es")
        self.client_language = code or None
        if user_id is not None and self.is_client(user_id):
            user = self.telegram.users[user_id]
            self.telegram.user(user.id, user.first_name, language_code=self.client_language,
                               username=user.username, last_name=user.last_name)
            self.web.publish("people", {"users": [u.to_json() for u in self.telegram.users.values()]})
        return {"client_language": self.client_language or ""}

    def languages(self) -> list[JSON]:
        """The clinic's languages for the page, each named in itself, and one it has no texts in."""
        svc = self.services
        codes = [*svc.languages, *([] if LANGUAGE_WITHOUT_TEXTS in svc.languages else [LANGUAGE_WITHOUT_TEXTS])]
        return [{"code": code, "name": svc.language_name(code), "texts": code in svc.languages} for code in codes]

    async def move_clock(self, action: str) -> JSON:
        """Move the bot's clock ("next" scheduled moment, an "hour" or a "day") and run what fell due."""
        if action != "next" and action not in CLOCK_STEPS:
            raise PageError(f"unknown clock action {action!r}")
        async with self._clock_lock:
            moved = True
            if action == "next":
                due = await self.next_due()
                if due is None:
                    moved = False
                elif due > self.clock.now():
                    self.clock.set(due)
            else:
                self.clock.advance(CLOCK_STEPS[action])
            if moved:
                await jobs.run_pending_work(self.services)
                assert self.application is not None
                jobs.wake(self.application)  # re-arm the wake-up for whatever is due next
        clock = await self.clock_state()
        self.web.publish("clock", clock)
        return {**clock, "moved": moved}

    async def next_due(self) -> datetime | None:
        """The next plan message or timer; not the weekly report, which goes whenever the clock passes it."""
        runtime = self.services.runtime
        moments = [await runtime.dispatcher.next_due(),
                   await runtime.timer_runner.next_due(except_kinds=(WEEKLY_REPORT_TIMER,))]
        found = [moment for moment in moments if moment is not None]
        return min(found) if found else None

    async def clock_state(self) -> JSON:
        due = await self.next_due()
        return {"now": self.clock.now().timestamp(), "next_due": due.timestamp() if due else None}

    async def page_state(self) -> JSON:
        settings = self.settings
        return {"sandbox": {
            "clinic_name": settings.clinic_name,
            "timezone": settings.clinic_timezone,
            "staff_chat_id": self.staff_chat.id,
            "admin_id": self.admin.id,
            "front_desk_id": self.front_desk.id,
            "default_staff_id": self.nurse.id,
            "roles": {str(uid): role for uid, role in self.roles.items()},
            "clock": await self.clock_state(),
            "languages": self.languages(),
            "client_language": self.client_language or "",
            "staff_language": {"code": self.services.staff_language,
                               "name": self.services.language_name(self.services.staff_language)},
        }}  # fmt: skip

    def _start_link(self) -> re.Pattern[str]:
        username = re.escape(self.telegram.bot.username or "")
        return re.compile(rf"https://t\.me/{username}\?start=([A-Za-z0-9_-]+)")

    # -- HTTP ------------------------------------------------------------------------------------

    def _routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/sandbox/enrol", self._enrol_route),
            web.post("/api/sandbox/open-link", self._open_link_route),
            web.post("/api/sandbox/clock", self._clock_route),
            web.get("/api/sandbox/clock", self._clock_state_route),
            web.post("/api/sandbox/client-language", self._client_language_route),
        ]

    async def _enrol_route(self, request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            return web.json_response(await self.enrol(str(body.get("name") or "")))
        except TimeoutError as error:
            raise PageError("the bot did not answer the /enrol command") from error

    async def _open_link_route(self, request: web.Request) -> web.Response:
        body = await _body(request)
        user_id = body.get("user_id")
        name = body.get("name")
        client = self.open_link(
            str(body.get("link") or ""), name=name if isinstance(name, str) else None,
            user_id=user_id if isinstance(user_id, int) else None,
        )  # fmt: skip
        return web.json_response({"user_id": client})

    async def _client_language_route(self, request: web.Request) -> web.Response:
        body = await _body(request)
        code, user_id = body.get("language_code"), body.get("user_id")
        if not isinstance(code, str):
            raise PageError("send language_code, such as ru")
        return web.json_response(self.set_client_language(code, user_id if isinstance(user_id, int) else None))

    async def _clock_state_route(self, request: web.Request) -> web.Response:
        return web.json_response(await self.clock_state())

    async def _clock_route(self, request: web.Request) -> web.Response:
        body = await _body(request)
        return web.json_response(await self.move_clock(str(body.get("action"))))


async def _body(request: web.Request) -> JSON:
    if request.content_type != "application/json":
        raise PageError("send JSON")
    try:
        body = await request.json()
    except ValueError as error:
        raise PageError("the body is not valid JSON") from error
    if not isinstance(body, dict):
        raise PageError("the body must be a JSON object")
    return body


async def serve(*, port: int, open_browser: bool, **overrides: Any) -> int:
    sandbox = Sandbox(port=port, **overrides)
    try:
        await sandbox.start()
    except ValidationError as error:
        print(describe_errors(error), file=sys.stderr)
        return 2
    except OSError as error:
        print(f"Could not listen on 127.0.0.1:{port} ({error.strerror}); try --port {port + 1}.", file=sys.stderr)
        return 1
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stopped.set)
    print(f"The sandbox is running at {sandbox.url} (the bot talks to an emulated Telegram; Ctrl-C stops it)")
    if open_browser:
        await loop.run_in_executor(None, webbrowser.open, sandbox.url)
    try:
        await stopped.wait()
    finally:
        print("Stopping the sandbox; its database is thrown away.")
        await sandbox.stop()
    return 0


def run_sandbox(*, port: int = 8080, open_browser: bool = True, **overrides: Any) -> int:
    """`overrides`: settings the command line gives (such as staff_language), over the .env file's."""
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return asyncio.run(serve(port=port, open_browser=open_browser, **overrides))
