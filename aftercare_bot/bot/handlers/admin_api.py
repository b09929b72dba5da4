"""Admins and booking systems: /apikeys (make, list, revoke API keys) and CSV files of enrolments sent to the bot.
Domain: clients/api_keys.py, clients/csv_import.py."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from aftercare_bot.bot.handlers import client_messages
from aftercare_bot.bot.handlers.auth import admin_only, role_of
from aftercare_bot.bot.handlers.common import echoed, services, signed_parts, staff_language
from aftercare_bot.callbacks import Press
from aftercare_bot.clients import api_keys, csv_import
from aftercare_bot.clients.booking import Rules
from aftercare_bot.db.models import Role
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import api_keys as api_keys_repo
from aftercare_bot.texts import wording

PROBLEMS_SHOWN = 25
LINKS_FILE_NAME = "enrolment-links.csv"


@admin_only
async def apikeys_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, lang = services(context), staff_language(context)
    chat, user = update.effective_chat, update.effective_user
    if chat.type != chat.PRIVATE:  # a key posted in a group would be seen by everyone in it
        await chat.send_message(svc.text("apikeys_private_only", lang))
        return
    args = context.args or []
    if args and args[0].lower() == "new":
        name = api_keys.clean_name(" ".join(args[1:]))
        if name is None:
            await chat.send_message(svc.text("apikeys_bad_name", lang))
            return
        async with svc.session_factory.begin() as session:
            key, secret = await api_keys.create(session, name, created_by=user.id, now=svc.clock.now())
        await chat.send_message(svc.text("apikeys_created", lang, name=key.name, secret=secret))
        return
    async with svc.session_factory() as session:
        keys = await api_keys_repo.all_keys(session)
    usage = svc.text("apikeys_usage", lang)
    if not keys:
        await chat.send_message(svc.text("apikeys_none", lang, usage="") + usage)
        return
    lines, buttons = [svc.text("apikeys_header", lang)], []
    for key in keys:
        if key.revoked_at is not None:
            lines.append(svc.text("apikeys_line_revoked", lang, name=key.name, prefix=key.prefix,
                                  revoked=wording.moment(svc, key.revoked_at, lang)))
            continue
        used = (wording.moment(svc, key.last_used_at, lang) if key.last_used_at
                else svc.label("apikeys_never_used", lang))
        lines.append(svc.text("apikeys_line", lang, name=key.name, prefix=key.prefix,
                              created=wording.moment(svc, key.created_at, lang), used=used))
        buttons.append([InlineKeyboardButton(
            svc.label("apikeys_revoke_button", lang, name=echoed(key.name, 40)),
            callback_data=svc.signer.sign(Press.API_KEY_REVOKE, RowRef.of(key), user.id),
        )])
    await chat.send_message("\n".join([*lines, "", usage]), reply_markup=InlineKeyboardMarkup(buttons) if buttons
                            else None)


@admin_only
async def revoke_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, lang = services(context), staff_language(context)
    query, user = update.callback_query, update.effective_user
    parts = await signed_parts(update, context, Press.API_KEY_REVOKE, lambda signed: (
        len(signed) == 2 and RowRef.parse(signed[0]) is not None and signed[1] == str(user.id)
    ))
    if parts is None:
        return
    key_ref = RowRef.parse(parts[0])
    assert key_ref is not None
    async with svc.session_factory.begin() as session:
        before = await api_keys_repo.get(session, key_ref)
        already = before is not None and before.revoked_at is not None
        key = await api_keys.revoke(session, key_ref, by=user.id, now=svc.clock.now())
    await query.answer()
    if key is None:
        await query.message.chat.send_message(svc.text("apikeys_gone", lang))
        return
    await query.message.chat.send_message(
        svc.text("apikeys_already_revoked" if already else "apikeys_revoked", lang, name=key.name)
    )


async def csv_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A CSV file in a private chat: enrolments to import when an admin sends it, else a client's message."""
    svc, user = services(context), update.effective_user
    if user is None or await role_of(context, user.id) != Role.ADMIN:
        await client_messages.inbound(update, context)
        return
    lang, chat, document = staff_language(context), update.effective_chat, update.effective_message.document
    if document.file_size is not None and document.file_size > csv_import.MAX_BYTES:
        await chat.send_message(svc.text("csv_too_large", lang, limit=csv_import.MAX_ROWS))
        return
    data = await (await document.get_file()).download_as_bytearray()
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError:
        await chat.send_message(svc.text("csv_not_text", lang))
        return
    now = svc.clock.now()
    report = await csv_import.import_csv(
        svc.session_factory, text, rules=Rules.of(svc.settings, svc.catalog.treatments(), now), actor_id=user.id,
        now=now, settings=svc.settings,
    )
    if report.problems:
        lines = "\n".join(echoed(problem) for problem in report.problems[:PROBLEMS_SHOWN])
        message = svc.text("csv_problems", lang, count=len(report.problems), lines=lines)
        if len(report.problems) > PROBLEMS_SHOWN:
            message += "\n" + svc.text("csv_problems_more", lang, count=len(report.problems) - PROBLEMS_SHOWN)
        await chat.send_message(message)
        return
    await chat.send_message(svc.text("csv_imported", lang, created=report.created, updated=report.updated,
                                     unchanged=report.unchanged))
    links = csv_import.links_csv(report, context.bot.username)
    await chat.send_document(links.encode(), filename=LINKS_FILE_NAME, caption=svc.text("csv_links_caption", lang))
