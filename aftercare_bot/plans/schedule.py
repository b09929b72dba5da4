"""Creates the delivery rows of a plan for one enrolment."""

from __future__ import annotations

from datetime import datetime

from aftercare_bot.config import Settings
from aftercare_bot.db.models import Client, Delivery, DeliveryState, Enrolment
from aftercare_bot.delivery import quiet_hours
from aftercare_bot.plans.model import Plan, Step


def delivery_times(step: Step, session_at: datetime, now: datetime, settings: Settings) -> tuple[datetime, ...]:
    """(due, send_at, expires_at): quiet hours push the send time, and the grace period runs from there."""
    due = step.due.due_at(session_at, settings.timezone)
    allowed = quiet_hours.next_allowed(due, settings.quiet_hours, settings.timezone)
    send_at = quiet_hours.next_allowed(max(due, now), settings.quiet_hours, settings.timezone)
    return due, send_at, allowed + step.grace


def held_by_quiet_hours(due: datetime, send_at: datetime, now: datetime) -> bool:
    """Whether quiet hours made the message wait (for the report): it goes later than it could have."""
    return send_at > max(due, now)


def plan_deliveries(
    plan: Plan, enrolment: Enrolment, client: Client, *, now: datetime, settings: Settings
) -> list[Delivery]:
    rows = []
    for step in plan.steps:
        if not step.enabled:
            continue
        due, send_at, expires_at = delivery_times(step, enrolment.session_at, now, settings)
        late = now > expires_at
        rows.append(
            Delivery(
                enrolment_id=enrolment.id, client_id=client.id, chat_id=client.chat_id, step_key=step.key,
                due_at=due, send_at=send_at, expires_at=expires_at, checkin=step.checkin, attempts=0,
                quiet_held=held_by_quiet_hours(due, send_at, now),
                state=DeliveryState.SKIPPED if late else DeliveryState.PENDING,
                last_error="enrolled after this step's grace period" if late else None,
            )
        )
    return rows
