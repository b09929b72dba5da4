"""Edits that need typing: new texts, languages, timings, new steps and new plans.

A button starts an edit; each question's answer is typed. Where the edit stands lives in the database
(plans.typed_edits), so any replica takes the next message. The finished change is kept as a draft and
confirmed with a button (admin_templates).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram import Message, Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from aftercare_bot.bot.handlers import admin_views as views
from aftercare_bot.bot.handlers.admin_templates import offer, send
from aftercare_bot.bot.handlers.auth import admin_only, is_admin
from aftercare_bot.bot.handlers.common import services, signed_parts, staff_language
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
from aftercare_bot.texts.catalog import MAX_MESSAGE_LENGTH
from aftercare_bot.texts.formatting import Entity, entities_to_html, placeholders_as_code
from aftercare_bot.texts.problems import Problem
from aftercare_bot.texts.rendering import Html

# The questions, by the names stored with an edit in progress (so they never change).
TEXT, LANGUAGE, TITLE, TIMING, GRACE = "text", "language", "title", "timing", "grace"
NEW_KEY, NEW_TIMING, NEW_GRACE, PLAN_KEY, PLAN_TITLE = "new_key", "new_timing", "new_grace", "plan_key", "plan_title"
Draft = dict[str, Any]

def message_html(message: Message) -> str:
    """The admin's text as a plan template: Telegram's formatting as tags, typed tags as typed (texts.formatting)."""
    entities = [Entity(str(e.type), e.offset, e.length, e.url) for e in message.entities]
    return entities_to_html(message.text or "", entities)


async def _reply(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str, **values: object) -> None:
    await send(update, services(context).text(key, staff_language(context), **values))


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


def _name(svc: Services, draft: Draft, lang: str) -> str:
    return views.named(svc, svc.catalog.get(draft["treatment"]), draft["step"], lang)


def _text_prompt_values(svc: Services, draft: Draft, lang: str) -> dict[str, object]:
    """The step, the placeholders to tap, and the text now, formatted, to copy and change (none for a new step)."""
    plan = svc.catalog.get(draft["treatment"])
    step = next((s for s in plan.steps if s.key == draft["step"]), None) if plan else None
    current = step.text(draft["language"]) if step is not None else ""
    shown = svc.text("admin_edit_current", lang, text=Html(placeholders_as_code(current))) if current else ""
    return {"step": _name(svc, draft, lang), "language": draft["language"], "placeholders": views.placeholder_list(),
            "current": Html(shown)}


def _title_or_text(svc: Services, draft: Draft) -> str:
    """A language the plan has no title in needs the title before the text."""
    plan = svc.catalog.get(draft["treatment"])
    return TITLE if plan is not None and draft["language"] not in plan.title else TEXT


@dataclass(frozen=True)
class Question:
    """One thing an edit asks the admin to type: the prompt, the check, where the answer goes, what follows."""

    prompt: str
    prompt_values: Callable[[Services, Draft, str], dict[str, object]]
    field: str
    check: Check
    read: Callable[[Message], str] = _typed
    value: Callable[[str], object] = str
    then: str | Callable[[Services, Draft], str] | None = None  # the next question; None: offer the change


QUESTIONS: dict[str, Question] = {
    TEXT: Question(
        "admin_edit_prompt", _text_prompt_values, "text", _text_refusal, read=message_html,
    ),
    LANGUAGE: Question(
        "admin_language_prompt",
        lambda svc, d, lang: {"step": _name(svc, d, lang), "languages": ", ".join(sorted(_step_of(svc, d).texts))},
        "language", _keyed(language_problem, echo=True), then=_title_or_text,
    ),
    TITLE: Question(
        "admin_title_prompt", lambda svc, d, lang: {"language": d["language"]}, "title", _keyed(title_problem),
        then=TEXT,
    ),
    TIMING: Question(
        "admin_timing_prompt",
        lambda svc, d, lang: {"step": _name(svc, d, lang), "current": _step_of(svc, d).due.describe()},
        "due", _worded(timing_problem), value=_timing,
    ),
    GRACE: Question(
        "admin_grace_prompt",
        lambda svc, d, lang: {"step": _name(svc, d, lang), "current": format_duration(_step_of(svc, d).grace)},
        "grace", _worded(grace_problem), value=_grace,
    ),
    NEW_KEY: Question(
        "admin_new_step_key_prompt", lambda svc, d, lang: {"title": d["treatment"]},
        "step", _unused_key(_step_keys), then=NEW_TIMING,
    ),
    NEW_TIMING: Question(
        "admin_new_step_timing_prompt", lambda svc, d, lang: {"step": _name(svc, d, lang)},
        "due", _worded(timing_problem), value=_timing, then=NEW_GRACE,
    ),
    NEW_GRACE: Question(
        "admin_new_step_grace_prompt", lambda svc, d, lang: {"step": _name(svc, d, lang)},
        "grace", _worded(grace_problem), value=_grace, then=TEXT,
    ),
    PLAN_KEY: Question(
        "admin_new_plan_key_prompt", lambda svc, d, lang: {"source": d["source"]},
        "treatment", _unused_key(_treatments), then=PLAN_TITLE,
    ),
    PLAN_TITLE: Question(
        "admin_new_plan_title_prompt", lambda svc, d, lang: {"treatment": d["treatment"]}, "title",
        _keyed(title_problem),
    ),
}


async def _ask(update: Update, context: ContextTypes.DEFAULT_TYPE, question: str, draft: Draft) -> None:
    asked, lang = QUESTIONS[question], staff_language(context)
    await _reply(update, context, asked.prompt, **asked.prompt_values(services(context), draft, lang))


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
        lambda plan, _, __: {"op": "add_step", "treatment": plan.treatment},
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
    svc, lang, query = services(context), staff_language(context), update.callback_query
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
    if draft["op"] in ("add_step", "copy_plan"):
        draft["language"] = svc.staff_language  # what the admin types is in the team's language
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
