"""Plans edited from Telegram: drafts, confirmed revisions, the history of a step's text, and restoring it.

Every confirmed change stores a new revision of the whole plan document. The newest revision of a treatment
wins over its file; the file stays the default (revision 0 in the history). A change is applied to the newest
document when it is confirmed, so two admins editing different steps never undo each other's work.

Steps marked warning_signs (in the file or in force) stay marked in every new revision, so an edit that drops
the clinic's phone or the urgent-care advice from a warning-sign text is refused (clinical_safety.py). Such a
step also stays on: turning it off is refused, and a revision saved while that was still possible is read with
the step on again (the next saved change schedules it for the clients enrolled).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aftercare_bot.config import Settings
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import audit, deliveries
from aftercare_bot.db.repositories import plan_revisions as revisions
from aftercare_bot.plans.catalog import PlanCatalog
from aftercare_bot.plans.changes import Change, ChangeRefused, apply_change, copy_plan, note_of
from aftercare_bot.plans.documents import (
    Document,
    normalised,
    plan_to_document,
    read_document,
    with_warning_marks,
)
from aftercare_bot.plans.model import Plan, Step
from aftercare_bot.plans.rollout import Rollout, roll_out
from aftercare_bot.texts.problems import Problem
from aftercare_bot.texts.rendering import clinic_values

log = logging.getLogger(__name__)

DRAFT_TTL = timedelta(days=1)
FILE_REVISION = 0  # how the plan file appears in a history
_SAVE_ATTEMPTS = 3
REFRESH_EVERY = 5.0  # seconds


@dataclass(frozen=True)
class Actor:
    user_id: int
    name: str


@dataclass(frozen=True)
class Prepared:
    """A checked change waiting for the admin's confirmation; `plan` is the plan as it would become."""

    draft: RowRef
    plan: Plan
    change: Change


@dataclass(frozen=True)
class Saved:
    plan: Plan
    revision: int
    rollout: Rollout
    change: Change
    waiting: int = 0  # for a new text: the step's messages not yet sent to enrolled clients, which will use it


@dataclass(frozen=True)
class TextVersion:
    revision: int  # FILE_REVISION for the text of the plan file
    text: str
    at: datetime | None
    by_name: str
    by_id: int | None


async def current_document(
    session: AsyncSession, catalog: PlanCatalog, treatment: str
) -> tuple[Document, int]:
    """The newest document of a plan and its revision (FILE_REVISION when the file is in force)."""
    row = await revisions.newest(session, treatment)
    if row is not None:
        return row.document, row.revision
    plan = catalog.file_plan(treatment)
    if plan is None:
        raise ChangeRefused("admin_plan_gone", treatment=treatment)
    return plan_to_document(plan), FILE_REVISION


async def prepare(
    session: AsyncSession, catalog: PlanCatalog, change: Change, *, actor: Actor, now: datetime
) -> Prepared:
    """Check the change against the newest plan and keep it as a draft for the admin to confirm."""
    document, _current = await _changed_document(session, catalog, change)
    plan = _checked(document)
    draft = await revisions.add_draft(
        session, user_id=actor.user_id, treatment=plan.treatment, change=dict(change), now=now
    )
    return Prepared(RowRef.of(draft), plan, dict(change))


async def draft_change(session: AsyncSession, ref: RowRef, *, actor: Actor, now: datetime) -> Change:
    """The change of a draft that `actor` may still confirm; ChangeRefused otherwise."""
    draft = await revisions.get_draft(session, ref)
    if draft is None or draft.user_id != actor.user_id or draft.used_at is not None:
        raise ChangeRefused("admin_draft_gone")
    if now - draft.created_at > DRAFT_TTL:
        raise ChangeRefused("admin_draft_gone")
    return dict(draft.change)


async def draft_plan(
    session: AsyncSession, catalog: PlanCatalog, draft: RowRef, *, actor: Actor, now: datetime
) -> Prepared:
    """The plan a draft would make, for a test message before it is confirmed."""
    change = await draft_change(session, draft, actor=actor, now=now)
    document, _current = await _changed_document(session, catalog, change)
    return Prepared(draft, _checked(document), change)


async def discard(session: AsyncSession, draft: RowRef, *, actor: Actor, now: datetime) -> None:
    await draft_change(session, draft, actor=actor, now=now)
    await revisions.use_draft(session, draft.id, now=now)


