"""The front-desk QR code: the client shares their phone number and joins the enrolment made for it.
Domain: clients/frontdesk.py."""

from __future__ import annotations

from telegram import KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.ext import ContextTypes

from aftercare_bot.bot.handlers import client_messages
from aftercare_bot.bot.handlers.common import language_of, services
from aftercare_bot.clients import frontdesk
from aftercare_bot.clients.phones import to_e164
from aftercare_bot.db.models import ClientStatus
from aftercare_bot.db.repositories import clients
from aftercare_bot.delivery.staff_notify import notify_staff

LAST_DIGITS = 3  # of an unmatched number, for staff to tell people apart; the number itself is not kept


def _share_keyboard(label: str) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup([[KeyboardButton(label, request_contact=True)]], resize_keyboard=True,
                               one_time_keyboard=True)


async def welcome(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, lang = services(context), await language_of(update, context)
    await update.effective_chat.send_message(
        svc.text("frontdesk_welcome", lang), reply_markup=_share_keyboard(svc.label("frontdesk_share_button", lang))
    )


async def contact_shared(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    from aftercare_bot.bot.handlers.client import send_consent

    svc, lang = services(context), await language_of(update, context)
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    contact = message.contact if message else None
    if contact is None or user is None or chat is None:
        return
    async with svc.session_factory() as session:
        client = await clients.by_telegram_id(session, user.id)
    active = client is not None and client.status == ClientStatus.ACTIVE
    # Only the sender's own number counts: Telegram vouches for it only when the contact is their own.
    if contact.user_id != user.id:
        if active:  # a client passing on someone's contact: a message for the clinic like any other
            await client_messages.inbound(update, context)
            return
        await chat.send_message(svc.text("frontdesk_not_own", lang),
                                reply_markup=_share_keyboard(svc.label("frontdesk_share_button", lang)))
        return
    phone = to_e164(contact.phone_number, svc.settings.clinic_region)
    if phone is None:
        await chat.send_message(svc.text("frontdesk_bad_number", lang), reply_markup=ReplyKeyboardRemove())
        return
    async with svc.session_factory.begin() as session:
        invite = await frontdesk.match(session, phone, telegram_user_id=user.id, now=svc.clock.now())
    if invite is not None:
        await chat.send_message(svc.text("frontdesk_matched", lang), reply_markup=ReplyKeyboardRemove())
        await send_consent(update, context, invite)
        return
    if active:
        await chat.send_message(svc.text("frontdesk_already_enrolled", lang), reply_markup=ReplyKeyboardRemove())
        return
    await chat.send_message(svc.text("frontdesk_no_match", lang), reply_markup=ReplyKeyboardRemove())
    await notify_staff(svc, svc.text(
        "frontdesk_no_match_staff", svc.staff_language, first_name=contact.first_name or user.first_name or "",
        last_digits=phone[-LAST_DIGITS:],
    ))
