"""End-to-end harness: the real Application, polling the in-package Bot API emulator over HTTP.

    async def test_something(bot):                      # a started BotHarness
        ann = await bot.enrol_client(5001, "Ann")       # staff /enrol -> link -> client agrees
        await bot.jump(timedelta(hours=4))              # move the bot's clock and run what is due
        message = await bot.telegram.wait_for_message(ann, "Hello")
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from telegram.ext import Application

from aftercare_bot.app import build_application, build_services
from aftercare_bot.bot import jobs
from aftercare_bot.clock import ManualClock
from aftercare_bot.config import Settings
from aftercare_bot.sandbox.emulator.models import StoredMessage
from aftercare_bot.sandbox.emulator.server import BotApiEmulator
from aftercare_bot.services import Services
from tests.conftest import ADMIN_ID, STAFF_CHAT_ID

NURSE_ID = 900002
START_LINK = re.compile(r"https://t\.me/\w+\?start=([A-Za-z0-9_-]+)")


class BotHarness:
    def __init__(self, telegram: BotApiEmulator, settings: Settings, clock: ManualClock) -> None:
        self.telegram = telegram
        self.settings = settings
        self.clock = clock
        self.application: Application | None = None
        self.staff_chat = telegram.group(STAFF_CHAT_ID, "Clinic team")
        self.admin = telegram.user(ADMIN_ID, "Alex", username="alex_admin")
        self.nurse = telegram.user(NURSE_ID, "Nina", username="nina_nurse")
        telegram.add_member(self.staff_chat, self.admin, "administrator")
        telegram.add_member(self.staff_chat, self.nurse, "member")

    @property
    def services(self) -> Services:
        assert self.application is not None, "the bot is not running"
        return self.application.bot_data["services"]

    async def start(self) -> None:
        services = build_services(self.settings, clock=self.clock)
        self.application = build_application(services)
        await self.application.initialize()
        # run_polling() would call these hooks; starting by hand, as here, they are called explicitly.
        if self.application.post_init:
            await self.application.post_init(self.application)
        await self.application.start()
        assert self.application.updater is not None
        await self.application.updater.start_polling(poll_interval=0.0, timeout=1, allowed_updates=["message",
            "edited_message", "channel_post", "edited_channel_post", "callback_query", "my_chat_member"])

    async def stop(self) -> None:
        """A clean stop, like Ctrl-C: pending updates are handled, the database is closed."""
        if self.application is None:
            return
        application, self.application = self.application, None
        if application.updater and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def run_due(self) -> None:
        """Run one dispatcher and timer pass now, as the JobQueue would."""
        await jobs.run_pending_work(self.services)

    async def jump(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        await self.run_due()

    async def staff_command(self, text: str, user: Any = None) -> StoredMessage:
        """Send a command in the staff chat and return the bot's first answer there."""
        since = self.telegram.last_message_id(self.staff_chat)
        self.telegram.send_text(user or self.nurse, text, chat=self.staff_chat)
        return await self.telegram.wait_for_message(self.staff_chat, since=since)

    async def invite_link_token(self, name: str, options: str = "") -> str:
        answer = await self.staff_command(f"/enrol {name} {options}".strip())
        match = START_LINK.search(answer.plain_text or "")
        assert match, f"no enrolment link in the answer: {answer.plain_text!r}"
        return match.group(1)

    async def enrol_client(
        self, user_id: int, name: str, *, first_name: str | None = None, options: str = "", language: str = "en"
    ) -> Any:
        """Front desk enrols the client; the client opens the link and agrees."""
        client = self.telegram.user(user_id, first_name or name.split()[0], language_code=language)
        token = await self.invite_link_token(name, options)
        since = self.telegram.last_message_id(client)
        self.telegram.send_command(client, "start", token)
        consent = await self.telegram.wait_for_message(client, since=since)
        assert consent.buttons, f"expected consent buttons, got {consent.plain_text!r}"
        since = self.telegram.last_message_id(client)
        self.telegram.press_button(client, consent, consent.callback_data[0])
        await self.telegram.wait_for_message(client, since=since)
        return client
