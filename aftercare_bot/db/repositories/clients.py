"""Queries on clients. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Client, ConversationMessage, Delivery, Enrolment, Escalation
from aftercare_bot.db.repositories.deliveries import OPEN_STATES as OPEN_DELIVERY_STATES
from aftercare_bot.db.repositories.escalations import OPEN_STATES as OPEN_CASE_STATES


async def by_telegram_id(session: AsyncSession, telegram_user_id: int) -> Client | None:
    return await session.scalar(select(Client).where(Client.telegram_user_id == telegram_user_id))


async def by_telegram_id_for_update(session: AsyncSession, telegram_user_id: int) -> Client | None:
    """As by_telegram_id, with the row locked for the rest of the transaction."""
    return await session.scalar(
        select(Client).where(Client.telegram_user_id == telegram_user_id).with_for_update()
    )


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


async def finished_before(session: AsyncSession, *, before: datetime, limit: int) -> list[int]:
    """Telegram ids of up to `limit` clients (the oldest first) whose plans are all over and with nothing
    happening since `before`: no message, no delivery open or sent or answered, no plan started or ended, no case
    open or opened or resolved."""
    recent_message = exists().where(ConversationMessage.client_id == Client.id, ConversationMessage.at >= before)
    open_or_recent_delivery = exists().where(
        Delivery.client_id == Client.id,
        or_(Delivery.state.in_(OPEN_DELIVERY_STATES), Delivery.sent_at >= before, Delivery.answered_at >= before),
    )
    recent_plan = exists().where(
        Enrolment.client_id == Client.id, or_(Enrolment.created_at >= before, Enrolment.ended_at >= before)
    )
    open_or_recent_case = exists().where(
        Escalation.client_id == Client.id,
        or_(Escalation.state.in_(OPEN_CASE_STATES), Escalation.created_at >= before,
            Escalation.resolved_at >= before),
    )
    rows = await session.scalars(
        select(Client.telegram_user_id)
        .where(Client.created_at < before, Client.updated_at < before)
        .where(~recent_message, ~open_or_recent_delivery, ~recent_plan, ~open_or_recent_case)
        .order_by(Client.id)
        .limit(limit)
    )
    return list(rows)


async def delete_by_id(session: AsyncSession, client_id: int) -> None:
    await session.execute(delete(Client).where(Client.id == client_id))
