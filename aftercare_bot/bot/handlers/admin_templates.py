"""Admins browse and change the plans: /templates, /history and their buttons (typing is in admin_edits)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable

from telegram import InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from aftercare_bot.bot.handlers import admin_views as views
from aftercare_bot.bot.handlers.admin_views import ref
from aftercare_bot.bot.handlers.auth import admin_only
from aftercare_bot.bot.handlers.common import services, signed_parts, staff_language, wake_dispatcher
from aftercare_bot.callbacks import Press
from aftercare_bot.db.refs import RowRef
from aftercare_bot.plans import editing
from aftercare_bot.plans.changes import Change, ChangeRefused
from aftercare_bot.plans.editing import Actor, Saved
from aftercare_bot.plans.model import Plan, Step, format_duration, parse_duration, parse_timing
from aftercare_bot.services import Services

_TEXT_OPS = ("text", "add_step")


def actor_of(update: Update) -> Actor:
    user = update.effective_user
    assert user is not None
    return Actor(user.id, user.full_name)


def is_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == chat.PRIVATE


async def send(update: Update, html: str, markup: InlineKeyboardMarkup | None = None) -> None:
    chat = update.effective_chat
    if chat is not None:
        await chat.send_message(html, reply_markup=markup)


async def refuse_in_groups(update: Update, context: ContextTypes.DEFAULT_TYPE, command: str) -> bool:
    """Plans are edited in private, so that drafts and previews stay out of the team's chat."""
    if is_private(update):
        return False
    svc = services(context)
    await send(update, svc.text("admin_private_only", staff_language(context), command=command))
    return True


@admin_only
async def templates_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if await refuse_in_groups(update, context, "/templates"):
        return
    await services(context).composer.plans_in_force.ensure()
    await send(update, *views.plans_list(services(context), staff_language(context)))


