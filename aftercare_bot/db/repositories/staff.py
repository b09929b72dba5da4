"""Queries on the clinic team. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import StaffChatMembership, StaffMember


async def get(session: AsyncSession, user_id: int) -> StaffMember | None:
    return await session.get(StaffMember, user_id)


async def all_members(session: AsyncSession) -> Sequence[StaffMember]:
    rows = await session.scalars(select(StaffMember).order_by(StaffMember.role, StaffMember.name))
    return rows.all()


async def chat_membership(session: AsyncSession, user_id: int) -> StaffChatMembership | None:
    return await session.get(StaffChatMembership, user_id)


async def record_chat_membership(session: AsyncSession, user_id: int, *, is_member: bool, at: datetime) -> None:
    """Remember what Telegram said, unless something newer is already known (an update and a lookup may race)."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    table = StaffChatMembership.__table__
    statement = dialect.insert(table).values(user_id=user_id, is_member=is_member, checked_at=at)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[table.c.user_id],
        set_={"is_member": statement.excluded.is_member, "checked_at": statement.excluded.checked_at},
        where=table.c.checked_at <= statement.excluded.checked_at,
    ))
