"""The last line of defence: log every unhandled error, and answer the person so nobody is left waiting.

Logged as an error, it is reported to the admins too (bot/error_reports.py), with the client's number when the
person is a client: never their name or what they wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from aftercare_bot.bot.handlers.common import language_of, services, telegram_language
from aftercare_bot.db.repositories import clients

LOOKUP_TIMEOUT = 2.0  # seconds; the error may be the database itself

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    if isinstance(context.error, BadRequest) and "query is too old" in str(context.error).lower():
        # A button press handled after Telegram stopped waiting for its answer (the bot was down or slow);
        # the person's spinner has long stopped, so there is nobody to tell.
        log.warning("a button press came too late to be answered: %s", context.error)
        return
    log.error("error while handling an update", exc_info=context.error, extra=await _numbers(update, context))
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.callback_query:
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer()
    try:
        svc = services(context)
        try:
            language = await language_of(update, context)
        except Exception:  # the database may be what failed; the apology must still go out
            language = telegram_language(update, context)
        await update.effective_chat.send_message(svc.text("something_went_wrong", language))
    except TelegramError:
        log.warning("could not tell the user about the error")


async def _numbers(update: object, context: ContextTypes.DEFAULT_TYPE) -> dict[str, int]:
    """What the error report may name: the client's number, else the chat's id. Never raises."""
    if not isinstance(update, Update) or update.effective_chat is None:
        return {}
    chat = update.effective_chat
    if chat.type == ChatType.PRIVATE and update.effective_user is not None:
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT), services(context).session_factory() as session:
                client = await clients.by_telegram_id(session, update.effective_user.id)
            if client is not None:
                return {"client_id": client.id}
        except Exception as exc:
            log.warning("could not look up the client of chat %s (%s)", chat.id, type(exc).__name__)
    return {"chat_id": chat.id}
