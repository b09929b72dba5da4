"""Edits that need typing: new texts, languages, timings, new steps and new plans (one ConversationHandler).

The conversation only collects what the admin types; the finished change is kept as a draft in the
database and confirmed with a button (admin_templates), so a restart between the two loses nothing.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram import Message, MessageEntity, Update
from telegram.ext import (
    BaseHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from aftercare_bot.bot.handlers import admin_views as views
from aftercare_bot.bot.handlers.admin_templates import offer, send
from aftercare_bot.bot.handlers.auth import admin_only_in_conversation
from aftercare_bot.bot.handlers.common import language_of, services, signed_parts
from aftercare_bot.callbacks import Press
from aftercare_bot.plans.changes import (
    check_text,
    grace_problem,
    key_problem,
    language_problem,
    timing_problem,
    title_problem,
)
from aftercare_bot.plans.model import Plan, Step, format_duration, parse_duration, parse_timing
from aftercare_bot.services import Services
from aftercare_bot.texts.catalog import FALLBACK_LANGUAGE, MAX_MESSAGE_LENGTH
from aftercare_bot.texts.problems import Problem

EDIT_TIMEOUT = timedelta(minutes=15)
TEXT, LANGUAGE, TITLE, TIMING, GRACE, NEW_KEY, NEW_TIMING, NEW_GRACE, PLAN_KEY, PLAN_TITLE = range(10)
_DRAFT = "admin_edit"  # key in user_data of the change being put together
Draft = dict[str, Any]

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


def _draft(context: ContextTypes.DEFAULT_TYPE) -> Draft:
    return context.user_data.setdefault(_DRAFT, {})  # type: ignore[union-attr]


async def _reply(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str, **values: object) -> None:
    await send(update, services(context).text(key, language_of(update, context), **values))


# --- checks on what the admin types ---------------------------------------------------------------

Refusal = tuple[str, dict[str, object]]  # the text key saying why an answer cannot be used, and its values
Check = Callable[[str, Services, Draft], Refusal | None]


def _text_refusal(template: str, svc: Services, draft: Draft) -> Refusal | None:
    check = check_text(template)
    if check.empty:
        return "admin_text_empty", {}
    if check.problems:
        return "admin_text_problems", {"problems": check.problems}  # worded by the texts, one per line
    if check.too_long:
        return "admin_text_too_long", {"length": check.too_long, "limit": MAX_MESSAGE_LENGTH}
    return None


def _keyed(problem: Callable[[str], str | None], *, echo: bool = False) -> Check:
    """A check whose problem is a text key of its own; `echo` quotes the answer back as {value}."""

    def check(typed: str, svc: Services, draft: Draft) -> Refusal | None:
        key = problem(typed)
        return None if key is None else (key, {"value": typed} if echo else {})

    return check


def _worded(problem: Callable[[str], Problem | None]) -> Check:
    """A check whose problem is one the plan parser found, worded inside admin_timing_problem."""

    def check(typed: str, svc: Services, draft: Draft) -> Refusal | None:
        found = problem(typed)
        return None if found is None else ("admin_timing_problem", {"problem": found})

    return check


def _unused_key(taken: Callable[[Services, Draft], set[str]]) -> Check:
    """A name for a new step or plan: valid, and not one of `taken`."""

    def check(typed: str, svc: Services, draft: Draft) -> Refusal | None:
        key = key_problem(typed, taken(svc, draft))
        return None if key is None else (key, {"value": typed})

    return check


def _step_keys(svc: Services, draft: Draft) -> set[str]:
    plan = svc.catalog.get(draft["treatment"])
    return {step.key for step in plan.steps} if plan else set()


def _treatments(svc: Services, draft: Draft) -> set[str]:
    return set(svc.catalog.treatments())


# --- the questions --------------------------------------------------------------------------------


def _typed(message: Message) -> str:
    return (message.text or "").strip()


def _timing(typed: str) -> str:
    return parse_timing(typed).describe()


def _grace(typed: str) -> str:
    return format_duration(parse_duration(typed))


def _step_of(svc: Services, draft: Draft) -> Step:
    plan = svc.catalog.get(draft["treatment"])
    assert plan is not None
    return plan.step(draft["step"])


def _title_or_text(svc: Services, draft: Draft) -> int:
    """A language the plan has no title in needs the title before the text."""
    plan = svc.catalog.get(draft["treatment"])
    return TITLE if plan is not None and draft["language"] not in plan.title else TEXT


@dataclass(frozen=True)
class Question:
    """One thing an edit asks the admin to type: the prompt, the check, where the answer goes, what follows."""

    prompt: str
    prompt_values: Callable[[Services, Draft], dict[str, object]]
    field: str
    check: Check
    read: Callable[[Message], str] = _typed
    value: Callable[[str], object] = str
    then: int | Callable[[Services, Draft], int] | None = None  # the next question; None: offer the change


QUESTIONS: dict[int, Question] = {
    TEXT: Question(
        "admin_edit_prompt",
        lambda svc, d: {"step": d["step"], "language": d["language"], "placeholders": views.placeholder_list()},
        "text", _text_refusal, read=message_html,
    ),
    LANGUAGE: Question(
        "admin_language_prompt",
        lambda svc, d: {"step": d["step"], "languages": ", ".join(sorted(_step_of(svc, d).texts))},
        "language", _keyed(language_problem, echo=True), then=_title_or_text,
    ),
    TITLE: Question(
        "admin_title_prompt", lambda svc, d: {"language": d["language"]}, "title", _keyed(title_problem), then=TEXT
    ),
    TIMING: Question(
        "admin_timing_prompt", lambda svc, d: {"step": d["step"], "current": _step_of(svc, d).due.describe()},
        "due", _worded(timing_problem), value=_timing,
    ),
    GRACE: Question(
        "admin_grace_prompt", lambda svc, d: {"step": d["step"], "current": format_duration(_step_of(svc, d).grace)},
        "grace", _worded(grace_problem), value=_grace,
    ),
    NEW_KEY: Question(
        "admin_new_step_key_prompt", lambda svc, d: {"title": d["treatment"]},
        "step", _unused_key(_step_keys), then=NEW_TIMING,
    ),
    NEW_TIMING: Question(
        "admin_new_step_timing_prompt", lambda svc, d: {"step": d["step"]},
        "due", _worded(timing_problem), value=_timing, then=NEW_GRACE,
    ),
    NEW_GRACE: Question(
        "admin_new_step_grace_prompt", lambda svc, d: {"step": d["step"]},
        "grace", _worded(grace_problem), value=_grace, then=TEXT,
    ),
    PLAN_KEY: Question(
        "admin_new_plan_key_prompt", lambda svc, d: {"source": d["source"]},
        "treatment", _unused_key(_treatments), then=PLAN_TITLE,
    ),
    PLAN_TITLE: Question(
        "admin_new_plan_title_prompt", lambda svc, d: {"treatment": d["treatment"]}, "title", _keyed(title_problem)
    ),
}


async def _ask(update: Update, context: ContextTypes.DEFAULT_TYPE, state: int) -> int:
    question = QUESTIONS[state]
    await _reply(update, context, question.prompt, **question.prompt_values(services(context), _draft(context)))
    return state


async def _answered(update: Update, context: ContextTypes.DEFAULT_TYPE, state: int) -> int:
    """Check what the admin typed; then ask the next question, or offer the finished change to confirm."""
    assert update.effective_message is not None
    svc, question, draft = services(context), QUESTIONS[state], _draft(context)
    typed = question.read(update.effective_message)
    refusal = question.check(typed, svc, draft)
    if refusal is not None:
        await _reply(update, context, refusal[0], **refusal[1])
        return state
    value = question.value(typed)
    if question.then is None:
        change = {**draft, question.field: value}
        return ConversationHandler.END if await offer(update, context, change) else state
    draft[question.field] = value
    return await _ask(update, context, question.then(svc, draft) if callable(question.then) else question.then)


def _answer_handler(state: int) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[int]]:
    @admin_only_in_conversation
    async def answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        return await _answered(update, context, state)

    return answered


# --- the buttons that start an edit ---------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """A button that starts an edit: the draft it begins (None when the button lacks a part) and the first question."""

    question: int
    draft: Callable[[Plan, Step | None, list[str]], Draft | None]
    needs_step: bool = True
    shows_text: bool = False  # the text being edited is shown as written first, to copy and change


def _step_change(op: str, plan: Plan, step: Step | None) -> Draft:
    assert step is not None  # these starts need a step
    return {"op": op, "treatment": plan.treatment, "step": step.key}


STARTS: dict[Press, Start] = {
    Press.EDIT_TEXT: Start(
        TEXT,
        lambda plan, step, extra: (
            {"op": "text", "treatment": plan.treatment, "step": step.key, "language": extra[0]} if extra else None
        ),
        shows_text=True,
    ),
    Press.ADD_LANGUAGE: Start(LANGUAGE, lambda plan, step, _: _step_change("text", plan, step)),
    Press.EDIT_TIMING: Start(TIMING, lambda plan, step, _: _step_change("timing", plan, step)),
    Press.EDIT_GRACE: Start(GRACE, lambda plan, step, _: _step_change("grace", plan, step)),
    Press.NEW_STEP: Start(
        NEW_KEY,
        lambda plan, _, __: {"op": "add_step", "treatment": plan.treatment, "language": FALLBACK_LANGUAGE},
        needs_step=False,
    ),
    Press.COPY_PLAN: Start(
        PLAN_KEY, lambda plan, _, __: {"op": "copy_plan", "source": plan.treatment}, needs_step=False
    ),
}


async def _button_target(
    update: Update, context: ContextTypes.DEFAULT_TYPE, press: Press
) -> tuple[Plan, Step | None, list[str]] | None:
    """The plan (and step) a button names, and its further parts; None after explaining a problem."""
    svc, lang, query = services(context), language_of(update, context), update.callback_query
    assert query is not None
    parts = await signed_parts(update, context, press, lambda signed: len(signed) >= 1)
    if parts is None:
        return None
    await query.answer()
    chat = update.effective_chat
    if chat is None or chat.type != chat.PRIVATE:
        await send(update, svc.text("admin_private_only", lang, command="/templates"))
        return None
    plan = views.find_plan(svc, parts[0])
    if plan is None:
        await send(update, svc.text("admin_plan_gone", lang, treatment="?"))
        return None
    if len(parts) < 2:
        return plan, None, []
    step = views.find_step(plan, parts[1])
    if step is None:
        await send(update, svc.text("admin_step_gone", lang, step="?"))
        return None
    return plan, step, parts[2:]


def starter(press: Press) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[int]]:
    """The handler of a button that starts an edit of kind `press` (one of STARTS)."""

    @admin_only_in_conversation
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        return await _start(update, context, press)

    return start


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE, press: Press) -> int:
    target = await _button_target(update, context, press)
    if target is None:
        return ConversationHandler.END
    plan, step, extra = target
    kind = STARTS[press]
    if kind.needs_step and step is None:
        return ConversationHandler.END
    draft = kind.draft(plan, step, extra)
    if draft is None:
        return ConversationHandler.END
    context.user_data[_DRAFT] = draft  # type: ignore[index]
    if kind.shows_text and step is not None and draft["language"] in step.texts:
        svc = services(context)
        await send(update, views.step_source(svc, step, draft["language"], language_of(update, context)))
    return await _ask(update, context, kind.question)


# --- leaving --------------------------------------------------------------------------------------


@admin_only_in_conversation
async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    context.user_data.pop(_DRAFT, None)  # type: ignore[union-attr]
    await _reply(update, context, "admin_cancelled")
    return ConversationHandler.END


async def timed_out(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    context.user_data.pop(_DRAFT, None)  # type: ignore[union-attr]
    await _reply(update, context, "admin_timed_out")


def conversation(
    entry_points: list[BaseHandler[Update, Any, Any]], timeout: timedelta | None = None
) -> ConversationHandler:
    """The edit conversation, started by `entry_points` (buttons that lead to `starter`s); an edit left unfinished
    for `timeout` (EDIT_TIMEOUT) is stopped."""
    private_text = filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND

    def typed(state: int) -> list[MessageHandler]:
        return [MessageHandler(private_text, _answer_handler(state))]

    with warnings.catch_warnings():
        # PTB warns that with per_message=False a button is not tied to one message. That is intended here:
        # the buttons only start an edit, and what follows is typed in the same private chat.
        warnings.filterwarnings("ignore", message=".*per_message=False.*", category=PTBUserWarning)
        return ConversationHandler(
            entry_points=entry_points,
            states={
                **{state: typed(state) for state in QUESTIONS},
                ConversationHandler.TIMEOUT: [TypeHandler(Update, timed_out)],
            },
            fallbacks=[CommandHandler("cancel", cancel)],
            allow_reentry=True,
            per_user=True,
            per_chat=True,
            conversation_timeout=timeout or EDIT_TIMEOUT,
            name="admin_edits",
        )