async def confirm(
    session_factory: async_sessionmaker[AsyncSession],
    catalog: PlanCatalog,
    draft: RowRef,
    *,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> Saved:
    """Save the draft as a new revision, move the waiting messages of enrolled clients, update the catalog."""
    for attempt in range(_SAVE_ATTEMPTS):
        try:
            async with session_factory.begin() as session:
                change = await draft_change(session, draft, actor=actor, now=now)
                if not await revisions.use_draft(session, draft.id, now=now):
                    raise ChangeRefused("admin_draft_gone")
                saved = await _save(session, catalog, change, actor=actor, now=now, settings=settings)
                if change["op"] == "text":
                    saved = replace(
                        saved, waiting=await deliveries.count_waiting(session, saved.plan.treatment, change["step"])
                    )
        except IntegrityError:
            # Another admin saved a revision of the same plan at the same moment: apply on top of theirs.
            log.info("plan revision clash on attempt %d; retrying", attempt + 1)
            continue
        catalog.replace(saved.plan, saved.revision)
        return saved
    raise ChangeRefused("admin_save_clash")


async def save_documents(
    session: AsyncSession,
    catalog: PlanCatalog,
    documents: Mapping[str, Document],
    *,
    notes: Mapping[str, str],
    actor: Actor | None,
    by_name: str = "",
    now: datetime,
    settings: Settings,
) -> dict[str, Saved]:
    """Store each document that differs from the plan in force as a new revision (used by import).

    The documents must have been checked; the caller commits and then calls `put_in_force`.
    """
    saved: dict[str, Saved] = {}
    for treatment, document in sorted(documents.items()):
        marked = catalog.warning_steps(treatment)
        plan = _checked(with_warning_marks(document, marked))
        exists = (
            catalog.file_plan(treatment) is not None or await revisions.newest(session, treatment) is not None
        )
        if exists:
            current, _ = await current_document(session, catalog, treatment)
            if normalised(current) == plan_to_document(plan):
                continue
            previous = _previous_plan(current, marked)
        else:
            previous = None
        change: Change = {"op": "import", "treatment": treatment}
        saved[treatment] = await _store(
            session, plan, previous, change, note=notes[treatment], actor=actor, by_name=by_name, now=now,
            settings=settings,
        )
    return saved


def put_in_force(catalog: PlanCatalog, saved: Mapping[str, Saved]) -> None:
    for item in saved.values():
        catalog.replace(item.plan, item.revision)


async def history(
    session: AsyncSession, catalog: PlanCatalog, treatment: str, step_key: str, language: str
) -> list[TextVersion]:
    """The versions of one step's text in one language, oldest first: each revision that changed it."""
    versions: list[TextVersion] = []
    file_plan = catalog.file_plan(treatment)
    if file_plan is not None:
        text = _text_in(plan_to_document(file_plan), step_key, language)
        if text is not None:
            versions.append(TextVersion(FILE_REVISION, text, None, "", None))
    for row in await revisions.all_of(session, treatment):
        text = _text_in(row.document, step_key, language)
        if text is None or (versions and versions[-1].text == text):
            continue
        versions.append(TextVersion(row.revision, text, row.created_at, row.created_by_name, row.created_by))
    return versions


@dataclass(frozen=True)
class RecentChange:
    treatment: str
    revision: int
    at: datetime
    by_name: str
    by_id: int | None
    op: str  # as in plan_changes, or "import"
    step: str | None = None
    language: str | None = None
    detail: str | None = None  # "on"/"off", the source plan of a copy, the revision a text was restored from,
    # the file of an import


async def recent_changes(session: AsyncSession, limit: int = 10) -> list[RecentChange]:
    changes = []
    for row in await revisions.recent(session, limit):
        op, *rest = (row.note or "import").split()
        step = language = detail = None
        if op == "copy_plan":
            detail = rest[0] if rest else None
        elif op == "import":
            detail = " ".join(rest) or None  # the file the plan came from
        elif op != "import" and rest:
            step = rest[0]
            if op == "text" and len(rest) > 1:
                language = rest[1]
                detail = rest[2].removeprefix("restored_from=") if len(rest) > 2 else None
            elif op == "enabled" and len(rest) > 1:
                detail = rest[1]
        changes.append(
            RecentChange(
                row.treatment,
                row.revision,
                row.created_at,
                row.created_by_name,
                row.created_by,
                op,
                step,
                language,
                detail,
            )
        )
    return changes


async def restore_change(
    session: AsyncSession, catalog: PlanCatalog, treatment: str, step_key: str, language: str, revision: int
) -> Change:
    """A text change that brings back the step's text of `revision`."""
    for version in await history(session, catalog, treatment, step_key, language):
        if version.revision == revision:
            return {
                "op": "text",
                "step": step_key,
                "language": language,
                "text": version.text,
                "restored_from": revision,
            }
    raise ChangeRefused("admin_version_gone", revision=revision)


class PlansInForce:
    """Makes every message composed after a save use the saved text, on every replica.

    `ensure` returns once a look at the database that began after it was called has put in force every revision
    saved until then. Callers arriving while a look is under way share the next one, so a busy dispatcher pays
    one small grouped query per round of messages, not one per message (benchmarks/README.md has the figures).
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], catalog: PlanCatalog) -> None:
        self._session_factory = session_factory
        self._catalog = catalog
        self._running: asyncio.Task[None] | None = None  # the look under way: it may have begun too early
        self._next: asyncio.Task[None] | None = None  # the look that begins once that one is over
        self.looks = 0

    async def ensure(self) -> None:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_task(self._look_after(self._running))
        await asyncio.shield(self._next)

    async def _look_after(self, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        # From here on this is the look under way; whoever calls ensure now waits for the next one.
        self._running, self._next = self._next, None
        self.looks += 1
        await refresh(self._session_factory, self._catalog)
        self._catalog.refreshed_at = time.monotonic()


async def refresh_now_and_then(
    session_factory: async_sessionmaker[AsyncSession], catalog: PlanCatalog
) -> list[str]:
    """`refresh` at most every REFRESH_EVERY seconds: the dispatcher calls this on every pass, and under load
    passes follow each other closely; a revision saved on another replica may take that long to apply."""
    now = time.monotonic()
    if now - catalog.refreshed_at < REFRESH_EVERY:
        return []
    catalog.refreshed_at = now
    return await refresh(session_factory, catalog)


async def refresh(session_factory: async_sessionmaker[AsyncSession], catalog: PlanCatalog) -> list[str]:
    """Put in force revisions saved elsewhere (another replica, an import); returns the treatments updated.

    Cheap when nothing changed: one grouped query. A revision that fails today's checks is logged and
    left out, so the plan in force stays the last good one.
    """
    async with session_factory() as session:
        newest = await revisions.newest_numbers(session)
        stale = [t for t, number in newest.items() if catalog.newest_seen(t) < number]
        loaded = {t: await revisions.get(session, t, newest[t]) for t in stale}
    updated = []
    for treatment, row in loaded.items():
        if row is None:
            continue
        document, turned_on = _warning_steps_on(row.document, catalog.warning_steps(treatment))
        if turned_on:
            log.warning(
                "revision %d of plan %r has warning-sign step(s) %s turned off; they are kept on",
                row.revision,
                treatment,
                ", ".join(turned_on),
            )
        plan, errors = read_document(document)
        if plan is None:
            log.error(
                "revision %d of plan %r is not valid and is ignored: %s",
                row.revision,
                treatment,
                "; ".join(str(e.problem) for e in errors),
            )
            catalog.ignore(treatment, row.revision)
            continue
        if catalog.replace(plan, row.revision):
            updated.append(treatment)
    return updated


def sample_values(
    plan: Plan, step: Step, language: str, settings: Settings, *, first_name: str, client_name: str
) -> dict[str, str]:
    """Placeholder values for previews and tests, as a client on the day of the step would get them."""
    day = step.due.day if step.due.day is not None else (step.due.offset.days if step.due.offset else 0)
    return {
        "first_name": first_name,
        "client_name": client_name,
        **clinic_values(settings),
        "treatment": plan.title_for(language, settings.default_language),
        "day": str(day),
    }


async def _changed_document(
    session: AsyncSession, catalog: PlanCatalog, change: Change
) -> tuple[Document, Document | None]:
    """(the plan document after the change, the one before it — None for a new plan)."""
    treatment = change["treatment"]
    if change["op"] == "copy_plan":
        if catalog.file_plan(treatment) is not None or await revisions.newest(session, treatment) is not None:
            raise ChangeRefused("admin_key_taken", value=treatment)
        source, _ = await current_document(session, catalog, change["source"])
        source, _turned_on = _warning_steps_on(source, catalog.warning_steps(change["source"]))
        return copy_plan(source, treatment, change["title"], change.get("language")), None
    current, _revision = await current_document(session, catalog, treatment)
    warning_steps = _marks(current, catalog.warning_steps(treatment))
    if change["op"] == "enabled" and not change["enabled"] and change["step"] in warning_steps:
        raise ChangeRefused("admin_warning_step_stays_on", step=change["step"])
    changed, _turned_on = _warning_steps_on(apply_change(current, change), warning_steps)
    return changed, current


async def _save(
    session: AsyncSession,
    catalog: PlanCatalog,
    change: Change,
    *,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> Saved:
    document, current = await _changed_document(session, catalog, change)
    plan = _checked(document)
    previous = _previous_plan(current, catalog.warning_steps(plan.treatment)) if current is not None else None
    return await _store(
        session, plan, previous, change, note=note_of(change), actor=actor, now=now, settings=settings
    )


async def _store(
    session: AsyncSession,
    plan: Plan,
    previous: Plan | None,
    change: Change,
    *,
    note: str,
    actor: Actor | None,
    by_name: str = "",
    now: datetime,
    settings: Settings,
) -> Saved:
    newest = await revisions.newest(session, plan.treatment)
    number = (newest.revision if newest else FILE_REVISION) + 1
    await revisions.add(
        session,
        treatment=plan.treatment,
        revision=number,
        document=plan_to_document(plan),
        note=note,
        created_by=actor.user_id if actor else None,
        created_by_name=actor.name if actor else by_name,
        now=now,
    )
    rollout = await roll_out(session, previous, plan, now=now, settings=settings)
    await audit.record(
        session,
        now=now,
        action="plan_changed",
        actor_id=actor.user_id if actor else None,
        detail={
            "treatment": plan.treatment,
            "revision": number,
            "note": note,
            "moved": rollout.moved,
            "skipped": rollout.skipped,
            "cancelled": rollout.cancelled,
            "created": rollout.created,
        },
    )
    return Saved(plan, number, rollout, dict(change))


def _checked(document: Document) -> Plan:
    plan, errors = read_document(document)
    if plan is None:
        # The file and line refer to a file the admin never sees: only what is wrong is shown.
        problems = [error.problem for error in errors]
        key = "admin_warning_text_refused" if any(map(_is_safety_problem, problems)) else "admin_plan_invalid"
        raise ChangeRefused(key, problems=problems)
    return plan


def _is_safety_problem(found: Problem) -> bool:
    inner = found.values.get("problem")
    return found.key.startswith("problem_safety_") or (isinstance(inner, Problem) and _is_safety_problem(inner))


def _plan_or_none(document: Document) -> Plan | None:
    plan, _errors = read_document(document)
    return plan


def _marks(document: Mapping[str, Any], marked: Collection[str]) -> set[str]:
    """Keys of the warning-sign steps: marked in the document itself, or in `marked` (the file, the plan in force)."""
    steps = with_warning_marks(document, marked).get("steps", [])
    return {step.get("key") for step in steps if isinstance(step, dict) and step.get("warning_signs") is True}


def _warning_steps_on(document: Mapping[str, Any], marked: Collection[str]) -> tuple[Document, list[str]]:
    """The document with its warning-sign steps marked and on, and the keys of those that were off."""
    result = with_warning_marks(document, _marks(document, marked))
    turned_on = []
    for step in result.get("steps", []):
        if isinstance(step, dict) and step.get("warning_signs") is True and step.get("enabled", True) is False:
            step["enabled"] = True
            turned_on.append(step["key"])
    return result, turned_on


def _previous_plan(document: Document, marked: Collection[str]) -> Plan | None:
    """The plan before a change, as enrolled clients' messages reflect it.

    A warning-sign step stored as off (saved when that was still possible) counts as off here, so the rollout
    of the new revision, where it is on, schedules it for the clients enrolled.
    """
    document, turned_on = _warning_steps_on(document, marked)
    plan = _plan_or_none(document)
    if plan is None or not turned_on:
        return plan
    steps = tuple(replace(step, enabled=False) if step.key in turned_on else step for step in plan.steps)
    return replace(plan, steps=steps)


def _text_in(document: Mapping[str, Any], step_key: str, language: str) -> str | None:
    for step in document.get("steps", []):
        if step.get("key") == step_key:
            text = step.get("text", {}).get(language)
            return text if isinstance(text, str) else None
    return None
