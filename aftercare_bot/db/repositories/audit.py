"""The audit trail: who did what and when. Callers own the transaction; an event is written when recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import AuditEvent
from aftercare_bot.db.repositories import inserts


async def record(
    session: AsyncSession,
    *,
    now: datetime,
    action: str,
    actor_id: int | None = None,
    client_id: int | None = None,
    escalation_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await inserts.add_all(session, [AuditEvent(
        at=now, action=action, actor_id=actor_id, client_id=client_id, escalation_id=escalation_id,
        detail=detail or {},
    )])


async def last_at(session: AsyncSession, action: str) -> datetime | None:
    """When this action was last recorded."""
    return await session.scalar(select(func.max(AuditEvent.at)).where(AuditEvent.action == action))
