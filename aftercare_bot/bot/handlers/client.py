"""What clients do: open their invite link, agree or decline, ask for help, stop."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from aftercare_bot.bot.handlers.common import language_of, remove_buttons, services, wake_dispatcher
from aftercare_bot.clients import enrolment
from aftercare_bot.db.models import ClientStatus
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import clients
from aftercare_bot.plans.model import Plan


def plan_weeks(plan: Plan) -> int:
    last_day = max(
        (step.due.offset.days if step.due.offset is not None else step.due.day or 0) for step in plan.enabled_steps
    )
    return max(1, round(last_day / 7))


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, lang = services(context), language_of(update, context)
    chat = update.effective_chat
    if chat is None or chat.type != chat.PRIVATE:
        return
    if not context.args:
        await chat.send_message(svc.text("start_no_token", lang))
        return
    async with svc.session_factory() as session:
        check = await enrolment.check_invite(session, context.args[0], now=svc.clock.now())
    if check.problem or check.invite is None:
        await chat.send_message(svc.text(f"invite_{check.problem}", lang))
        return
    plan = svc.catalog.get(check.invite.treatment)
    if plan is None:
        await chat.send_message(svc.text("invite_unknown", lang))
        return
    async with svc.session_factory.begin() as session:
        await enrolment.record_opened(session, check.invite, now=svc.clock.now())
    invite_lang = check.invite.language or lang
    # Bound to this link and to whoever opened it: nobody else's press (a forwarded copy) enrols anyone.
    invite, user = RowRef.of(check.invite), update.effective_user
    buttons = InlineKeyboardMarkup([[
        InlineKeyboardButton(svc.label("consent_button_yes", invite_lang),
                             callback_data=svc.signer.sign("inv", invite, user.id, "yes")),
        InlineKeyboardButton(svc.label("consent_button_no", invite_lang),
                             callback_data=svc.signer.sign("inv", invite, user.id, "no")),
    ]])
    title = plan.title.get(invite_lang) or plan.title.get("en") or plan.treatment
    await chat.send_message(
        svc.text("consent", invite_lang, treatment=title, weeks=plan_weeks(plan), steps=len(plan.enabled_steps)),
        reply_markup=buttons,
    )


async def consent_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, lang = services(context), language_of(update, context)
    query, user = update.callback_query, update.effective_user
    parts = svc.signer.verify(query.data if query else None)
    invite = RowRef.parse(parts[1]) if parts is not None and len(parts) == 4 and parts[0] == "inv" else None
    if query is None or user is None or parts is None or invite is None:
        if query:
            await query.answer(svc.label("button_not_understood", lang), show_alert=True)
        return
    # Consent belongs to whoever opened the link, in their private chat; nobody else may answer for them.
    if parts[2] != str(user.id) or query.message is None or query.message.chat.id != user.id:
        await query.answer(svc.label("consent_not_yours", lang), show_alert=True)
        return
    agreed = parts[3] == "yes"
    now = svc.clock.now()
    async with svc.session_factory.begin() as session:
        if agreed:
            result = await enrolment.accept_invite(
                session, invite=invite, telegram_user_id=user.id, chat_id=query.message.chat.id,
                first_name=user.first_name, telegram_language=user.language_code, now=now,
                settings=svc.settings, catalog=svc.catalog,
            )
            problem = result.problem
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
    await query.message.chat.send_message(svc.text("enrolled" if agreed else "declined", lang))
    if agreed:
        await wake_dispatcher(context)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    await update.effective_chat.send_message(svc.text("help", language_of(update, context)))


async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, lang, user = services(context), language_of(update, context), update.effective_user
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
                             callback_data=svc.signer.sign("stop", user.id, record, "yes")),
        InlineKeyboardButton(svc.label("stop_button_no", lang),
                             callback_data=svc.signer.sign("stop", user.id, record, "no")),
    ]])
    await update.effective_chat.send_message(svc.text("stop_confirm", lang), reply_markup=buttons)


async def stop_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc, lang = services(context), language_of(update, context)
    query, user = update.callback_query, update.effective_user
    parts = svc.signer.verify(query.data)
    # The signed user id stops anyone else's press (in a forwarded message) from stopping this client; the
    # signed record, a press after they were erased and enrolled again from stopping the new plan.
    if parts is None or len(parts) != 4 or parts[0] != "stop" or parts[1] != str(user.id):
        await query.answer(svc.label("button_not_understood", lang), show_alert=True)
        return
    await query.answer()
    await remove_buttons(query)
    if parts[3] != "yes":
        await query.message.chat.send_message(svc.text("stop_kept", lang))
        return
    async with svc.session_factory.begin() as session:
        client = await clients.by_telegram_id(session, user.id)
        if client is None or client.status != ClientStatus.ACTIVE or RowRef.token_of(client) != parts[2]:
            cancelled = None
        else:
            cancelled = await enrolment.stop_client(session, client, now=svc.clock.now())
    key = "stop_nothing" if cancelled is None else "stopped"
    await query.message.chat.send_message(svc.text(key, lang))
