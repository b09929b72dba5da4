"""Queries on the clinic team. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import StaffMember


async def get(session: AsyncSession, user_id: int) -> StaffMember | None:
    return await session.get(StaffMember, user_id)


async def all_members(session: AsyncSession) -> Sequence[StaffMember]:
    rows = await session.scalars(select(StaffMember).order_by(StaffMember.role, StaffMember.name))
    return rows.all()
