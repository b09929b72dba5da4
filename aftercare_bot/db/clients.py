"""Queries on clients. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Client


async def by_telegram_id(session: AsyncSession, telegram_user_id: int) -> Client | None:
    return await session.scalar(select(Client).where(Client.telegram_user_id == telegram_user_id))


async def search(session: AsyncSession, query: str, limit: int = 10) -> Sequence[Client]:
    """Clients whose name or Telegram first name contains the query, ignoring case."""
    pattern = f"%{query.strip().lower()}%"
    rows = await session.scalars(
        select(Client)
        .where(or_(func.lower(Client.name).like(pattern), func.lower(Client.first_name).like(pattern)))
        .order_by(Client.updated_at.desc())
        .limit(limit)
    )
    return rows.all()