@admin_only
async def history_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The latest changes to any plan, with a button to the history of each step they touched."""
    if await refuse_in_groups(update, context, "/history"):
        return
    svc, lang = services(context), staff_language(context)
    async with svc.session_factory() as session:
        changes = await editing.recent_changes(session)
    if not changes:
        await send(update, svc.text("admin_recent_none", lang))
        return
    lines = [svc.text("admin_recent_header", lang)]
    rows, seen = [], set()
    for change in changes:
        plan = svc.catalog.get(change.treatment)
        what = svc.label(
            _note_key(change),
            lang,
            step=views.named(svc, plan, change.step, lang) if change.step else "",
            language=change.language or "",
            detail=change.detail or "",
        )
        lines.append(
            svc.text(
                "admin_recent_line",
                lang,
                at=views.moment(svc, change.at, lang),
                treatment=change.treatment,
                revision=change.revision,
                name=change.by_name or str(change.by_id or "") or svc.label("admin_by_unknown", lang),
                what=what,
            )
        )
        if (
            change.step
            and plan
            and (change.treatment, change.step) not in seen
            and _has_step(plan, change.step)
        ):
            seen.add((change.treatment, change.step))
            rows.append(
                [
                    views.button(
                        svc,
                        "admin_button_step_history",
                        lang,
                        Press.STEP_HISTORY,
                        ref(change.treatment),
                        ref(change.step),
                        step=views.named(svc, plan, change.step, lang),
                        treatment=change.treatment,
                    )
                ]
            )
    await send(update, "\n".join(lines), InlineKeyboardMarkup(rows) if rows else None)


ButtonAction = Callable[[Update, ContextTypes.DEFAULT_TYPE, list[str]], Awaitable[None]]


def _plan_button(press: Press, action: ButtonAction) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]:
    """The handler of one kind of plan button (app.register_handlers says which): admins only, the signed
    data checked, and a change the plan refuses explained rather than made."""

    @admin_only
    @functools.wraps(action)
    async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        svc, lang, query = services(context), staff_language(context), update.callback_query
        parts = await signed_parts(update, context, press, lambda _: True)
        if parts is None or query is None:
            return
        await svc.composer.plans_in_force.ensure()  # what was saved on another replica is shown here too
        try:
            await action(update, context, parts)
        except ChangeRefused as refused:
            with contextlib.suppress(TelegramError):  # the button may have been answered already
                await query.answer()
            await send(update, svc.text(refused.key, lang, **refused.values))

    return handler


async def offer(update: Update, context: ContextTypes.DEFAULT_TYPE, change: Change) -> bool:
    """Check a change, keep it as a draft and ask the admin to confirm it, with a preview where there is text.

    Returns False (and explains why) when the change cannot be made.
    """
    svc, lang = services(context), staff_language(context)
    before = svc.catalog.get(change["treatment"])
    try:
        async with svc.session_factory.begin() as session:
            prepared = await editing.prepare(
                session, svc.catalog, change, actor=actor_of(update), now=svc.clock.now()
            )
    except ChangeRefused as refused:
        await send(update, svc.text(refused.key, lang, **refused.values))
        return False
    summary = _summary(svc, change, before, prepared.plan, lang)
    buttons = views.confirm_buttons(svc, prepared.draft, lang, testable=change["op"] in _TEXT_OPS)
    if change["op"] not in _TEXT_OPS:
        await send(update, summary, buttons)
        return True
    plan = prepared.plan
    step = plan.step(change["step"])
    text_language = change.get("language", "en")
    rendered = views.sample_preview(svc, plan, step, text_language, step.texts[text_language], lang)
    messages = views.with_heading(summary, rendered)
    for html in messages[:-1]:
        await send(update, html)
    await send(update, messages[-1], buttons)
    return True


# --- buttons --------------------------------------------------------------------------------------


async def _all_plans(update: Update, context: ContextTypes.DEFAULT_TYPE, args: list[str]) -> None:
    await update.callback_query.answer()
    await send(update, *views.plans_list(services(context), staff_language(context)))


async def _plan(update: Update, context: ContextTypes.DEFAULT_TYPE, args: list[str]) -> None:
    plan = _plan_from(context, args)
    await update.callback_query.answer()
    await send(update, *views.plan_view(services(context), plan, staff_language(context)))


async def _step(update: Update, context: ContextTypes.DEFAULT_TYPE, args: list[str]) -> None:
    await update.callback_query.answer()
    plan, step = _step_from(context, args)
    await show_step(update, context, plan, step)


async def show_step(update: Update, context: ContextTypes.DEFAULT_TYPE, plan: Plan, step: Step) -> None:
    """The step in one message: what it is, when it goes out, a preview, and its buttons."""
    messages, buttons = views.step_card(services(context), plan, step, staff_language(context))
    for html in messages[:-1]:
        await send(update, html)
    await send(update, messages[-1], buttons)


async def _toggle(update: Update, context: ContextTypes.DEFAULT_TYPE, args: list[str]) -> None:
    plan, step = _step_from(context, args)
    await update.callback_query.answer()
    await offer(
        update,
        context,
        {"op": "enabled", "treatment": plan.treatment, "step": step.key, "enabled": args[2:3] == ["1"]},
    )


async def _history(update: Update, context: ContextTypes.DEFAULT_TYPE, args: list[str]) -> None:
    svc, lang = services(context), staff_language(context)
    plan, step = _step_from(context, args)
    await update.callback_query.answer()
    async with svc.session_factory() as session:
        for text_language in sorted(step.texts):
            versions = await editing.history(
                session, svc.catalog, plan.treatment, step.key, text_language
            )
            await send(update, *views.step_history(svc, plan, step, text_language, versions, lang))


async def _restore(update: Update, context: ContextTypes.DEFAULT_TYPE, args: list[str]) -> None:
    svc = services(context)
    plan, step = _step_from(context, args)
    if len(args) != 4 or not args[3].isdigit():
        raise ChangeRefused("admin_version_gone", revision="?")
    await update.callback_query.answer()
    async with svc.session_factory() as session:
        change = await editing.restore_change(
            session, svc.catalog, plan.treatment, step.key, args[2], int(args[3])
        )
    await offer(update, context, {**change, "treatment": plan.treatment})


async def _test(update: Update, context: ContextTypes.DEFAULT_TYPE, args: list[str]) -> None:
    plan, step = _step_from(context, args)
    await _send_test(update, context, plan, step, None)


async def _test_draft(update: Update, context: ContextTypes.DEFAULT_TYPE, args: list[str]) -> None:
    svc = services(context)
    async with svc.session_factory() as session:
        prepared = await editing.draft_plan(
            session, svc.catalog, _draft(args), actor=actor_of(update), now=svc.clock.now()
        )
    change = prepared.change
    await _send_test(
        update, context, prepared.plan, prepared.plan.step(change["step"]), change.get("language")
    )


async def _send_test(
    update: Update, context: ContextTypes.DEFAULT_TYPE, plan: Plan, step: Step, text_language: str | None
) -> None:
    """The message exactly as a client would get it, with the admin's own name, in their private chat."""
    svc, lang, user = services(context), staff_language(context), update.effective_user
    assert user is not None
    if text_language not in step.texts:
        text_language = lang if lang in step.texts else "en"
    html = views.preview(
        svc,
        plan,
        step,
        text_language,
        step.texts[text_language],
        first_name=user.first_name,
        client_name=user.full_name,
    )
    await context.bot.send_message(user.id, html)
    await update.callback_query.answer(svc.label("admin_test_sent", lang))


