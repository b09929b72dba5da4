"""/mydata and /forget: a person sees what the bot holds about them and may have it erased. Domain: privacy.py."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from aftercare_bot.bot.handlers.common import language_of, remove_buttons, services, signed_parts
from aftercare_bot.callbacks import Press
from aftercare_bot.clients import privacy
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import clients
from aftercare_bot.db.session import settle_erasure

log = logging.getLogger(__name__)

REPORT_FILE_NAME = "my-aftercare-data.txt"


async def _held_data(update: Update, context: ContextTypes.DEFAULT_TYPE) -> tuple[privacy.HeldData, str] | None:
    """What the bot holds about the person asking in a private chat, and the language to answer in.

    None when the question comes from a group (it is not answered there) or the bot holds nothing (which it says).
    """
    svc, user, chat = services(context), update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != chat.PRIVATE:
        return None
    async with svc.session_factory() as session:
        data = await privacy.held_data(session, user.id)
    language = data.client.language if data.client else await language_of(update, context)
    if data.empty:
        await chat.send_message(svc.text("privacy_nothing", language))
        return None
    return data, language


async def my_data(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    held = await _held_data(update, context)
    if held is None:
        return
    svc, chat, (data, language) = services(context), update.effective_chat, held
    report = privacy.ReportWriter(svc, language).report(data, svc.clock.now())
    if report.document is not None:
        await chat.send_document(report.document, filename=REPORT_FILE_NAME, caption=report.messages[0])
        return
    for message in report.messages:
        await chat.send_message(message)


async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    held = await _held_data(update, context)
    if held is None:
        return
    svc, user, (data, language) = services(context), update.effective_user, held
    # The user id is signed into the buttons, so a press by anyone else (a forwarded copy) changes nothing;
    # so is their client record, so a press after they were erased and enrolled again erases nothing new.
    record = RowRef.token_of(data.client)
    buttons = InlineKeyboardMarkup([[
        InlineKeyboardButton(svc.label("privacy_forget_button_yes", language),
                             callback_data=svc.signer.sign(Press.FORGET, user.id, record, "yes")),
        InlineKeyboardButton(svc.label("privacy_forget_button_no", language),
                             callback_data=svc.signer.sign(Press.FORGET, user.id, record, "no")),
    ]])
    await update.effective_chat.send_message(svc.text("privacy_forget_confirm", language), reply_markup=buttons)


async def forget_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, query, user = services(context), update.callback_query, update.effective_user
    if query is None or user is None:
        return
    parts = await signed_parts(update, context, Press.FORGET, lambda signed: (
        len(signed) == 3 and signed[0] == str(user.id) and query.message is not None
    ))
    if parts is None:
        return
    language = await language_of(update, context)
    await query.answer()
    await remove_buttons(query)
    chat = query.message.chat
    if parts[2] != "yes":
        await chat.send_message(svc.text("privacy_forget_kept", language))
        return
    # Not while a message of theirs is being handled, which would write to the conversation being erased.
    erasure, staff_chats, stale = None, [], False
    async with svc.runtime.conversation.exclusive(user.id), svc.session_factory.begin() as session:
        if RowRef.token_of(await clients.by_telegram_id(session, user.id)) == parts[1]:
            erasure = await privacy.erase(session, user.id, now=svc.clock.now(), reason=privacy.BY_REQUEST)
            staff_chats = await privacy.queue_staff_notice(svc, session, erasure) if erasure is not None else []
        else:  # made for a record since erased; what is held now was not shown when it was pressed
            stale = not (await privacy.held_data(session, user.id)).empty
    if stale:
        await chat.send_message(svc.text("privacy_forget_stale", language))
        return
    if erasure is None:
        await chat.send_message(svc.text("privacy_nothing", language))
        return
    await settle_erasure(svc.engine)
    log.info("erased a person's data at their request")
    await chat.send_message(svc.text("privacy_erased", erasure.language or language))
    await svc.runtime.outbox.deliver(*staff_chats)
