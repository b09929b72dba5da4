"""The audit trail: who did what and when. Callers own the transaction; an event is written when recorded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
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
    """When the latest event of this action happened, if one ever did."""
    return await session.scalar(select(func.max(AuditEvent.at)).where(AuditEvent.action == action))


async def unlink_events_about(
    session: AsyncSession, *, telegram_user_id: int, client_id: int | None, escalation_ids: Sequence[int],
    except_action: str,
) -> None:
    """Events done by the person, about the client or about these cases (except those of `except_action`) lose
    their client, their case and their detail."""
    refers = [AuditEvent.actor_id == telegram_user_id]
    if client_id is not None:
        refers.append(AuditEvent.client_id == client_id)
    if escalation_ids:
        refers.append(AuditEvent.escalation_id.in_(escalation_ids))
    await session.execute(
        update(AuditEvent).where(or_(*refers)).where(AuditEvent.action != except_action)
        .values(client_id=None, escalation_id=None, detail={})
    )


async def unlink_actor(session: AsyncSession, telegram_user_id: int) -> None:
    """Events done by this person no longer say who did them."""
    await session.execute(update(AuditEvent).where(AuditEvent.actor_id == telegram_user_id).values(actor_id=None))
