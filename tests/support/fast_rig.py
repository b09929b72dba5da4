"""The whole bot (handlers, conversation, escalations, jobs' work) driven through Application.process_update,
answered by an in-process Telegram, with every error log record and error-handler call collected.

    rig = await FastRig.start(make_settings())
    ann = await rig.enrol(5001, "Ann Smith")
    await rig.text(ann, "hello")
    assert rig.telegram.sent_texts(ann)
    await rig.stop()
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes

from aftercare_bot.app import build_application, build_services
from aftercare_bot.bot import jobs
from aftercare_bot.bot.handlers.replays import SEEN_UPDATES_KEY
from aftercare_bot.clock import ManualClock
from aftercare_bot.config import Settings
from aftercare_bot.sandbox.emulator.models import JSON, StoredMessage, UserHandle
from aftercare_bot.services import Services
from tests.conftest import ADMIN_ID, STAFF_CHAT_ID, TOKEN
from tests.support.harness import NURSE_ID, START_LINK
from tests.support.recording_request import RecordingRequest

BOT_USERNAME = "glow_aftercare_bot"


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class FastRig:
    def __init__(self, telegram: RecordingRequest, application: Application, clock: ManualClock) -> None:
        self.telegram = telegram
        self.world = telegram.world
        self.app = application
        self.clock = clock
        self.handler_errors: list[BaseException | None] = []
        self._error_records = _ErrorRecords()
        self.staff_chat = self.world.group(STAFF_CHAT_ID, "Clinic team")
        self.admin = self.world.user(ADMIN_ID, "Alex", username="alex_admin")
        self.nurse = self.world.user(NURSE_ID, "Nina", username="nina_nurse")
        self.world.add_member(self.staff_chat, self.admin, "administrator")
        self.world.add_member(self.staff_chat, self.nurse, "member")

    @classmethod
    async def start(cls, settings: Settings, clock: ManualClock | None = None) -> FastRig:
        clock = clock or ManualClock()
        telegram = RecordingRequest(token=TOKEN, bot_username=BOT_USERNAME)
        application = build_application(build_services(settings, clock=clock), request=telegram,
                                        updates_request=telegram)
        rig = cls(telegram, application, clock)

        async def record_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
            rig.handler_errors.append(context.error)

        application.add_error_handler(record_error)
        logging.getLogger().addHandler(rig._error_records)
        await application.initialize()
        assert application.post_init is not None
        await application.post_init(application)  # what run_polling would do: dispatcher, desk, menus
        return rig

    async def stop(self) -> None:
        logging.getLogger().removeHandler(self._error_records)
        await self.app.shutdown()
        assert self.app.post_shutdown is not None
        await self.app.post_shutdown(self.app)  # what run_polling would do: the database and error reports close

    @property
    def services(self) -> Services:
        return self.app.bot_data["services"]

    @property
    def error_records(self) -> list[logging.LogRecord]:
        return self._error_records.records

    def forget_problems(self) -> None:
        """Start a fresh check (between generated examples, so one failure is not blamed on the next)."""
        self._error_records.records.clear()
        self.handler_errors.clear()
        self.telegram.spec_violations.clear()

    def assert_healthy(self) -> None:
        """Nothing went wrong: no error logged, the error handler never ran, every Bot API call was valid."""
        logged = [f"{r.name}: {r.getMessage()} {r.exc_info[1] if r.exc_info else ''}" for r in self.error_records]
        assert logged == [], logged
        assert self.handler_errors == []
        assert self.telegram.spec_violations == []

    # -- feeding updates -----------------------------------------------------------------------------------

    async def feed(self, update: JSON) -> JSON:
        await self.app.process_update(Update.de_json(update, self.app.bot))
        return update

    async def text(self, user: Any, text: str, chat: Any = None, reply_to: Any = None) -> JSON:
        return await self.feed(self.world.send_text(user, text, chat, reply_to))

    async def command(self, user: Any, command: str, args: str | None = None, chat: Any = None,
                      *, mention: bool = False) -> JSON:
        return await self.feed(self.world.send_command(user, command, args, chat, mention=mention))

    async def press(self, user: Any, message: StoredMessage, data: str, *, forged: bool = False) -> JSON:
        return await self.feed(self.world.press_button(user, message, data, forged=forged))

    def last_bot_message(self, chat: Any) -> StoredMessage:
        return self.telegram.sent_messages(chat)[-1]

    def callback_answer(self, update: JSON) -> JSON | None:
        return self.world.callback_answers.get(update["callback_query"]["id"])

    def forget_seen_updates(self) -> None:
        """What a restart does: the memory of handled update ids is gone (the database remains)."""
        self.app.bot_data.pop(SEEN_UPDATES_KEY, None)

    async def run_due(self) -> None:
        await jobs.run_pending_work(self.services)

    # -- people ----------------------------------------------------------------------------------------------

    async def enrol(self, user_id: int, name: str, *, first_name: str | None = None, language: str = "en",
                    options: str = "") -> UserHandle:
        """Front desk enrols the client in the staff chat; the client opens the link and agrees."""
        client = self.world.user(user_id, first_name or name.split()[0], language_code=language)
        await self.command(self.nurse, "enrol", f"{name} {options}".strip(), chat=self.staff_chat)
        caption = self.last_bot_message(self.staff_chat).plain_text or ""
        match = START_LINK.search(caption)
        assert match, caption
        await self.command(client, "start", match.group(1))
        consent = self.last_bot_message(client)
        assert consent.buttons, consent.plain_text
        await self.press(client, consent, consent.callback_data[0])
        return client
