"""Role checks, done on the server for every staff and admin update, whatever chat it comes from."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from telegram import ChatMember, Update
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from aftercare_bot.bot.handlers.common import language_of, services
from aftercare_bot.db.models import Role
from aftercare_bot.db.repositories import staff as staff_repo

log = logging.getLogger(__name__)

# Membership of the staff chat is asked of Telegram at most once a minute per person; the answer is kept in the
# database, and a chat_member update from Telegram replaces it at once. Where Telegram sends no such update (the
# bot is not an administrator of the staff chat), someone removed keeps staff rights for up to this long.
MEMBERSHIP_TTL = timedelta(seconds=60)
_MEMBER_STATUSES = {ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[Any]]


async def role_of(context: ContextTypes.DEFAULT_TYPE, user_id: int) -> Role | None:
    svc = services(context)
    if user_id in svc.settings.admin_ids:
        return Role.ADMIN
    async with svc.session_factory() as session:
        member = await staff_repo.get(session, user_id)
    if member is not None:
        # A removed person keeps a "revoked" row, which also overrides membership of the staff chat.
        return None if member.role == Role.REVOKED else Role(member.role)
    if await _in_staff_chat(context, user_id):
        return Role.STAFF
    return None


async def is_admin(context: ContextTypes.DEFAULT_TYPE, user_id: int) -> bool:
    """The admin role alone (never given by the staff chat): the settings, else one look at the team table."""
    svc = services(context)
    if user_id in svc.settings.admin_ids:
        return True
    async with svc.session_factory() as session:
        member = await staff_repo.get(session, user_id)
    return member is not None and member.role == Role.ADMIN


async def _in_staff_chat(context: ContextTypes.DEFAULT_TYPE, user_id: int) -> bool:
    chat_id = services(context).settings.staff_chat_id
    if chat_id is None:
        return False
    svc = services(context)
    async with svc.session_factory() as session:
        known = await staff_repo.chat_membership(session, user_id)
    asked_at = svc.clock.now()
    if known is not None and asked_at - known.checked_at < MEMBERSHIP_TTL:
        return known.is_member
    try:
        is_member = _is_member(await context.bot.get_chat_member(chat_id, user_id))
    except TelegramError as exc:
        log.warning("could not check staff chat membership of %s: %s", user_id, exc)
        return False  # fail closed: no access when membership cannot be confirmed
    async with svc.session_factory.begin() as session:
        await staff_repo.record_chat_membership(session, user_id, is_member=is_member, at=asked_at)
    return is_member


def _is_member(member: ChatMember) -> bool:
    return member.status in _MEMBER_STATUSES or (
        member.status == ChatMemberStatus.RESTRICTED and getattr(member, "is_member", False)
    )


async def staff_chat_membership_changed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Telegram says someone joined or left the staff chat (or was removed): their staff rights follow at once."""
    changed, svc = update.chat_member, services(context)
    if changed is None or changed.chat.id != svc.settings.staff_chat_id:
        return
    member = changed.new_chat_member
    async with svc.session_factory.begin() as session:
        await staff_repo.record_chat_membership(session, member.user.id, is_member=_is_member(member),
                                                at=changed.date)  # Telegram's time: updates may be handled out of order
    log.info("staff chat membership of %s is now %s", member.user.id, member.status)


def _private_or_staff_chat(update: Update, staff_chat_id: int | None) -> bool:
    chat = update.effective_chat
    return chat is None or chat.type == chat.PRIVATE or chat.id == staff_chat_id


def _requires(allowed: set[Role], refused_result: Any = None) -> Callable[[Handler], Handler]:
    def decorator(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Any:
            user = update.effective_user
            role = await role_of(context, user.id) if user else None
            svc = services(context)
            if role in allowed and _private_or_staff_chat(update, svc.settings.staff_chat_id):
                return await handler(update, context)
            # The team is answered in its own language; anyone else in theirs.
            language = svc.staff_language if role is not None else await language_of(update, context)
            if role in allowed:
                # Client details must not be posted in some other group the bot happens to be in.
                log.info("refused %s to user %s in chat %s", handler.__name__, user.id, update.effective_chat.id)
                if update.callback_query:
                    await update.callback_query.answer(svc.label("staff_wrong_chat", language), show_alert=True)
                else:
                    await update.effective_chat.send_message(svc.text("staff_wrong_chat", language))
                return refused_result
            # Staff refused an admin action are told it is for admins; anyone else that it is for the team.
            key = "admin_not_allowed" if role == Role.STAFF else "not_allowed"
            log.info("refused %s to user %s (role %s)", handler.__name__, user.id if user else None, role)
            if update.callback_query:
                await update.callback_query.answer(svc.label(f"{key}_short", language), show_alert=True)
            elif update.effective_chat:
                await update.effective_chat.send_message(svc.text(key, language))
            return refused_result

        return guarded

    return decorator


staff_only = _requires({Role.STAFF, Role.ADMIN})
admin_only = _requires({Role.ADMIN})
