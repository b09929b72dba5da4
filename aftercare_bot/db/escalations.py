"""Queries on escalations and their posts in staff chats. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Escalation, EscalationPost, EscalationState

OPEN_STATES = (EscalationState.OPEN, EscalationState.CLAIMED)
CARD = "card"
CONFIRM = "confirm"  # the bot confirming a staff reply; a reply to it reaches the client too


async def get(session: AsyncSession, escalation_id: int, *, for_update: bool = False) -> Escalation | None:
    return await session.get(Escalation, escalation_id, with_for_update=for_update or None)


async def open_for_client(session: AsyncSession, client_id: int) -> Escalation | None:
    """The client's escalation that is not resolved yet (the newest, should there ever be two)."""
    return await session.scalar(
        select(Escalation)
        .where(Escalation.client_id == client_id, Escalation.state.in_(OPEN_STATES))
        .order_by(Escalation.id.desc())
        .limit(1)
    )


async def all_open(session: AsyncSession) -> Sequence[Escalation]:
    rows = await session.scalars(
        select(Escalation).where(Escalation.state.in_(OPEN_STATES)).order_by(Escalation.created_at, Escalation.id)
    )
    return rows.all()


async def set_card(session: AsyncSession, escalation_id: int, *, chat_id: int, message_id: int) -> None:
    """Remember where the case's card is, unless a card of it was recorded before."""
    await session.execute(
        update(Escalation)
        .where(Escalation.id == escalation_id, Escalation.card_message_id.is_(None))
        .values(card_chat_id=chat_id, card_message_id=message_id)
    )


async def add_post(
    session: AsyncSession, *, escalation_id: int, chat_id: int, message_id: int, role: str, now: datetime
) -> None:
    """Remember a bot post as the case's. A post known already is left as it is: the write may be a repeat after
    a commit whose answer was lost."""
    upsert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.execute(
        upsert(EscalationPost)
        .values(escalation_id=escalation_id, chat_id=chat_id, message_id=message_id, role=role, created_at=now)
        .on_conflict_do_nothing(index_elements=[EscalationPost.chat_id, EscalationPost.message_id])
    )


async def post_at(session: AsyncSession, chat_id: int, message_id: int) -> EscalationPost | None:
    return await session.scalar(
        select(EscalationPost).where(EscalationPost.chat_id == chat_id, EscalationPost.message_id == message_id)
    )


async def cards(session: AsyncSession, escalation_id: int) -> dict[int, int]:
    """chat id -> message id of the escalation's card in each staff chat it was posted to."""
    rows = await session.execute(
        select(EscalationPost.chat_id, EscalationPost.message_id)
        .where(EscalationPost.escalation_id == escalation_id, EscalationPost.role == CARD)
        .order_by(EscalationPost.id)
    )
    found: dict[int, int] = {}
    for chat_id, message_id in rows:
        found.setdefault(chat_id, message_id)
    return found
