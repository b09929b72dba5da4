"""Enrolments made by a booking system or an import, by the system's own id. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Delivery, DeliveryState, Enrolment, ExternalEnrolment, Invite, InviteStatus


async def by_external_id(
    session: AsyncSession, external_id: str, *, for_update: bool = False
) -> ExternalEnrolment | None:
    query = select(ExternalEnrolment).where(ExternalEnrolment.external_id == external_id)
    return await session.scalar(query.with_for_update() if for_update else query)


async def by_external_ids(session: AsyncSession, external_ids: Sequence[str]) -> dict[str, ExternalEnrolment]:
    if not external_ids:
        return {}
    rows = await session.scalars(select(ExternalEnrolment).where(ExternalEnrolment.external_id.in_(external_ids)))
    return {row.external_id: row for row in rows}


async def invite_of(session: AsyncSession, record: ExternalEnrolment) -> Invite | None:
    """The record's invite; None once it is gone (the client was erased), even if its id now names another."""
    invite = await session.get(Invite, record.invite_id)
    return invite if invite is not None and invite.ref == record.invite_ref else None


async def enrolment_of(session: AsyncSession, invite: Invite) -> Enrolment | None:
    return await session.scalar(
        select(Enrolment).where(Enrolment.invite_id == invite.id).order_by(Enrolment.id.desc()).limit(1)
    )


async def progress(session: AsyncSession, enrolment_id: int) -> tuple[int, int]:
    """(messages sent, messages planned in all, cancelled and skipped ones left out)."""
    rows = await session.execute(
        select(Delivery.state, func.count()).where(Delivery.enrolment_id == enrolment_id).group_by(Delivery.state)
    )
    counts = {state: count for state, count in rows}
    planned = sum(n for state, n in counts.items() if state not in (DeliveryState.CANCELLED, DeliveryState.SKIPPED))
    return counts.get(DeliveryState.SENT, 0), planned


async def unreported(session: AsyncSession, *, before: datetime) -> Sequence[ExternalEnrolment]:
    rows = await session.scalars(
        select(ExternalEnrolment)
        .where(ExternalEnrolment.reported_at.is_(None), ExternalEnrolment.created_at <= before)
        .order_by(ExternalEnrolment.id)
        .with_for_update()
    )
    return rows.all()


async def mark_reported(session: AsyncSession, ids: Sequence[int], now: datetime) -> None:
    if ids:
        await session.execute(update(ExternalEnrolment).where(ExternalEnrolment.id.in_(ids)).values(reported_at=now))


async def pending_with_phone(session: AsyncSession, phone: str, *, now: datetime) -> Sequence[Invite]:
    """Links not yet opened or agreed to, still valid, made for this phone number; the latest session first."""
    rows = await session.scalars(
        select(Invite)
        .where(Invite.phone == phone, Invite.status == InviteStatus.PENDING, Invite.expires_at > now)
        .order_by(Invite.session_at.desc(), Invite.id.desc())
        .with_for_update()
    )
    return rows.all()


async def erase_phone_if_expired(session: AsyncSession, invite_id: int, *, now: datetime) -> int:
    result = await session.execute(
        update(Invite).where(Invite.id == invite_id, Invite.expires_at <= now, Invite.phone.is_not(None))
        .values(phone=None)
    )
    return result.rowcount or 0


async def erase_expired_phones(session: AsyncSession, *, now: datetime) -> int:
    result = await session.execute(
        update(Invite).where(Invite.phone.is_not(None), Invite.expires_at <= now).values(phone=None)
    )
    return result.rowcount or 0
