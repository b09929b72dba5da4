"""What clients do: open their invite link, agree or decline, ask for help, stop."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from aftercare_bot.bot.handlers import frontdesk as frontdesk_handlers
from aftercare_bot.bot.handlers.common import language_of, remove_buttons, services, signed_parts, wake_dispatcher
from aftercare_bot.callbacks import Press
from aftercare_bot.clients import enrolment, frontdesk
from aftercare_bot.db.models import ClientStatus, Invite
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import clients
from aftercare_bot.plans.model import Plan


def plan_weeks(plan: Plan) -> int:
    last_day = max(
        (step.due.offset.days if step.due.offset is not None else step.due.day or 0) for step in plan.enabled_steps
    )
    return max(1, round(last_day / 7))


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, lang = services(context), await language_of(update, context)
    chat = update.effective_chat
    if chat is None or chat.type != chat.PRIVATE:
        return
    if not context.args:
        await chat.send_message(svc.text("start_no_token", lang))
        return
    if context.args[0] == frontdesk.PAYLOAD:
        await frontdesk_handlers.welcome(update, context)
        return
    async with svc.session_factory.begin() as session:
        check = await enrolment.check_invite(session, context.args[0], now=svc.clock.now())
        if check.invite is not None and check.problem is None:
            await enrolment.mark_opened(session, check.invite, by=update.effective_user.id, now=svc.clock.now())
    if check.problem or check.invite is None:
        await chat.send_message(svc.text(f"invite_{check.problem}", lang))
        return
    await send_consent(update, context, check.invite)


async def send_consent(update: Update, context: ContextTypes.DEFAULT_TYPE, link: Invite) -> None:
    """Ask whoever opened the link (or matched it at the front desk) whether they agree."""
    svc, lang, chat = services(context), await language_of(update, context), update.effective_chat
    plan = svc.catalog.get(link.treatment)
    if plan is None:
        await chat.send_message(svc.text("invite_unknown", lang))
        return
    invite_lang = link.language or lang
    # Bound to this link and to whoever opened it: nobody else's press (a forwarded copy) enrols anyone.
    invite, user = RowRef.of(link), update.effective_user
    buttons = InlineKeyboardMarkup([[
        InlineKeyboardButton(svc.label("consent_button_yes", invite_lang),
                             callback_data=svc.signer.sign(Press.CONSENT, invite, user.id, "yes")),
        InlineKeyboardButton(svc.label("consent_button_no", invite_lang),
                             callback_data=svc.signer.sign(Press.CONSENT, invite, user.id, "no")),
    ]])
    title = plan.title_for(invite_lang, svc.settings.default_language)
    await chat.send_message(
        svc.text(
            "consent", invite_lang, treatment=title,
            messages=svc.label("consent_messages", invite_lang, steps=len(plan.enabled_steps)),
            duration=svc.label("consent_duration", invite_lang, weeks=plan_weeks(plan)),
        ),
        reply_markup=buttons,
    )


async def consent_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, lang = services(context), await language_of(update, context)
    query, user = update.callback_query, update.effective_user
    parts = await signed_parts(update, context, Press.CONSENT, lambda signed: (
        len(signed) == 3 and RowRef.parse(signed[0]) is not None
    ))
    invite = RowRef.parse(parts[0]) if parts is not None else None
    if query is None or user is None or parts is None or invite is None:
        return
    # Consent belongs to whoever opened the link, in their private chat; nobody else may answer for them.
    if parts[1] != str(user.id) or query.message is None or query.message.chat.id != user.id:
        await query.answer(svc.label("consent_not_yours", lang), show_alert=True)
        return
    agreed = parts[2] == "yes"
    now = svc.clock.now()
    key = "enrolled"
    async with svc.session_factory.begin() as session:
        if agreed:
            result = await enrolment.accept_invite(
                session, invite=invite, telegram_user_id=user.id, chat_id=query.message.chat.id,
                first_name=user.first_name, telegram_language=user.language_code, now=now,
                settings=svc.settings, catalog=svc.catalog, languages=svc.languages,
            )
            problem = result.problem
            if result.enrolment is not None:
                lang = result.enrolment.language  # what they are spoken to in from now on
            # Every step already past its grace period: no message will come, so none is promised.
            key = "enrolled" if result.scheduled else "enrolled_nothing_left"
        else:
            problem = None if await enrolment.decline_invite(
                session, invite=invite, telegram_user_id=user.id, now=now
            ) else enrolment.InviteProblem.USED
    await query.answer()
    if problem:
        await remove_buttons(query)
        await query.message.chat.send_message(svc.text(f"invite_{problem}", lang))
        return
    await remove_buttons(query)
    await query.message.chat.send_message(svc.text(key if agreed else "declined", lang))
    if agreed:
        await wake_dispatcher(context)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    await update.effective_chat.send_message(svc.text("help", await language_of(update, context)))


async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, lang, user = services(context), await language_of(update, context), update.effective_user
    if update.effective_chat.type != update.effective_chat.PRIVATE:
        return
    async with svc.session_factory() as session:
        client = await clients.by_telegram_id(session, user.id)
    if client is None or client.status != ClientStatus.ACTIVE:
        await update.effective_chat.send_message(svc.text("stop_nothing", lang))
        return
    record = RowRef.of(client)
    buttons = InlineKeyboardMarkup([[
        InlineKeyboardButton(svc.label("stop_button_yes", lang),
                             callback_data=svc.signer.sign(Press.STOP, user.id, record, "yes")),
        InlineKeyboardButton(svc.label("stop_button_no", lang),
                             callback_data=svc.signer.sign(Press.STOP, user.id, record, "no")),
    ]])
    await update.effective_chat.send_message(svc.text("stop_confirm", lang), reply_markup=buttons)


async def stop_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, lang = services(context), await language_of(update, context)
    query, user = update.callback_query, update.effective_user
    # The signed user id stops anyone else's press (in a forwarded message) from stopping this client; the
    # signed record, a press after they were erased and enrolled again from stopping the new plan.
    parts = await signed_parts(update, context, Press.STOP, lambda signed: (
        len(signed) == 3 and signed[0] == str(user.id)
    ))
    if parts is None:
        return
    await query.answer()
    await remove_buttons(query)
    if parts[2] != "yes":
        await query.message.chat.send_message(svc.text("stop_kept", lang))
        return
    async with svc.session_factory.begin() as session:
        client = await clients.by_telegram_id(session, user.id)
        if client is None or client.status != ClientStatus.ACTIVE or RowRef.token_of(client) != parts[1]:
            cancelled = None
        else:
            cancelled = await enrolment.stop_client(session, client, now=svc.clock.now())
    key = "stop_nothing" if cancelled is None else "stopped"
    await query.message.chat.send_message(svc.text(key, lang))
