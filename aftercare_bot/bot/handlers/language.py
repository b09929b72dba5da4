"""/language: a client chooses the language the bot writes to them in, from those the clinic has texts for."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from aftercare_bot.bot.handlers.common import language_of, remove_buttons, services, signed_parts
from aftercare_bot.callbacks import Press
from aftercare_bot.clients import enrolment
from aftercare_bot.db.models import Client
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import clients
from aftercare_bot.services import Services
from aftercare_bot.texts.languages import offered

BUTTONS_PER_ROW = 3


async def language_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The languages as buttons, each named in itself; `/language ru` chooses at once."""
    svc, user, chat = services(context), update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != chat.PRIVATE:
        return
    lang = await language_of(update, context)
    async with svc.session_factory() as session:
        client = await clients.by_telegram_id(session, user.id)
    if client is None:  # nothing to store it on: tell them how to join, as to anyone unknown
        await chat.send_message(svc.text("start_no_token", lang))
        return
    if context.args:
        wanted = offered(context.args[0], svc.languages)
        if wanted is not None:
            await _choose(update, context, wanted, RowRef.token_of(client))
            return
        prompt = svc.text("language_unknown", lang, language=context.args[0][:20])
    else:
        prompt = svc.text("language_choose", lang, language=svc.language_name(client.language))
    await chat.send_message(prompt, reply_markup=_buttons(svc, user.id, client))


def _buttons(svc: Services, user_id: int, client: Client) -> InlineKeyboardMarkup:
    # Bound to the person and to their record: a forwarded copy, or a press after they were erased, changes nothing.
    record = RowRef.token_of(client)
    buttons = [
        InlineKeyboardButton(svc.language_name(code),
                             callback_data=svc.signer.sign(Press.LANGUAGE, user_id, record, code))
        for code in svc.languages
    ]
    return InlineKeyboardMarkup([buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)])


async def language_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, query, user = services(context), update.callback_query, update.effective_user
    if query is None or user is None:
        return
    parts = await signed_parts(update, context, Press.LANGUAGE, lambda signed: (
        len(signed) == 3 and signed[0] == str(user.id)
    ))
    if parts is None:
        return
    if parts[2] not in svc.languages:  # a language the clinic no longer has
        await query.answer(svc.label("button_not_understood", await language_of(update, context)), show_alert=True)
        return
    await _choose(update, context, parts[2], parts[1])


async def _choose(update: Update, context: ContextTypes.DEFAULT_TYPE, code: str, record: str) -> None:
    """Store `code` on the client `record` names (if it is still theirs) and answer in it."""
    svc, user, query = services(context), update.effective_user, update.callback_query
    async with svc.session_factory.begin() as session:
        client = await clients.by_telegram_id_for_update(session, user.id)
        stale = client is None or RowRef.token_of(client) != record
        if not stale:
            await enrolment.set_language(session, client, code, now=svc.clock.now())
    if stale:  # no client record, or no longer the one the button was made for: nothing was saved
        not_understood = svc.label("button_not_understood", await language_of(update, context))
        if query is not None:
            await query.answer(not_understood, show_alert=True)
        else:
            await update.effective_chat.send_message(not_understood)
        return
    if query is not None:
        await query.answer()
        await remove_buttons(query)
    await update.effective_chat.send_message(svc.text("language_chosen", code, language=svc.language_name(code)))
