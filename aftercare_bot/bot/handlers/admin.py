"""Admins manage the team from Telegram: /staff lists, adds and removes staff and admins."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardMarkup,
    Update,
    User,
)
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from aftercare_bot.bot.handlers import admin_views as views
from aftercare_bot.bot.handlers.admin_templates import send
from aftercare_bot.bot.handlers.auth import admin_only
from aftercare_bot.bot.handlers.common import services, signed_parts, staff_language
from aftercare_bot.callbacks import Press
from aftercare_bot.clients import team
from aftercare_bot.clients.team import TeamMember, TeamRefused
from aftercare_bot.db.models import Role
from aftercare_bot.services import Services
from aftercare_bot.texts.catalog import FALLBACK_LANGUAGE

log = logging.getLogger(__name__)

_USER_ID = re.compile(r"[0-9]{1,16}")  # user ids fit in 52 bits
ADMIN_COMMANDS = ("templates", "history", "report", "staff", "apikeys", "enrol", "client", "open", "cancel", "help")


def _user_id(arg: str) -> int | None:
    """A Telegram user id as typed: ASCII digits only (int() would also take "٣"), within Telegram's range."""
    return int(arg) if _USER_ID.fullmatch(arg) and int(arg) > 0 else None


@admin_only
async def staff_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/staff, /staff add [admin] (replying to someone), /staff add <id> [admin], /staff remove <id>."""
    svc, lang = services(context), staff_language(context)
    args = [arg.lower() for arg in context.args or []]
    if not args:
        await _show_team(update, context)
        return
    action, rest = args[0], args[1:]
    if action == "add":
        role = Role.ADMIN if "admin" in rest else Role.STAFF
        numbers = [number for number in map(_user_id, rest) if number is not None]
        replied = update.effective_message.reply_to_message if update.effective_message else None
        if numbers:
            user_id = numbers[0]
            await _add(update, context, user_id, await _name_of(context, user_id), role)
            return
        if replied is not None and replied.from_user is not None:
            if replied.from_user.is_bot:
                await send(update, svc.text("team_reply_to_bot", lang))
                return
            await _add(update, context, replied.from_user.id, replied.from_user.full_name, role)
            return
    elif action == "remove" and rest and _user_id(rest[0]) is not None:
        await _remove(update, context, _user_id(rest[0]))
        return
    await send(update, svc.text("team_usage", lang))


TeamAction = Callable[[Update, ContextTypes.DEFAULT_TYPE, int, list[str]], Awaitable[None]]


def _team_button(
    press: Press, action: TeamAction
) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]:
    """The handler of one kind of team button (app.register_handlers says which): admins only, the signed
    data checked; `action` gets the Telegram user id the button names (0 for none) and any further parts."""

    @admin_only
    @functools.wraps(action)
    async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        parts = await signed_parts(
            update, context, press, lambda signed: not signed or signed[0].lstrip("-").isdigit()
        )
        if parts is None or update.callback_query is None:
            return
        await update.callback_query.answer()
        await action(update, context, int(parts[0]) if parts else 0, parts[1:])

    return handler


async def _list(update: Update, context: ContextTypes.DEFAULT_TYPE, _user_id: int, _rest: list[str]) -> None:
    await _show_team(update, context)


async def _ask_remove(update: Update, context: ContextTypes.DEFAULT_TYPE, user_id: int, _rest: list[str]) -> None:
    svc, lang = services(context), staff_language(context)
    name = await _known_name(svc, user_id) or svc.label("team_id_only", lang, user_id=user_id)
    buttons = InlineKeyboardMarkup([[
        views.button(svc, "team_button_confirm_remove", lang, Press.TEAM_REMOVE_CONFIRMED, user_id),
        views.button(svc, "team_button_keep", lang, Press.TEAM),
    ]])
    await send(update, svc.text("team_confirm_remove", lang, name=name), buttons)


async def _confirmed_remove(
    update: Update, context: ContextTypes.DEFAULT_TYPE, user_id: int, _rest: list[str]
) -> None:
    assert update.callback_query is not None
    await update.callback_query.edit_message_reply_markup(None)
    await _remove(update, context, user_id)


async def _add_from_list(update: Update, context: ContextTypes.DEFAULT_TYPE, user_id: int, rest: list[str]) -> None:
    role = Role.ADMIN if rest[:1] == ["a"] else Role.STAFF
    await _add(update, context, user_id, await _known_name(services(context), user_id), role)


show_team = _team_button(Press.TEAM, _list)
ask_remove = _team_button(Press.TEAM_REMOVE, _ask_remove)
remove = _team_button(Press.TEAM_REMOVE_CONFIRMED, _confirmed_remove)
add_to_team = _team_button(Press.TEAM_ADD, _add_from_list)


async def install_admin_menus(bot: Bot, svc: Services) -> None:
    """The admin commands in the private chat menu of every admin (start-up)."""
    async with svc.session_factory() as session:
        admins = [m.user_id for m in await team.members(session, svc.settings) if m.role == Role.ADMIN]
    for user_id in admins:
        await _admin_menu(bot, svc, user_id, is_admin=True)


# --- helpers --------------------------------------------------------------------------------------


async def _show_team(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, lang = services(context), staff_language(context)
    async with svc.session_factory() as session:
        members = await team.members(session, svc.settings)
    lines = [svc.text("team_list_header", lang)]
    rows = []
    for member in members:
        name = member.name or await _name_of(context, member.user_id) or svc.label("team_unknown_name", lang)
        if member.fixed:
            lines.append(svc.text("team_member_fixed_line", lang, name=name, user_id=member.user_id))
            continue
        lines.append(
            svc.text(
                "team_member_line",
                lang,
                name=name,
                user_id=member.user_id,
                role=svc.label(f"team_role_{member.role}", lang),
            )
        )
        other = (
            ("team_button_make_staff", "s") if member.role == Role.ADMIN else ("team_button_make_admin", "a")
        )
        rows.append(
            [
                views.button(svc, "team_button_remove", lang, Press.TEAM_REMOVE, member.user_id, name=name),
                views.button(svc, other[0], lang, Press.TEAM_ADD, member.user_id, other[1], name=name),
            ]
        )
    lines.append(svc.text("team_list_footer", lang))
    await send(update, "\n".join(lines), InlineKeyboardMarkup(rows) if rows else None)


async def _add(
    update: Update, context: ContextTypes.DEFAULT_TYPE, user_id: int, name: str, role: Role
) -> None:
    svc, lang = services(context), staff_language(context)
    actor = update.effective_user
    assert actor is not None
    try:
        async with svc.session_factory.begin() as session:
            member = await team.add(
                session,
                user_id=user_id,
                name=name,
                role=role,
                actor_id=actor.id,
                now=svc.clock.now(),
                settings=svc.settings,
            )
    except TeamRefused as refused:
        await send(
            update, svc.text(refused.key, lang, name=name or svc.label("team_id_only", lang, user_id=user_id))
        )
        return
    _forget_membership(context, user_id)
    await _admin_menu(context.bot, svc, user_id, is_admin=role == Role.ADMIN)
    await send(
        update,
        svc.text(
            "team_added", lang, name=_display(svc, member, lang), role=svc.label(f"team_role_{role}", lang)
        ),
    )


async def _remove(update: Update, context: ContextTypes.DEFAULT_TYPE, user_id: int) -> None:
    svc, lang = services(context), staff_language(context)
    actor = update.effective_user
    assert actor is not None
    name = await _known_name(svc, user_id) or svc.label("team_id_only", lang, user_id=user_id)
    try:
        async with svc.session_factory.begin() as session:
            member = await team.remove(
                session, user_id=user_id, actor_id=actor.id, now=svc.clock.now(), settings=svc.settings
            )
    except TeamRefused as refused:
        await send(update, svc.text(refused.key, lang, name=name))
        return
    _forget_membership(context, user_id)
    await _admin_menu(context.bot, svc, user_id, is_admin=False)
    await send(update, svc.text("team_removed", lang, name=_display(svc, member, lang)))


def _display(svc: Services, member: TeamMember, lang: str) -> str:
    return member.name or svc.label("team_id_only", lang, user_id=member.user_id)


async def _known_name(svc: Services, user_id: int) -> str:
    async with svc.session_factory() as session:
        for member in await team.members(session, svc.settings):
            if member.user_id == user_id:
                return member.name
    return ""


async def _name_of(context: ContextTypes.DEFAULT_TYPE, user_id: int) -> str:
    """The person's Telegram name when the staff chat knows them, else "" (the id is shown instead)."""
    chat_id = services(context).settings.staff_chat_id
    if chat_id is None:
        return ""
    try:
        member = await context.bot.get_chat_member(chat_id, user_id)
    except TelegramError:
        return ""
    user: User = member.user
    return user.full_name


def _forget_membership(context: ContextTypes.DEFAULT_TYPE, user_id: int) -> None:
    """Drop the cached staff-chat membership so the new role applies at once."""
    context.application.bot_data.get("staff_chat_members", {}).pop(user_id, None)


async def _admin_menu(bot: Bot, svc: Services, user_id: int, *, is_admin: bool) -> None:
    language = svc.staff_language
    scope = BotCommandScopeChat(user_id)
    try:
        if is_admin:
            commands = [
                BotCommand(name, svc.label(f"menu_{name}", language))
                for name in ADMIN_COMMANDS
                if svc.texts.has(f"menu_{name}", FALLBACK_LANGUAGE)
            ]
            await bot.set_my_commands(commands, scope=scope)
        else:
            await bot.delete_my_commands(scope=scope)
    except TelegramError as exc:
        # Telegram refuses a menu for someone who never opened a chat with the bot; commands still work.
        log.info("could not update the command menu of %s: %s", user_id, exc)
