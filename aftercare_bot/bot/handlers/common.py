"""Small helpers shared by the handlers."""

from __future__ import annotations

from collections.abc import Callable

from telegram import CallbackQuery, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from aftercare_bot.callbacks import Press
from aftercare_bot.db.repositories import clients
from aftercare_bot.services import Services
from aftercare_bot.texts.languages import offered


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.application.bot_data["services"]


ECHO_LIMIT = 200


def echoed(value: str, limit: int = ECHO_LIMIT) -> str:
    """Someone's input quoted back in an answer, shortened so that the answer stays within Telegram's limits."""
    return value if len(value) <= limit else value[:limit] + "…"


def telegram_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    """The sender's Telegram language when the clinic has texts in it ("ru-RU" counts as "ru"), else the default."""
    svc, user = services(context), update.effective_user
    return offered(user.language_code if user else None, svc.languages) or svc.settings.default_language


def staff_language(context: ContextTypes.DEFAULT_TYPE) -> str:
    """The team's language (STAFF_LANGUAGE): admin screens, cards, notices, reports."""
    return services(context).staff_language


async def language_of(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    """The language to answer the sender in: the team's in the staff chat; a client's own (given at enrolment or
    chosen with /language); anyone else's Telegram language when the clinic has texts in it."""
    svc, user, chat = services(context), update.effective_user, update.effective_chat
    if chat is not None and chat.id == svc.settings.staff_chat_id:
        return svc.staff_language
    if user is not None:
        async with svc.session_factory() as session:
            client = await clients.by_telegram_id(session, user.id)
        if client is not None:
            return client.language
    return telegram_language(update, context)


async def signed_parts(
    update: Update, context: ContextTypes.DEFAULT_TYPE, press: Press, well_formed: Callable[[list[str]], bool]
) -> list[str] | None:
    """The parts of a pressed button's signed data after its kind, `press`, when `well_formed` accepts them.

    A forged, mangled or foreign press gets a short "not understood" alert and None, and changes nothing.
    """
    svc, query = services(context), update.callback_query
    parts = svc.signer.verify(query.data) if query is not None else None
    kind = press.value.split(":")
    if parts is not None and parts[:len(kind)] == kind and well_formed(parts[len(kind):]):
        return parts[len(kind):]
    if query is not None:
        await query.answer(svc.label("button_not_understood", await language_of(update, context)), show_alert=True)
    return None


async def wake_dispatcher(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Ask the scheduler to look at the queue now (new rows may be due immediately)."""
    from aftercare_bot.bot.jobs import wake

    wake(context.application)


async def remove_buttons(query: CallbackQuery) -> None:
    """Take the keyboard off the message; a repeated press finds it gone already, which is fine."""
    try:
        await query.edit_message_reply_markup(None)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise
