"""Queries on the conversation between clients and the clinic. Callers own the transaction; nothing commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import ConversationMessage

IN = "in"
OUT = "out"
EDIT = "edit"  # the kind of an edited text message


async def add(session: AsyncSession, message: ConversationMessage) -> ConversationMessage:
    session.add(message)
    await session.flush()
    return message


async def already_received(
    session: AsyncSession, client_id: int, *, telegram_message_id: int, kind: str, text: str | None
) -> bool:
    """Whether this client message (or this very edit of it) is stored already: Telegram may deliver it twice."""
    found = await session.scalar(
        select(ConversationMessage.id).where(
            ConversationMessage.client_id == client_id,
            ConversationMessage.direction == IN,
            ConversationMessage.telegram_message_id == telegram_message_id,
            ConversationMessage.kind == kind,
            ConversationMessage.text.is_not_distinct_from(text),
        ).limit(1)
    )
    return found is not None


async def recent_for_client(session: AsyncSession, client_id: int, limit: int = 10) -> list[ConversationMessage]:
    """The last `limit` entries, oldest first."""
    rows = await session.scalars(
        select(ConversationMessage)
        .where(ConversationMessage.client_id == client_id)
        .order_by(ConversationMessage.at.desc(), ConversationMessage.id.desc())
        .limit(limit)
    )
    return list(reversed(rows.all()))


async def last_out_at(session: AsyncSession, client_id: int, kinds: Sequence[str]) -> datetime | None:
    return await session.scalar(
        select(func.max(ConversationMessage.at)).where(
            ConversationMessage.client_id == client_id,
            ConversationMessage.direction == OUT,
            ConversationMessage.kind.in_(kinds),
        )
    )


async def first_of_escalation(session: AsyncSession, escalation_id: int) -> ConversationMessage | None:
    """The client message that opened the escalation."""
    return await session.scalar(
        select(ConversationMessage)
        .where(ConversationMessage.escalation_id == escalation_id, ConversationMessage.direction == IN)
        .order_by(ConversationMessage.id)
        .limit(1)
    )


async def has_out(session: AsyncSession, escalation_id: int, kind: str) -> bool:
    """Whether the client was sent (or is about to be sent) a message of this kind about the case."""
    found = await session.scalar(
        select(ConversationMessage.id).where(
            ConversationMessage.escalation_id == escalation_id,
            ConversationMessage.direction == OUT,
            ConversationMessage.kind == kind,
        ).limit(1)
    )
    return found is not None


async def last_in_at(session: AsyncSession, client_id: int) -> datetime | None:
    """When the client last wrote (or pressed an answer button)."""
    return await session.scalar(
        select(func.max(ConversationMessage.at)).where(
            ConversationMessage.client_id == client_id, ConversationMessage.direction == IN
        )
    )
