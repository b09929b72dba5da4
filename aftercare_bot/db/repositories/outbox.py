"""Queries on the outbox (messages kept until Telegram has them). Callers own the transaction; nothing here commits.

The outbox is on every answer's path: its busy statements are built once (see db.inserts).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import OutboxMessage

_OUTBOX: Table = OutboxMessage.__table__  # type: ignore[assignment]
_EARLIER = (
    select(_OUTBOX.c.id)
    .where(_OUTBOX.c.chat_id == bindparam("chat_id"), _OUTBOX.c.id < bindparam("message_id"))
    .limit(1)
)
_OLDEST = (
    select(_OUTBOX.c.chat_id, func.min(_OUTBOX.c.id))
    .where(_OUTBOX.c.chat_id.in_(bindparam("chat_ids", expanding=True)))
    .group_by(_OUTBOX.c.chat_id)
)
_SENT = delete(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))


async def has_earlier(session: AsyncSession, *, chat_id: int, message_id: int) -> bool:
    """Whether a message queued before `message_id` for the same chat is still queued."""
    return await session.scalar(_EARLIER, {"chat_id": chat_id, "message_id": message_id}) is not None


async def oldest_ids(session: AsyncSession, chat_ids: Sequence[int]) -> dict[int, int]:
    """The id of the oldest message queued for each of these chats (that has one), by chat."""
    rows = await session.execute(_OLDEST, {"chat_ids": chat_ids})
    return {chat_id: first for chat_id, first in rows}


async def oldest_of_chat(session: AsyncSession, chat_id: int) -> OutboxMessage | None:
    return await session.scalar(
        select(OutboxMessage).where(OutboxMessage.chat_id == chat_id).order_by(OutboxMessage.id).limit(1)
    )


async def oldest_id_before(session: AsyncSession, *, chat_id: int, message_id: int) -> int | None:
    """The oldest message still queued for the chat before `message_id`, if any."""
    return await session.scalar(
        select(OutboxMessage.id)
        .where(OutboxMessage.chat_id == chat_id, OutboxMessage.id < message_id)
        .order_by(OutboxMessage.id)
        .limit(1)
    )


async def record_attempt(
    session: AsyncSession, message_id: int, *, attempts: int, last_error: str, not_before: datetime | None
) -> None:
    """A try that must be repeated later: how many so far, what went wrong, and not before when to try again."""
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(
        attempts=attempts, last_error=last_error, not_before=not_before,
    ))


async def remove(session: AsyncSession, message_id: int) -> None:
    await session.execute(delete(OutboxMessage).where(OutboxMessage.id == message_id))


async def remove_many(session: AsyncSession, message_ids: Sequence[int]) -> None:
    """Off the queue, in one statement whatever their number."""
    await session.execute(_SENT, {"ids": message_ids})


async def delete_of_client(session: AsyncSession, client_id: int) -> None:
    """Messages still queued for or about the client."""
    await session.execute(delete(OutboxMessage).where(OutboxMessage.client_id == client_id))
