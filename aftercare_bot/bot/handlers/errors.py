"""The last line of defence: log every unhandled error, and answer the person so nobody is left waiting."""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from aftercare_bot.bot.handlers.common import language_of, services

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    if isinstance(context.error, BadRequest) and "query is too old" in str(context.error).lower():
        # A button press handled after Telegram stopped waiting for its answer (the bot was down or slow);
        # the person's spinner has long stopped, so there is nobody to tell.
        log.warning("a button press came too late to be answered: %s", context.error)
        return
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
