"""The last line of defence: log every unhandled error, and answer the person so nobody is left waiting."""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from aftercare_bot.handlers.common import language_of, services

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.callback_query:
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer()
    try:
        svc = services(context)
        await update.effective_chat.send_message(svc.text("something_went_wrong", language_of(update, context)))
    except TelegramError:
        log.warning("could not tell the user about the error")
