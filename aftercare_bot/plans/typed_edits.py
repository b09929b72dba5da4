"""Edits typed over several messages: where each one stands lives in the database, so that whichever replica
receives the admin's next message takes it up, and a restart in between loses nothing.

One edit per admin and chat; starting another replaces it. An edit left alone for EDIT_TIMEOUT ends: the
admin's next message is told so once (the draft itself is not kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aftercare_bot.db.repositories import admin_edits

EDIT_TIMEOUT = timedelta(minutes=15)


@dataclass(frozen=True)
class TypedEdit:
    question: str  # the name of the question waiting for an answer
    draft: dict[str, Any]  # what the admin chose and typed so far
    expired: bool = False


async def begin(
    session_factory: async_sessionmaker[AsyncSession],
    *, user_id: int, chat_id: int, question: str, draft: dict[str, Any], now: datetime,
) -> None:
    async with session_factory.begin() as session:
        await admin_edits.end_expired(session, now=now)  # the few edits left unfinished by anyone
        await admin_edits.put(session, user_id=user_id, chat_id=chat_id, question=question, draft=draft, now=now,
                              expires_at=now + EDIT_TIMEOUT, started=True)


async def advance(
    session_factory: async_sessionmaker[AsyncSession],
    *, user_id: int, chat_id: int, question: str, draft: dict[str, Any], now: datetime,
) -> None:
    """The next question is asked: the clock of the edit starts again."""
    async with session_factory.begin() as session:
        await admin_edits.put(session, user_id=user_id, chat_id=chat_id, question=question, draft=draft, now=now,
                              expires_at=now + EDIT_TIMEOUT, started=False)


async def current(
    session_factory: async_sessionmaker[AsyncSession], *, user_id: int, chat_id: int, now: datetime
) -> TypedEdit | None:
    """The edit waiting for this admin's message; an expired one is ended and returned once as `expired`."""
    async with session_factory() as session:
        row = await admin_edits.get(session, user_id, chat_id)
        if row is None:
            return None
        edit = TypedEdit(row.question, dict(row.draft), expired=row.expires_at <= now)
    if edit.expired and not await end(session_factory, user_id=user_id, chat_id=chat_id):
        return None  # another replica told the admin already
    return edit


async def end(session_factory: async_sessionmaker[AsyncSession], *, user_id: int, chat_id: int) -> bool:
    """False when there was no edit to end."""
    async with session_factory.begin() as session:
        return await admin_edits.end(session, user_id, chat_id)