async def _save(update: Update, context: ContextTypes.DEFAULT_TYPE, args: list[str]) -> None:
    svc, lang, query = services(context), staff_language(context), update.callback_query
    saved = await editing.confirm(
        svc.session_factory,
        svc.catalog,
        _draft(args),
        actor=actor_of(update),
        now=svc.clock.now(),
        settings=svc.settings,
    )
    await query.answer()
    await query.edit_message_reply_markup(None)
    await send(update, *_saved_message(svc, saved, lang))
    if saved.rollout.created or saved.rollout.moved:
        await wake_dispatcher(context)


async def _discard(update: Update, context: ContextTypes.DEFAULT_TYPE, args: list[str]) -> None:
    svc, lang, query = services(context), staff_language(context), update.callback_query
    async with svc.session_factory.begin() as session:
        await editing.discard(session, _draft(args), actor=actor_of(update), now=svc.clock.now())
    await query.answer()
    await query.edit_message_reply_markup(None)
    await send(update, svc.text("admin_discarded", lang))


all_plans = _plan_button(Press.PLANS, _all_plans)
open_plan = _plan_button(Press.PLAN, _plan)
open_step = _plan_button(Press.STEP, _step)
step_on_off = _plan_button(Press.STEP_ON_OFF, _toggle)
step_history = _plan_button(Press.STEP_HISTORY, _history)
restore = _plan_button(Press.RESTORE, _restore)
test_step = _plan_button(Press.TEST_STEP, _test)
test_draft = _plan_button(Press.TEST_DRAFT, _test_draft)
save = _plan_button(Press.SAVE, _save)
discard = _plan_button(Press.DISCARD, _discard)


# --- helpers --------------------------------------------------------------------------------------


def _plan_from(context: ContextTypes.DEFAULT_TYPE, args: list[str]) -> Plan:
    plan = views.find_plan(services(context), args[0]) if args else None
    if plan is None:
        raise ChangeRefused("admin_plan_gone", treatment="?")
    return plan


def _step_from(context: ContextTypes.DEFAULT_TYPE, args: list[str]) -> tuple[Plan, Step]:
    plan = _plan_from(context, args)
    step = views.find_step(plan, args[1]) if len(args) > 1 else None
    if step is None:
        raise ChangeRefused("admin_step_gone", step="?")
    return plan, step


