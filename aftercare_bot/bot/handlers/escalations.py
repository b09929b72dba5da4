"""The staff side of escalations: Claim and Resolve buttons (on cards and digests), replies to cases, /open.
Domain: escalation*.py."""

from __future__ import annotations

from telegram import ReplyParameters, Update
from telegram.ext import ContextTypes

from aftercare_bot.bot.handlers.auth import role_of, staff_only
from aftercare_bot.bot.handlers.common import language_of, services, signed_parts, staff_language
from aftercare_bot.bot.handlers.content import content_of
from aftercare_bot.callbacks import Press
from aftercare_bot.db.models import Role
from aftercare_bot.db.refs import RowRef
from aftercare_bot.escalation.actions import StaffAction
from aftercare_bot.escalation.desk import EscalationDesk
from aftercare_bot.escalation.replies import StaffMessage


def desk_of(context: ContextTypes.DEFAULT_TYPE) -> EscalationDesk:
    return services(context).runtime.escalations


# How long a reply to a bot post waits for that post to be recorded as part of a case (see case_of_post).
REPLY_PATIENCE = 1.0

_ANSWERS = {
    StaffAction.ALREADY_YOURS: "esc_claim_yours",
    StaffAction.TAKEN: "esc_claim_taken",
    StaffAction.RESOLVED: "esc_already_resolved",
    StaffAction.UNKNOWN: "esc_case_unknown",
}


@staff_only
async def case_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Claim or Resolve on a case card; forged data and stale presses change nothing."""
    svc, query, user = services(context), update.callback_query, update.effective_user
    if query is None or user is None:
        return
    parts = await signed_parts(update, context, Press.CASE, lambda signed: (
        len(signed) == 2 and RowRef.parse(signed[0]) is not None and signed[1] in ("claim", "resolve")
    ))
    case = RowRef.parse(parts[0]) if parts is not None else None
    if parts is None or case is None:
        return
    lang = staff_language(context)
    desk = desk_of(context)
    action = desk.actions.claim if parts[1] == "claim" else desk.actions.resolve
    result = await action(case, user.id, user.full_name)
    if result.status == StaffAction.DONE:
        key = "esc_claim_done" if parts[1] == "claim" else "esc_resolve_done"
        await query.answer(svc.label(key, lang))
        return
    await query.answer(svc.label(_ANSWERS[result.status], lang, name=result.holder or ""), show_alert=True)


@staff_only
async def digest_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A case's button in a digest: claim it; its full card follows, to reply under."""
    svc, query, user = services(context), update.callback_query, update.effective_user
    if query is None or user is None:
        return
    parts = await signed_parts(update, context, Press.DIGEST, lambda signed: (
        len(signed) == 1 and RowRef.parse(signed[0]) is not None
    ))
    case = RowRef.parse(parts[0]) if parts is not None else None
    if case is None:
        return
    lang = staff_language(context)
    desk = desk_of(context)
    result = await desk.actions.claim(case, user.id, user.full_name)
    if result.status == StaffAction.DONE:
        await desk.digests.card_follows(case.id)
        await query.answer(svc.label("esc_digest_claim_done", lang))
        return
    await query.answer(svc.label(_ANSWERS[result.status], lang, name=result.holder or ""), show_alert=True)


async def staff_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A reply in the staff chat: passed to the client when it answers a post of a case."""
    message, chat = update.message, update.effective_chat
    if message is None or chat is None or message.reply_to_message is None:
        return
    replied = message.reply_to_message
    if replied.from_user is None or replied.from_user.id != context.bot.id:
        return  # people talking to each other
    if await desk_of(context).posts.case_of_post(chat.id, replied.message_id, patience=REPLY_PATIENCE) is None:
        return
    await relay(update, context)


async def relay(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, message, user, chat = services(context), update.message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None or message.reply_to_message is None:
        return
    if await role_of(context, user.id) not in (Role.STAFF, Role.ADMIN):
        await chat.send_message(svc.text("not_allowed", await language_of(update, context)),
                                reply_parameters=ReplyParameters(message.message_id))
        return
    kind, text, photo_file_id = content_of(message)
    await desk_of(context).replies.relay(StaffMessage(
        chat_id=chat.id, message_id=message.message_id, reply_to_message_id=message.reply_to_message.message_id,
        author_id=user.id, author_name=user.full_name, kind=kind, text=text, photo_file_id=photo_file_id,
    ))


@staff_only
async def open_cases(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    for html in await desk_of(context).actions.open_cases_messages():  # a long list takes several messages
        await update.effective_chat.send_message(html)

