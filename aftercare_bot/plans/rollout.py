"""Brings the messages already scheduled for enrolled clients in line with a changed plan.

Only messages not yet sent change: a new timing or grace moves waiting messages, a step turned off cancels
them, a step turned on or added is scheduled for every active enrolment still within the step's grace.
Texts need nothing here: a message is composed from the plan in force when it is sent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.config import Settings
from aftercare_bot.db.models import Delivery, DeliveryState, Enrolment
from aftercare_bot.db.repositories import deliveries
from aftercare_bot.db.repositories import enrolments as enrolment_repo
from aftercare_bot.plans.model import Plan, Step
from aftercare_bot.plans.schedule import delivery_times, held_by_quiet_hours


@dataclass
class Rollout:
    """How many waiting messages of enrolled clients a change touched."""

    moved: int = 0
    skipped: int = 0
    cancelled: int = 0
    created: int = 0

    @property
    def total(self) -> int:
        return self.moved + self.skipped + self.cancelled + self.created


async def roll_out(
    session: AsyncSession, old: Plan | None, new: Plan, *, now: datetime, settings: Settings
) -> Rollout:
    report = Rollout()
    enrolments = await enrolment_repo.active_for_treatment(session, new.treatment)
    if not enrolments:
        return report
    by_step: dict[str, list[Delivery]] = defaultdict(list)
    for row in await deliveries.for_enrolments(session, [e.id for e in enrolments]):
        by_step[row.step_key].append(row)

    before = {step.key: step for step in old.steps} if old else {}
    for step in new.steps:
        previous = before.pop(step.key, None)
        was_on = previous is not None and previous.enabled
        waiting = [row for row in by_step[step.key] if row.state == DeliveryState.PENDING]
        if not step.enabled:
            if was_on:
                report.cancelled += await _cancel(session, waiting, "step turned off")
        elif not was_on:
            report.created += _schedule_missing(session, step, enrolments, by_step[step.key], now, settings)
        else:
            assert previous is not None
            if (previous.due, previous.grace) != (step.due, step.grace):
                await _move(session, step, enrolments, waiting, now, settings, report)
            if previous.checkin != step.checkin:
                await _set_checkin(session, waiting, step.checkin)
    for removed in before:  # only an import can remove a step
        waiting = [row for row in by_step[removed] if row.state == DeliveryState.PENDING]
        report.cancelled += await _cancel(session, waiting, "step removed from the plan")
    return report


async def _cancel(session: AsyncSession, rows: Iterable[Delivery], reason: str) -> int:
    ids = [row.id for row in rows]
    # Only rows still pending: a row a dispatcher has just claimed is already on its way.
    return await deliveries.cancel_pending(session, ids, reason) if ids else 0


async def _move(
    session: AsyncSession,
    step: Step,
    enrolments: Iterable[Enrolment],
    rows: Iterable[Delivery],
    now: datetime,
    settings: Settings,
    report: Rollout,
) -> None:
    session_at = {enrolment.id: enrolment.session_at for enrolment in enrolments}
    for row in rows:
        due, send_at, expires_at = delivery_times(step, session_at[row.enrolment_id], now, settings)
        late = now > expires_at
        moved = await deliveries.move_pending(
            session, row.id, due_at=due, send_at=send_at, expires_at=expires_at,
            quiet_held=held_by_quiet_hours(due, send_at, now),
            skip_reason="past its grace period after a timing change" if late else None,
        )
        if moved:
            if late:
                report.skipped += 1
            else:
                report.moved += 1


async def _set_checkin(session: AsyncSession, rows: Iterable[Delivery], checkin: bool) -> None:
    ids = [row.id for row in rows]
    if ids:
        await deliveries.set_checkin_pending(session, ids, checkin)


def _schedule_missing(
    session: AsyncSession,
    step: Step,
    enrolments: Iterable[Enrolment],
    existing: Iterable[Delivery],
    now: datetime,
    settings: Settings,
) -> int:
    """A step switched on (or added) reaches each active enrolment that has not had it, if still in grace."""
    had_it = {row.enrolment_id for row in existing if row.state != DeliveryState.CANCELLED}
    created = 0
    for enrolment in enrolments:
        if enrolment.id in had_it:
            continue
        due, send_at, expires_at = delivery_times(step, enrolment.session_at, now, settings)
        if now > expires_at:
            continue
        session.add(
            Delivery(
                enrolment_id=enrolment.id,
                client_id=enrolment.client_id,
                chat_id=enrolment.client.chat_id,
                step_key=step.key,
                due_at=due,
                send_at=send_at,
                expires_at=expires_at,
                checkin=step.checkin,
                attempts=0,
                state=DeliveryState.PENDING,
            )
        )
        created += 1
    return created
