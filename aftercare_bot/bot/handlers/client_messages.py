"""Clients writing to the bot and answering check-ins; the work is done in aftercare_bot.inbound.receive."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from aftercare_bot.bot.handlers import escalations
from aftercare_bot.bot.handlers.common import language_of, services, signed_parts
from aftercare_bot.bot.handlers.content import content_of
from aftercare_bot.callbacks import Press
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories.conversation import EDIT
from aftercare_bot.inbound.checkins import CheckinResult, CheckinStatus
from aftercare_bot.inbound.message import InboundMessage
from aftercare_bot.inbound.receive import ClientConversation
from aftercare_bot.texts.languages import base_code

log = logging.getLogger(__name__)


def _conversation(context: ContextTypes.DEFAULT_TYPE) -> ClientConversation:
    return services(context).runtime.conversation


async def inbound(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any private message that is not a command: a client's message, or an admin answering a case."""
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None or chat.type != chat.PRIVATE or user.is_bot:
        return
    # Without a staff chat, cases go to admins privately; a reply there is an answer to the client.
    if update.message is not None and message.reply_to_message is not None:
        desk = escalations.desk_of(context)
        replied = message.reply_to_message
        from_bot = replied.from_user is not None and replied.from_user.id == context.bot.id
        patience = escalations.REPLY_PATIENCE if from_bot and user.id in services(context).settings.admin_ids else 0.0
        if from_bot and await desk.posts.case_of_post(chat.id, replied.message_id, patience=patience) is not None:
            await escalations.relay(update, context)
            return
    kind, text, file_id = content_of(message)
    edited = update.edited_message is not None
    # `language` serves only people with no record (a client's own is stored): kept even without texts in it, so
    # that triage uses its rules, or every language's when there are none.
    await _conversation(context).receive(InboundMessage(
        telegram_user_id=user.id, chat_id=chat.id, message_id=message.message_id,
        kind=EDIT if edited and kind == "text" else kind, text=text, file_id=file_id,
        language=base_code(user.language_code) or services(context).settings.default_language, edited=edited,
    ))


async def checkin_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A tap on a check-in's buttons."""
    await _answer(update, context, Press.CHECKIN, lambda conversation: conversation.checkins.answer,
                  already="checkin_already_answered")


async def ask_back_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A tap on the question about warning signs: a warning sign makes the case urgent at once."""
    await _answer(update, context, Press.ASK_BACK, lambda conversation: conversation.ask_back.answer,
                  already="ask_back_already_answered")


Answering = Callable[[RowRef, str, int], Awaitable[CheckinResult]]


async def _answer(
    update: Update, context: ContextTypes.DEFAULT_TYPE, press: Press,
    answering: Callable[[ClientConversation], Answering], *, already: str,
) -> None:
    """A client's answer on buttons that name their message by RowRef: recorded once, then shown under it."""
    svc, query, user = services(context), update.callback_query, update.effective_user
    if query is None or user is None:
        return
    lang = await language_of(update, context)
    parts = await signed_parts(update, context, press, lambda signed: (
        len(signed) == 2 and RowRef.parse(signed[0]) is not None
    ))
    target = RowRef.parse(parts[0]) if parts is not None else None
    if parts is None or target is None:
        return
    result = await answering(_conversation(context))(target, parts[1], user.id)
    if result.status == CheckinStatus.ALREADY:
        await query.answer(svc.label(already, result.language or lang))
        return
    if result.status == CheckinStatus.NOT_YOURS:
        await query.answer(svc.label("checkin_not_yours", lang), show_alert=True)
        return
    if result.status != CheckinStatus.ANSWERED:
        await query.answer(svc.label("button_not_understood", lang), show_alert=True)
        return
    await query.answer()
    original = query.message
    if isinstance(original, Message) and original.text:
        answered = svc.text("checkin_answered_line", result.language, answer=result.answer_label)
        try:
            await query.edit_message_text(f"{original.text_html}\n\n{answered}", reply_markup=None)
        except TelegramError as exc:
            # The answer is recorded either way; an old message may no longer be editable.
            log.warning("could not mark the answer under its message: %s", exc)
