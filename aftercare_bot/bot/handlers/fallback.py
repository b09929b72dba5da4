"""Answers for whatever no other handler took: unknown commands, stale buttons."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from aftercare_bot.bot.handlers.common import language_of, services


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    chat = update.effective_chat
    if chat is None or chat.type != chat.PRIVATE:
        return  # in groups, commands for other bots are none of our business
    await chat.send_message(services(context).text("unknown_command", await language_of(update, context)))


async def unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    await update.callback_query.answer(svc.label("button_not_understood", await language_of(update, context)),
                                       show_alert=True)
