"""Small helpers shared by the handlers."""

from __future__ import annotations

from collections.abc import Callable

from telegram import CallbackQuery, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from aftercare_bot.callbacks import Press
from aftercare_bot.services import Services


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.application.bot_data["services"]


ECHO_LIMIT = 200


def echoed(value: str, limit: int = ECHO_LIMIT) -> str:
    """Someone's input quoted back in an answer, shortened so that the answer stays within Telegram's limits."""
    return value if len(value) <= limit else value[:limit] + "…"


def language_of(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    user = update.effective_user
    code = (user.language_code if user else None) or services(context).settings.default_language
    return code.split("-")[0]


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
        await query.answer(svc.label("button_not_understood", language_of(update, context)), show_alert=True)
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
