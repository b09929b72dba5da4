"""Edits that need typing: new texts, languages, timings, new steps and new plans.

A button starts an edit; each question's answer is typed. Where the edit stands lives in the database
(plans.typed_edits), so any replica takes the next message. The finished change is kept as a draft and
confirmed with a button (admin_templates).
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram import Message, MessageEntity, Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from aftercare_bot.bot.handlers import admin_views as views
from aftercare_bot.bot.handlers.admin_templates import offer, send
from aftercare_bot.bot.handlers.auth import admin_only, is_admin
from aftercare_bot.bot.handlers.common import language_of, services, signed_parts
from aftercare_bot.callbacks import Press
from aftercare_bot.plans import typed_edits
from aftercare_bot.plans.changes import (
    check_text,
    grace_problem,
    key_problem,
    language_problem,
    timing_problem,
    title_problem,
)
from aftercare_bot.plans.model import Plan, Step, format_duration, parse_duration, parse_timing
from aftercare_bot.plans.typed_edits import TypedEdit
from aftercare_bot.services import Services
from aftercare_bot.texts.catalog import FALLBACK_LANGUAGE, MAX_MESSAGE_LENGTH
from aftercare_bot.texts.problems import Problem

# The questions, by the names stored with an edit in progress (so they never change).
TEXT, LANGUAGE, TITLE, TIMING, GRACE = "text", "language", "title", "timing", "grace"
NEW_KEY, NEW_TIMING, NEW_GRACE, PLAN_KEY, PLAN_TITLE = "new_key", "new_timing", "new_grace", "plan_key", "plan_title"
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


def _title_or_text(svc: Services, draft: Draft) -> str:
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
    then: str | Callable[[Services, Draft], str] | None = None  # the next question; None: offer the change


QUESTIONS: dict[str, Question] = {
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


async def _ask(update: Update, context: ContextTypes.DEFAULT_TYPE, question: str, draft: Draft) -> None:
    asked = QUESTIONS[question]
    await _reply(update, context, asked.prompt, **asked.prompt_values(services(context), draft))


async def _answered(update: Update, context: ContextTypes.DEFAULT_TYPE, edit: TypedEdit) -> None:
    """Check what the admin typed; then ask the next question, or offer the finished change to confirm."""
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    assert message is not None and user is not None and chat is not None
    svc, question, draft = services(context), QUESTIONS[edit.question], dict(edit.draft)
    typed = question.read(message)
    refusal = question.check(typed, svc, draft)
    if refusal is not None:
        await _reply(update, context, refusal[0], **refusal[1])
        return
    value = question.value(typed)
    where = {"user_id": user.id, "chat_id": chat.id}
    if question.then is None:
        if await offer(update, context, {**draft, question.field: value}):
            await typed_edits.end(svc.session_factory, **where)
        return
    draft[question.field] = value
    following = question.then(svc, draft) if callable(question.then) else question.then
    await typed_edits.advance(svc.session_factory, question=following, draft=draft, now=svc.clock.now(), **where)
    await _ask(update, context, following, draft)


async def typed_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text an admin types in private while an edit waits for it; any other message goes on to the handlers
    after this one (app.register_handlers runs this in a group of its own, before them).

    Whichever replica receives the message reads where the edit stands from the database. Only admins' messages
    are looked up: a client's message costs nothing here.
    """
    message, user, chat = update.message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None or chat.type != chat.PRIVATE or message.text is None:
        return
    if not await is_admin(context, user.id):
        return
    svc = services(context)
    edit = await typed_edits.current(svc.session_factory, user_id=user.id, chat_id=chat.id, now=svc.clock.now())
    if edit is None:
        return
    if edit.expired:
        await _reply(update, context, "admin_timed_out")
    else:
        await _answered(update, context, edit)
    raise ApplicationHandlerStop


# --- the buttons that start an edit ---------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """A button that starts an edit: the draft it begins (None when the button lacks a part) and the first question."""

    question: str
    draft: Callable[[Plan, Step | None, list[str]], Draft | None]
    needs_step: bool = True


def _step_change(op: str, plan: Plan, step: Step | None) -> Draft:
    assert step is not None  # these starts need a step
    return {"op": op, "treatment": plan.treatment, "step": step.key}


STARTS: dict[Press, Start] = {
    Press.EDIT_TEXT: Start(
        TEXT,
        lambda plan, step, extra: (
            {"op": "text", "treatment": plan.treatment, "step": step.key, "language": extra[0]} if extra else None
        ),
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


def starter(press: Press) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]:
    """The handler of a button that starts an edit of kind `press` (one of STARTS)."""

    @admin_only
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await _start(update, context, press)

    return start


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE, press: Press) -> None:
    target = await _button_target(update, context, press)
    user, chat = update.effective_user, update.effective_chat
    if target is None or user is None or chat is None:
        return
    plan, step, extra = target
    kind = STARTS[press]
    if kind.needs_step and step is None:
        return
    draft = kind.draft(plan, step, extra)
    if draft is None:
        return
    svc = services(context)
    await typed_edits.begin(
        svc.session_factory, user_id=user.id, chat_id=chat.id, question=kind.question, draft=draft,
        now=svc.clock.now(),
    )
    await _ask(update, context, kind.question, draft)


# --- leaving --------------------------------------------------------------------------------------


@admin_only
async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel: stop the edit in progress, on whichever replica it was started."""
    user, chat, svc = update.effective_user, update.effective_chat, services(context)
    if user is None or chat is None:
        return
    ended = await typed_edits.end(svc.session_factory, user_id=user.id, chat_id=chat.id)
    await _reply(update, context, "admin_cancelled" if ended else "admin_nothing_to_cancel")
