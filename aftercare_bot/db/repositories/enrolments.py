"""Queries on enrolments. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Enrolment, EnrolmentState


async def active_for_client(session: AsyncSession, client_id: int) -> Sequence[Enrolment]:
    rows = await session.scalars(
        select(Enrolment)
        .where(Enrolment.client_id == client_id, Enrolment.state == EnrolmentState.ACTIVE)
        .order_by(Enrolment.session_at.desc())
    )
    return rows.all()


async def active_for_treatment(session: AsyncSession, treatment: str) -> Sequence[Enrolment]:
    rows = await session.scalars(
        select(Enrolment).where(Enrolment.treatment == treatment, Enrolment.state == EnrolmentState.ACTIVE)
    )
    return rows.all()


async def latest_for_client(session: AsyncSession, client_id: int) -> Enrolment | None:
    return await session.scalar(
        select(Enrolment).where(Enrolment.client_id == client_id).order_by(Enrolment.id.desc()).limit(1)
    )


async def end_active(session: AsyncSession, client_id: int, state: EnrolmentState, *, now: datetime) -> list[int]:
    ended = []
    for enrolment in await active_for_client(session, client_id):
        enrolment.state = state
        enrolment.ended_at = now
        ended.append(enrolment.id)
    return ended


async def all_for_client(session: AsyncSession, client_id: int) -> Sequence[Enrolment]:
    """Every plan the client had, in the order of their sessions."""
    rows = await session.scalars(
        select(Enrolment).where(Enrolment.client_id == client_id).order_by(Enrolment.session_at, Enrolment.id)
    )
    return rows.all()


async def delete_of_client(session: AsyncSession, client_id: int) -> None:
    await session.execute(delete(Enrolment).where(Enrolment.client_id == client_id))
