"""Queries on scheduled plan messages. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Delivery, DeliveryState


async def claim_due(session: AsyncSession, *, now: datetime, limit: int, owner: str) -> Sequence[Delivery]:
    """Atomically move due rows to SENDING so that exactly one replica handles each.

    On PostgreSQL the row locks are taken with SKIP LOCKED, so concurrent replicas pick disjoint rows
    instead of waiting on each other; SQLite serialises writers, which gives the same guarantee.
    The due rows are chosen in a CTE: as `id IN (subquery)` PostgreSQL may run the subquery once per
    candidate row, and then claims every due row instead of `limit`.
    """
    due = (
        select(Delivery.id)
        .where(Delivery.state == DeliveryState.PENDING, Delivery.send_at <= now)
        .order_by(Delivery.send_at, Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    claimed = await session.scalars(
        update(Delivery)
        .where(Delivery.id == due.c.id, Delivery.state == DeliveryState.PENDING)
        .values(state=DeliveryState.SENDING, claimed_at=now, claimed_by=owner, attempts=Delivery.attempts + 1)
        .returning(Delivery),
        execution_options={"synchronize_session": False},
    )
    return sorted(claimed.all(), key=lambda d: (d.send_at, d.id))


async def release_stale_claims(session: AsyncSession, *, claimed_before: datetime) -> int:
    """Return rows whose sender died mid-flight to the queue; such a message may go out twice at most."""
    result = await session.execute(
        update(Delivery)
        .where(Delivery.state == DeliveryState.SENDING, Delivery.claimed_at < claimed_before)
        .values(state=DeliveryState.PENDING, claimed_at=None, claimed_by=None)
    )
    return result.rowcount or 0


async def unclaim(session: AsyncSession, delivery_ids: Sequence[int]) -> None:
    """Put rows just claimed back in the queue, as if they had not been claimed."""
    await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids), Delivery.state == DeliveryState.SENDING)
        .values(state=DeliveryState.PENDING, claimed_at=None, claimed_by=None, attempts=Delivery.attempts - 1)
    )


async def next_send_at(session: AsyncSession) -> datetime | None:
    return await session.scalar(
        select(func.min(Delivery.send_at)).where(Delivery.state == DeliveryState.PENDING)
    )


async def mark(session: AsyncSession, delivery_id: int, state: DeliveryState, **values: object) -> None:
    await session.execute(
        update(Delivery).where(Delivery.id == delivery_id).values(state=state, **values)
    )


async def mark_many(session: AsyncSession, rows: Sequence[dict[str, object]]) -> None:
    """Several rows in one executemany: each dict holds the row's `id` and its new values (the same keys).

    A plain table UPDATE: the ORM's bulk update by primary key costs several times more per row.
    """
    if not rows:
        return
    table = Delivery.__table__
    columns = [name for name in rows[0] if name != "id"]
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({name: bindparam(f"new_{name}") for name in columns})
    )
    await session.execute(
        statement, [{"row_id": row["id"], **{f"new_{name}": row[name] for name in columns}} for row in rows]
    )


async def cancel_pending_for_enrolment(session: AsyncSession, enrolment_id: int, reason: str) -> int:
    result = await session.execute(
        update(Delivery)
        .where(Delivery.enrolment_id == enrolment_id, Delivery.state == DeliveryState.PENDING)
        .values(state=DeliveryState.CANCELLED, last_error=reason)
    )
    return result.rowcount or 0


async def cancel_open_for_client(session: AsyncSession, client_id: int, reason: str) -> int:
    """Cancel what has not gone out yet, including a row another task is sending right now."""
    result = await session.execute(
        update(Delivery)
        .where(
            Delivery.client_id == client_id,
            Delivery.state.in_([DeliveryState.PENDING, DeliveryState.SENDING]),
        )
        .values(state=DeliveryState.CANCELLED, last_error=reason, claimed_at=None)
    )
    return result.rowcount or 0


async def for_enrolment(session: AsyncSession, enrolment_id: int) -> Sequence[Delivery]:
    rows = await session.scalars(
        select(Delivery).where(Delivery.enrolment_id == enrolment_id).order_by(Delivery.due_at, Delivery.id)
    )
    return rows.all()


async def get(session: AsyncSession, delivery_id: int) -> Delivery | None:
    return await session.get(Delivery, delivery_id)
