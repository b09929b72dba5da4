"""The staff view of one client: status, plan progress, what comes next and the recent conversation; and of
enrolments whose link has not been opened yet, so nobody enrolled is missing from a look-up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Client, DeliveryState, Invite
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import conversation, deliveries, enrolments
from aftercare_bot.db.repositories import staff as staff_repo
from aftercare_bot.services import Services
from aftercare_bot.texts import wording

UPCOMING_SHOWN = 5
CONVERSATION_SHOWN = 10
QUOTE_CHARS = 160


async def describe(session: AsyncSession, client: Client, svc: Services, language: str | None = None) -> str:
    enrolment = await enrolments.latest_for_client(session, client.id)
    status = wording.label_or(svc, f"client_status_{client.status}", "client_status_other", language)
    lines = [svc.text("client_header", language, name=client.name, first_name=client.first_name,
                      status=status, client_language=client.language)]
    if enrolment is None:
        lines.append(svc.text("client_no_plan", language))
        lines += await conversation_lines(session, client, svc, language)
        return "\n".join(lines)
    rows = await deliveries.for_enrolment(session, enrolment.id)
    counts = {state: sum(1 for r in rows if r.state == state) for state in DeliveryState}
    lines.append(svc.text(
        "client_plan", language, treatment=wording.treatment_title(svc, enrolment.treatment, language),
        state=wording.label_or(svc, f"client_plan_{enrolment.state}", "client_plan_other", language),
        session_at=wording.moment(svc, enrolment.session_at, language),
        sent=counts[DeliveryState.SENT], pending=counts[DeliveryState.PENDING],
        skipped=counts[DeliveryState.SKIPPED], failed=counts[DeliveryState.FAILED],
        cancelled=counts[DeliveryState.CANCELLED],
    ))
    upcoming = [r for r in rows if r.state in (DeliveryState.PENDING, DeliveryState.SENDING)][:UPCOMING_SHOWN]
    for row in upcoming:
        lines.append(svc.text("client_upcoming", language, step=row.step_key,
                              send_at=wording.moment(svc, row.send_at, language, with_year=False)))
    lines += await conversation_lines(session, client, svc, language)
    return "\n".join(lines)


async def conversation_lines(session: AsyncSession, client: Client, svc: Services, language: str | None) -> list[str]:
    """The last few messages each way, with times (clinic time) and the triage level of the client's."""
    entries = await conversation.recent_for_client(session, client.id, CONVERSATION_SHOWN)
    lines = ["", svc.text("conv_title", language)]
    if not entries:
        return [*lines, svc.text("conv_none", language)]
    for entry in entries:
        time = wording.moment(svc, entry.at, language, with_year=False)
        text = " ".join((entry.text or "").split()) or wording.label_or(
            svc, f"esc_kind_{entry.kind}", "esc_kind_other", language
        )
        if len(text) > QUOTE_CHARS:
            text = text[:QUOTE_CHARS] + "…"
        if entry.direction == conversation.IN:
            level = svc.label(f"esc_level_{entry.triage_level or 'routine'}", language)
            lines.append(svc.text("conv_in", language, time=time, text=text, level=level))
        elif entry.author_id is not None:
            member = await staff_repo.get(session, entry.author_id)
            name = member.name if member is not None and member.name else str(entry.author_id)
            lines.append(svc.text("conv_out_staff", language, time=time, text=text, name=name))
        else:
            lines.append(svc.text("conv_out", language, time=time, text=text))
    return lines


def pending_enrolments(
    invites: Sequence[Invite], total: int, svc: Services, language: str | None, *, now: datetime
) -> str:
    """Enrolments not yet joined: who, which plan, until when the link works (or that it expired), and the
    /enrol command that makes a new link for the same session; `total` counts those not listed too."""
    lines = [svc.text("client_pending_header", language)]
    for invite in invites:
        lines.append(svc.text(
            "client_pending_expired" if now >= invite.expires_at else "client_pending", language,
            name=invite.client_name, treatment=wording.treatment_title(svc, invite.treatment, language),
            session_at=wording.moment(svc, invite.session_at, language),
            expires_at=wording.moment(svc, invite.expires_at, language), command=enrol_again(invite, svc),
        ))
    if total > len(invites):
        lines.append(svc.text("client_pending_more", language, count=total - len(invites)))
    return "\n".join(lines)


def enrol_again(invite: Invite, svc: Services) -> str:
    """The /enrol command for the same client, plan, session time (clinic time) and language.

    Only a hash of the old link is kept, so it cannot be sent again: a new one is made instead.
    """
    session_at = invite.session_at.astimezone(svc.settings.timezone)
    command = f"/enrol {invite.client_name} treatment={invite.treatment} at={session_at:%Y-%m-%d %H:%M}"
    if invite.language:
        command += f" lang={invite.language}"
    return f"{command} renew={RowRef.of(invite)}"
