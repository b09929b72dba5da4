"""/report: how aftercare went, as a chart and a few headline numbers, for admins only."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from telegram import InputFile, Update
from telegram.constants import ChatAction
from telegram.ext import ContextTypes

from aftercare_bot.bot.handlers.admin_templates import send
from aftercare_bot.bot.handlers.auth import admin_only
from aftercare_bot.bot.handlers.common import services, staff_language
from aftercare_bot.reporting.build import make_report, telegram_messages
from aftercare_bot.reporting.period import PeriodError, from_words

log = logging.getLogger(__name__)


@admin_only
async def report_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/report (the last 7 days), /report month (30 days), /report 2026-01-01 2026-01-31, /report help."""
    svc, lang, chat = services(context), staff_language(context), update.effective_chat
    args = context.args or []
    if chat is None:
        return
    if [arg.lower() for arg in args] == ["help"]:
        await send(update, svc.text("report_usage", lang))
        return
    try:
        period = from_words(args, now=svc.clock.now(), tz=svc.settings.timezone)
    except PeriodError:
        await send(update, "\n\n".join([svc.text("report_bad_period", lang), svc.text("report_usage", lang)]))
        return
    await chat.send_chat_action(ChatAction.UPLOAD_PHOTO)
    try:
        report = await make_report(svc, period, lang)
    except SQLAlchemyError:
        log.exception("the report for %s to %s could not be made", period.start, period.end)
        await send(update, svc.text("report_failed", lang))
        return
    caption, rest = telegram_messages(report)
    await chat.send_photo(InputFile(report.png, filename="report.png"), caption=caption)
    if rest:
        await send(update, rest)
