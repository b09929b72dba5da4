"""Queries on clients. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Client


async def by_telegram_id(session: AsyncSession, telegram_user_id: int) -> Client | None:
    return await session.scalar(select(Client).where(Client.telegram_user_id == telegram_user_id))


def contains_ignoring_case(query: str, *columns: ColumnElement[str]) -> ColumnElement[bool]:
    """One of `columns` contains `query`, ignoring case.

    `%` and `_` in the query are matched as themselves (autoescape), not as LIKE wildcards.
    """
    needle = query.strip().lower()
    return or_(*(func.lower(column).contains(needle, autoescape=True) for column in columns))


def _name_contains(query: str) -> ColumnElement[bool]:
    """The client's name or Telegram first name contains `query` (see contains_ignoring_case)."""
    return contains_ignoring_case(query, Client.name, Client.first_name)


async def search(session: AsyncSession, query: str, limit: int = 10) -> Sequence[Client]:
    """Up to `limit` clients matching `query` (see _name_contains), the most recently changed first."""
    rows = await session.scalars(
        select(Client).where(_name_contains(query)).order_by(Client.updated_at.desc(), Client.id.desc()).limit(limit)
    )
    return rows.all()


async def count_matching(session: AsyncSession, query: str) -> int:
    """How many clients match `query` in all, however many `search` returns."""
    return await session.scalar(select(func.count()).select_from(Client).where(_name_contains(query))) or 0
