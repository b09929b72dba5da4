"""API keys. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import ApiKey
from aftercare_bot.db.refs import RowRef


async def by_hash(session: AsyncSession, key_hash: str) -> ApiKey | None:
    return await session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))


async def all_keys(session: AsyncSession) -> Sequence[ApiKey]:
    """Every key, the ones in use first, then the newest."""
    rows = await session.scalars(
        select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(), ApiKey.id.desc())
    )
    return rows.all()


async def get(session: AsyncSession, key: RowRef) -> ApiKey | None:
    row = await session.get(ApiKey, key.id, with_for_update=True)
    return row if row is not None and row.ref == key.ref else None


async def by_prefix(session: AsyncSession, prefix: str) -> Sequence[ApiKey]:
    return (await session.scalars(select(ApiKey).where(ApiKey.prefix == prefix))).all()


async def touch(session: AsyncSession, key_id: int, now: datetime) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
