"""Edits admins are typing, one per admin and chat. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import AdminEdit


async def get(session: AsyncSession, user_id: int, chat_id: int) -> AdminEdit | None:
    return await session.get(AdminEdit, (user_id, chat_id))


async def put(
    session: AsyncSession,
    *,
    user_id: int,
    chat_id: int,
    question: str,
    draft: dict[str, Any],
    now: datetime,
    expires_at: datetime,
    started: bool,
) -> None:
    """Start an edit (replacing one left unfinished) or move it to its next question (`started`=False)."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    table = AdminEdit.__table__
    statement = dialect.insert(table).values(
        user_id=user_id, chat_id=chat_id, question=question, draft=draft, started_at=now, expires_at=expires_at
    )
    values = {"question": statement.excluded.question, "draft": statement.excluded.draft,
              "expires_at": statement.excluded.expires_at}
    if started:
        values["started_at"] = statement.excluded.started_at
    await session.execute(statement.on_conflict_do_update(
        index_elements=[table.c.user_id, table.c.chat_id], set_=values
    ))


async def end(session: AsyncSession, user_id: int, chat_id: int) -> bool:
    """Forget the edit; False when there was none (already finished, perhaps on another replica)."""
    result = await session.execute(
        delete(AdminEdit).where(AdminEdit.user_id == user_id, AdminEdit.chat_id == chat_id)
    )
    return (result.rowcount or 0) > 0


async def end_all_of(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(AdminEdit).where(AdminEdit.user_id == user_id))


async def end_expired(session: AsyncSession, *, now: datetime) -> int:
    result = await session.execute(delete(AdminEdit).where(AdminEdit.expires_at < now))
    return result.rowcount or 0
