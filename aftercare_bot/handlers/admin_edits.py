"""Edits that need typing: new texts, languages, timings, new steps and new plans (one ConversationHandler).

The conversation only collects what the admin types; the finished change is kept as a draft in the
database and confirmed with a button (admin_templates), so a restart between the two loses nothing.
"""

from __future__ import annotations

import html
import warnings
from datetime import timedelta
from typing import Any

from telegram import Message, MessageEntity, Update
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from aftercare_bot.handlers import admin_views as views
from aftercare_bot.handlers.admin_templates import offer, send
from aftercare_bot.handlers.auth import admin_only_in_conversation
from aftercare_bot.handlers.common import language_of, services
from aftercare_bot.plan import Plan, Step, format_duration, parse_duration, parse_timing
from aftercare_bot.plan_changes import (
    check_text,
    grace_problem,
    key_problem,
    language_problem,
    timing_problem,
    title_problem,
)
from aftercare_bot.texts import DEFAULT_LANGUAGE, MAX_MESSAGE_LENGTH

EDIT_TIMEOUT = timedelta(minutes=15)
TEXT, LANGUAGE, TITLE, TIMING, GRACE, NEW_KEY, NEW_TIMING, NEW_GRACE, PLAN_KEY, PLAN_TITLE = range(10)
_DRAFT = "admin_edit"  # key in user_data of the change being put together

# Telegram's own formatting, turned into the tags plan texts are written with.
_TAGS = {
    MessageEntity.BOLD: ("<b>", "</b>"),
    MessageEntity.ITALIC: ("<i>", "</i>"),
    MessageEntity.UNDERLINE: ("<u>", "</u>"),
    MessageEntity.STRIKETHROUGH: ("<s>", "</s>"),
    MessageEntity.SPOILER: ("<tg-spoiler>", "</tg-spoiler>"),
    MessageEntity.CODE: ("<code>", "</code>"),
    MessageEntity.PRE: ("<pre>", "</pre>"),
    MessageEntity.BLOCKQUOTE: ("<blockquote>", "</blockquote>"),
    MessageEntity.EXPANDABLE_BLOCKQUOTE: ("<blockquote>", "</blockquote>"),
}


def message_html(message: Message) -> str:
    """The admin's text as a plan template: typed tags stay as typed, Telegram formatting becomes tags.

    Unlike PTB's text_html, the typed text is not escaped: admins write plan texts with tags and &amp;,
    exactly as in the plan files, and the checks explain any mistake.
    """
    text = message.text or ""
    utf16 = text.encode("utf-16-le")
    length = len(utf16) // 2
    events: list[tuple[int, int, int, str]] = []
    entities = sorted(message.entities, key=lambda e: (e.offset, -e.length))
    for index, entity in enumerate(entities):
        if (
            entity.type in (MessageEntity.PRE, MessageEntity.CODE)
            and entity.offset == 0
            and entity.length >= length
        ):
            continue  # a whole pasted text that kept its code formatting: the text is meant, not the box
        if entity.type == MessageEntity.TEXT_LINK and entity.url:
            tags = (f'<a href="{html.escape(entity.url, quote=True)}">', "</a>")
        elif entity.type in _TAGS:
            tags = _TAGS[entity.type]
        else:
            continue
        events.append((entity.offset, 1, index, tags[0]))
        events.append((entity.offset + entity.length, 0, -index, tags[1]))
    events.sort()  # closing before opening at one position; the innermost closes first
    pieces, position = [], 0
    for offset, _kind, _order, tag in events:
        pieces.append(utf16[position * 2 : offset * 2].decode("utf-16-le"))
        pieces.append(tag)
        position = offset
    pieces.append(utf16[position * 2 :].decode("utf-16-le"))
    return "".join(pieces).strip()


def _draft(context: ContextTypes.DEFAULT_TYPE) -> dict[str, Any]:
    return context.user_data.setdefault(_DRAFT, {})  # type: ignore[union-attr]


def _start(context: ContextTypes.DEFAULT_TYPE, **fields: Any) -> dict[str, Any]:
    context.user_data[_DRAFT] = dict(fields)  # type: ignore[index]
    return context.user_data[_DRAFT]  # type: ignore[index]


async def _button_target(
    update: Update, context: ContextTypes.DEFAULT_TYPE
) -> tuple[Plan, Step | None] | None:
    """The plan (and step) a button names; None after explaining why it cannot be used."""
    svc, lang, query = services(context), language_of(update, context), update.callback_query
    assert query is not None
    parts = svc.signer.verify(query.data)
    if parts is None or len(parts) < 3:
        await query.answer(svc.label("button_not_understood", lang), show_alert=True)
        return None
    await query.answer()
    chat = update.effective_chat
    if chat is None or chat.type != chat.PRIVATE:
        await send(update, svc.text("admin_private_only", lang, command="/templates"))
        return None
    plan = views.find_plan(svc, parts[2])
    if plan is None:
        await send(update, svc.text("admin_plan_gone", lang, treatment="?"))
        return None
    if len(parts) < 4:
        return plan, None
    step = views.find_step(plan, parts[3])
    if step is None:
        await send(update, svc.text("admin_step_gone", lang, step="?"))
        return None
    return plan, step