def _draft(args: list[str]) -> RowRef:
    draft = RowRef.parse(args[0]) if args else None
    if draft is None:
        raise ChangeRefused("admin_draft_gone")
    return draft


def _note_key(change: editing.RecentChange) -> str:
    if change.op == "text" and change.detail:
        return "admin_note_restore"
    if change.op == "enabled":
        return "admin_note_turned_on" if change.detail == "on" else "admin_note_turned_off"
    return f"admin_note_{change.op}"


def _has_step(plan: Plan, key: str) -> bool:
    return any(step.key == key for step in plan.steps)


def _summary(svc: Services, change: Change, before: Plan | None, after: Plan, lang: str) -> str:
    op, key = change["op"], change.get("step", "")
    step_key = views.named(svc, after, key, lang) if key else ""  # shown by what it is about
    old = before.step(key) if before is not None and _has_step(before, key) else None
    if op == "copy_plan":
        return svc.text(
            "admin_confirm_copy",
            lang,
            title=change["title"],
            treatment=change["treatment"],
            source=change["source"],
        )
    if op == "text" and change.get("restored_from") is not None:
        return svc.text(
            "admin_confirm_restore",
            lang,
            step=step_key,
            language=change["language"],
            revision=change["restored_from"],
        )
    if op == "text":
        key = "admin_confirm_new_language" if change.get("title") else "admin_confirm_text"
        return svc.text(
            key, lang, step=step_key, language=change["language"], title=change.get("title") or ""
        )
    if op == "timing":
        return svc.text(
            "admin_confirm_timing",
            lang,
            step=step_key,
            old=old.due.describe() if old else "",
            new=parse_timing(change["due"]).describe(),
        )
    if op == "grace":
        return svc.text(
            "admin_confirm_grace",
            lang,
            step=step_key,
            old=format_duration(old.grace) if old else "",
            new=format_duration(parse_duration(change["grace"])),
        )
    if op == "enabled":
        return svc.text("admin_confirm_on" if change["enabled"] else "admin_confirm_off", lang, step=step_key)
    added = after.step(key)
    return svc.text(
        "admin_confirm_add_step",
        lang,
        step=step_key,
        timing=added.due.describe(),
        grace=format_duration(added.grace),
    )


def _saved_message(svc: Services, saved: Saved, lang: str) -> tuple[str, InlineKeyboardMarkup]:
    plan, change = saved.plan, saved.change
    title = plan.title_for(lang, svc.settings.default_language)
    if change["op"] == "copy_plan":
        lines = [svc.text("admin_saved_new_plan", lang, title=title, treatment=plan.treatment)]
    else:
        lines = [svc.text("admin_saved", lang, title=title, revision=saved.revision)]
        rollout = saved.rollout
        if change["op"] == "text":
            # Texts are composed when each message goes out: everyone still to get this step gets the new text.
            key = "admin_saved_who_gets_it" if saved.waiting else "admin_saved_nobody_waiting"
            lines.append(svc.text(key, lang, waiting=saved.waiting))
        elif rollout.total:
            lines.append(
                svc.text(
                    "admin_rollout",
                    lang,
                    moved=rollout.moved,
                    created=rollout.created,
                    cancelled=rollout.cancelled,
                    skipped=rollout.skipped,
                )
            )
        else:
            lines.append(svc.text("admin_rollout_none", lang))
    rows = []
    step_key = change.get("step")
    if step_key and _has_step(plan, step_key):
        name = views.named(svc, plan, step_key, lang)
        rows.append([views.button(svc, "admin_button_open_step", lang, Press.STEP, ref(plan.treatment), ref(step_key),
                                  step=name)])
    rows.append([views.button(svc, "admin_button_open_plan", lang, Press.PLAN, ref(plan.treatment), title=title)])
    return "\n".join(lines), InlineKeyboardMarkup(rows)
