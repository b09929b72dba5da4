"""An in-process Telegram for fast handler tests driven through ``Application.process_update``.

:class:`RecordingRequest` replaces PTB's HTTP transport: every call is decoded, recorded, checked
against the Bot API subset and answered by the same emulated world the HTTP emulator uses, so
both test layers share one set of update builders and one notion of a valid call.

    telegram = RecordingRequest(token=TOKEN)
    app = telegram.application_builder().build()
    ann = telegram.world.user(1001, "Ann")
    async with app:
        await app.process_update(make_command_update(telegram, app.bot, ann, "start"))
    assert telegram.sent_texts(ann) == [...]
"""

from __future__ import annotations

import json
from typing import Any

from telegram import Bot, Update
from telegram.ext import ApplicationBuilder
from telegram.request import BaseRequest, RequestData

from aftercare_bot.sandbox.emulator import BotApi, StoredMessage, World
from aftercare_bot.sandbox.emulator.models import JSON, SpecViolation, UserHandle
from aftercare_bot.sandbox.emulator.spec import UploadedFile
from aftercare_bot.sandbox.emulator.world import ChatRef, MessageRef, UserRef


class RecordingRequest(BaseRequest):
    """A :class:`telegram.request.BaseRequest` answering from an emulated world, without a network."""

    def __init__(
        self, world: World | None = None, *, token: str = "123:ABC", bot_username: str = "aftercare_test_bot"
    ) -> None:
        self.world = world or World(token, bot_username)
        self.api = BotApi(self.world)

    @property
    def token(self) -> str:
        return self.world.token

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if "/file/bot" in url:  # Bot.get_file(...).download_*: serve the stored content
            record = self.world.file_by_path(url.split(f"/file/bot{self.token}/", 1)[-1])
            return (200, record.content) if record else (404, b'{"ok":false,"error_code":404}')
        raw = dict(request_data.json_parameters) if request_data else {}
        files = _uploads(request_data)
        status, body = await self.api.handle(url.rsplit("/", 1)[-1], raw, files)
        return status, json.dumps(body).encode()

    def application_builder(self) -> ApplicationBuilder:
        """An ApplicationBuilder wired to this world (no updater: feed updates with process_update)."""
        return (
            ApplicationBuilder()
            .token(self.token)
            .request(self)
            .get_updates_request(RecordingRequest(self.world))
            .updater(None)
        )

    # -- inspection shortcuts --------------------------------------------------------------------

    @property
    def calls(self) -> list[tuple[str, JSON]]:
        return self.world.calls

    @property
    def spec_violations(self) -> list[SpecViolation]:
        return self.world.spec_violations

    def calls_to(self, method: str) -> list[JSON]:
        return self.world.calls_to(method)

    def sent_messages(self, chat: ChatRef) -> list[StoredMessage]:
        """The bot's current messages in ``chat``."""
        return self.world.bot_messages(chat)

    def sent_texts(self, chat: ChatRef) -> list[str | None]:
        """What the user sees of the bot's messages in ``chat`` (edits applied)."""
        return [message.plain_text for message in self.world.bot_messages(chat)]

    def fail_next(self, method: str, **kwargs: Any) -> None:
        """See :meth:`aftercare_bot.sandbox.emulator.faults.FaultPlan.fail_next`."""
        self.api.faults.fail_next(method, **kwargs)


def _uploads(request_data: RequestData | None) -> dict[str, UploadedFile]:
    uploads = {}
    for name, (filename, content, mime_type) in (request_data.multipart_data if request_data else {}).items():
        if not isinstance(content, bytes):  # a file handle
            content = content.read()
        uploads[name] = UploadedFile(filename or name, mime_type, content)
    return uploads


def as_update(data: JSON, bot: Bot) -> Update:
    """An Update dict from the world's actions, as PTB delivers it to handlers."""
    return Update.de_json(data, bot)


def make_text_update(
    telegram: RecordingRequest, bot: Bot, user: UserRef, text: str, chat: ChatRef | None = None,
    reply_to: MessageRef | int | None = None,
) -> Update:  # fmt: skip
    return as_update(telegram.world.send_text(user, text, chat, reply_to), bot)


def make_command_update(
    telegram: RecordingRequest, bot: Bot, user: UserRef, command: str, args: str | None = None,
    chat: ChatRef | None = None,
) -> Update:  # fmt: skip
    return as_update(telegram.world.send_command(user, command, args, chat), bot)


def make_callback_update(
    telegram: RecordingRequest, bot: Bot, user: UserRef | UserHandle, message: MessageRef, callback_data: str
) -> Update:
    return as_update(telegram.world.press_button(user, message, callback_data), bot)