# --- entry points (buttons) -----------------------------------------------------------------------


@admin_only_in_conversation
async def edit_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    target = await _button_target(update, context)
    parts = services(context).signer.verify(update.callback_query.data) or []
    if target is None or target[1] is None or len(parts) < 5:
        return ConversationHandler.END
    plan, step = target
    language = parts[4]
    _start(context, op="text", treatment=plan.treatment, step=step.key, language=language)
    svc, lang = services(context), language_of(update, context)
    if language in step.texts:
        await send(update, views.step_source(svc, step, language, lang))
    await _ask_for_text(update, context)
    return TEXT


@admin_only_in_conversation
async def add_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    target = await _button_target(update, context)
    if target is None or target[1] is None:
        return ConversationHandler.END
    plan, step = target
    _start(context, op="text", treatment=plan.treatment, step=step.key)
    svc, lang = services(context), language_of(update, context)
    await send(
        update,
        svc.text("admin_language_prompt", lang, step=step.key, languages=", ".join(sorted(step.texts))),
    )
    return LANGUAGE


@admin_only_in_conversation
async def change_timing(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    target = await _button_target(update, context)
    if target is None or target[1] is None:
        return ConversationHandler.END
    plan, step = target
    _start(context, op="timing", treatment=plan.treatment, step=step.key)
    svc, lang = services(context), language_of(update, context)
    await send(update, svc.text("admin_timing_prompt", lang, step=step.key, current=step.due.describe()))
    return TIMING


@admin_only_in_conversation
async def change_grace(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    target = await _button_target(update, context)
    if target is None or target[1] is None:
        return ConversationHandler.END
    plan, step = target
    _start(context, op="grace", treatment=plan.treatment, step=step.key)
    svc, lang = services(context), language_of(update, context)
    await send(
        update, svc.text("admin_grace_prompt", lang, step=step.key, current=format_duration(step.grace))
    )
    return GRACE


@admin_only_in_conversation
async def new_step(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    target = await _button_target(update, context)
    if target is None:
        return ConversationHandler.END
    _start(context, op="add_step", treatment=target[0].treatment, language=DEFAULT_LANGUAGE)
    svc = services(context)
    await send(
        update, svc.text("admin_new_step_key_prompt", language_of(update, context), title=target[0].treatment)
    )
    return NEW_KEY


@admin_only_in_conversation
async def new_plan(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    target = await _button_target(update, context)
    if target is None:
        return ConversationHandler.END
    _start(context, op="copy_plan", source=target[0].treatment)
    svc = services(context)
    await send(
        update,
        svc.text("admin_new_plan_key_prompt", language_of(update, context), source=target[0].treatment),
    )
    return PLAN_KEY


# --- typed answers --------------------------------------------------------------------------------


def _typed(update: Update) -> str:
    message = update.effective_message
    return (message.text or "").strip() if message else ""


async def _reply(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str, **values: object) -> None:
    await send(update, services(context).text(key, language_of(update, context), **values))


async def _ask_for_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    draft = _draft(context)
    await _reply(
        update,
        context,
        "admin_edit_prompt",
        step=draft["step"],
        language=draft["language"],
        placeholders=views.placeholder_list(),
    )


@admin_only_in_conversation
async def text_received(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.effective_message is not None
    template = message_html(update.effective_message)
    check = check_text(template)
    if check.empty:
        await _reply(update, context, "admin_text_empty")
        return TEXT
    if check.problems:
        await _reply(
            update, context, "admin_text_problems", problems="\n".join(f"• {p}" for p in check.problems)
        )
        return TEXT
    if check.too_long:
        await _reply(update, context, "admin_text_too_long", length=check.too_long, limit=MAX_MESSAGE_LENGTH)
        return TEXT
    change = {**_draft(context), "text": template}
    return ConversationHandler.END if await offer(update, context, change) else TEXT


@admin_only_in_conversation
async def language_received(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    code = _typed(update)
    problem = language_problem(code)
    if problem:
        await _reply(update, context, problem, value=code)
        return LANGUAGE
    draft = _draft(context)
    draft["language"] = code
    plan = services(context).catalog.get(draft["treatment"])
    if plan is not None and code not in plan.title:
        await _reply(update, context, "admin_title_prompt", language=code)
        return TITLE
    await _ask_for_text(update, context)
    return TEXT


@admin_only_in_conversation
async def title_received(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    title = _typed(update)
    problem = title_problem(title)
    if problem:
        await _reply(update, context, problem)
        return TITLE
    _draft(context)["title"] = title
    await _ask_for_text(update, context)
    return TEXT


@admin_only_in_conversation
async def timing_received(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    typed = _typed(update)
    problem = timing_problem(typed)
    if problem:
        await _reply(update, context, "admin_timing_problem", problem=problem)
        return TIMING
    change = {**_draft(context), "due": parse_timing(typed).describe()}
    return ConversationHandler.END if await offer(update, context, change) else TIMING


@admin_only_in_conversation
async def grace_received(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    typed = _typed(update)
    problem = grace_problem(typed)
    if problem:
        await _reply(update, context, "admin_timing_problem", problem=problem)
        return GRACE
    change = {**_draft(context), "grace": format_duration(parse_duration(typed))}
    return ConversationHandler.END if await offer(update, context, change) else GRACE


@admin_only_in_conversation
async def new_key_received(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    key = _typed(update)
    draft = _draft(context)
    plan = services(context).catalog.get(draft["treatment"])
    problem = key_problem(key, {step.key for step in plan.steps} if plan else set())
    if problem:
        await _reply(update, context, problem, value=key)
        return NEW_KEY
    draft["step"] = key
    await _reply(update, context, "admin_new_step_timing_prompt", step=key)
    return NEW_TIMING


@admin_only_in_conversation
async def new_timing_received(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    typed = _typed(update)
    problem = timing_problem(typed)
    if problem:
        await _reply(update, context, "admin_timing_problem", problem=problem)
        return NEW_TIMING
    draft = _draft(context)
    draft["due"] = parse_timing(typed).describe()
    await _reply(update, context, "admin_new_step_grace_prompt", step=draft["step"])
    return NEW_GRACE


@admin_only_in_conversation
async def new_grace_received(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    typed = _typed(update)
    problem = grace_problem(typed)
    if problem:
        await _reply(update, context, "admin_timing_problem", problem=problem)
        return NEW_GRACE
    _draft(context)["grace"] = format_duration(parse_duration(typed))
    await _ask_for_text(update, context)
    return TEXT


@admin_only_in_conversation
async def plan_key_received(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    key = _typed(update)
    problem = key_problem(key, set(services(context).catalog.treatments()))
    if problem:
        await _reply(update, context, problem, value=key)
        return PLAN_KEY
    _draft(context)["treatment"] = key
    await _reply(update, context, "admin_new_plan_title_prompt", treatment=key)
    return PLAN_TITLE


@admin_only_in_conversation
async def plan_title_received(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    title = _typed(update)
    problem = title_problem(title)
    if problem:
        await _reply(update, context, problem)
        return PLAN_TITLE
    change = {**_draft(context), "title": title}
    return ConversationHandler.END if await offer(update, context, change) else PLAN_TITLE


# --- leaving --------------------------------------------------------------------------------------


@admin_only_in_conversation
async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    context.user_data.pop(_DRAFT, None)  # type: ignore[union-attr]
    await _reply(update, context, "admin_cancelled")
    return ConversationHandler.END


async def timed_out(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    context.user_data.pop(_DRAFT, None)  # type: ignore[union-attr]
    await _reply(update, context, "admin_timed_out")


def conversation(timeout: timedelta | None = None) -> ConversationHandler:
    """The edit conversation; an edit left unfinished for `timeout` (EDIT_TIMEOUT) is stopped."""
    private_text = filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND
    signed = r"[\w:-]+$"

    def entry(action: str, callback: Any) -> CallbackQueryHandler:
        return CallbackQueryHandler(callback, pattern=rf"^{views.PREFIX}:{action}:{signed}")

    def typed(callback: Any) -> list[MessageHandler]:
        return [MessageHandler(private_text, callback)]

    with warnings.catch_warnings():
        # PTB warns that with per_message=False a button is not tied to one message. That is intended here:
        # the buttons only start an edit, and what follows is typed in the same private chat.
        warnings.filterwarnings("ignore", message=".*per_message=False.*", category=PTBUserWarning)
        return ConversationHandler(
            entry_points=[
                entry("ed", edit_text),
                entry("al", add_language),
                entry("tm", change_timing),
                entry("gr", change_grace),
                entry("ns", new_step),
                entry("np", new_plan),
            ],
            states={
                TEXT: typed(text_received),
                LANGUAGE: typed(language_received),
                TITLE: typed(title_received),
                TIMING: typed(timing_received),
                GRACE: typed(grace_received),
                NEW_KEY: typed(new_key_received),
                NEW_TIMING: typed(new_timing_received),
                NEW_GRACE: typed(new_grace_received),
                PLAN_KEY: typed(plan_key_received),
                PLAN_TITLE: typed(plan_title_received),
                ConversationHandler.TIMEOUT: [TypeHandler(Update, timed_out)],
            },
            fallbacks=[CommandHandler("cancel", cancel)],
            allow_reentry=True,
            per_user=True,
            per_chat=True,
            conversation_timeout=timeout or EDIT_TIMEOUT,
            name="admin_edits",
        )
