"""The staff view of one client: status, plan progress and what comes next."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db import deliveries, enrolments
from aftercare_bot.db.models import Client, DeliveryState
from aftercare_bot.services import Services

UPCOMING_SHOWN = 5


async def describe(session: AsyncSession, client: Client, svc: Services, language: str | None = None) -> str:
    tz = svc.settings.timezone
    enrolment = await enrolments.latest_for_client(session, client.id)
    lines = [svc.text("client_header", language, name=client.name, first_name=client.first_name,
                      status=client.status, client_language=client.language)]
    if enrolment is None:
        lines.append(svc.text("client_no_plan", language))
        return "\n".join(lines)
    rows = await deliveries.for_enrolment(session, enrolment.id)
    counts = {state: sum(1 for r in rows if r.state == state) for state in DeliveryState}
    lines.append(svc.text(
        "client_plan", language, treatment=enrolment.treatment, state=enrolment.state,
        session_at=f"{enrolment.session_at.astimezone(tz):%d %b %Y %H:%M}",
        sent=counts[DeliveryState.SENT], pending=counts[DeliveryState.PENDING],
        skipped=counts[DeliveryState.SKIPPED], failed=counts[DeliveryState.FAILED],
        cancelled=counts[DeliveryState.CANCELLED],
    ))
    upcoming = [r for r in rows if r.state in (DeliveryState.PENDING, DeliveryState.SENDING)][:UPCOMING_SHOWN]
    for row in upcoming:
        lines.append(svc.text("client_upcoming", language, step=row.step_key,
                              send_at=f"{row.send_at.astimezone(tz):%d %b %H:%M}"))
    return "\n".join(lines)
