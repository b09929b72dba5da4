"""Queries on scheduled plan messages. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Client, Delivery, DeliveryState, Enrolment

_TABLE = Delivery.__table__
# What the dispatcher reads from a claimed row: plain rows, which cost a fraction of ORM objects to load.
_CLAIMED_COLUMNS = tuple(
    _TABLE.c[name] for name in (
        "id", "enrolment_id", "client_id", "chat_id", "step_key", "send_at", "expires_at", "attempts", "checkin"
    )
)
# Chats left out of a claim by the query itself; beyond this many they are left out after the claim instead.
_MAX_SKIPPED_CHATS = 500

ClaimedRow = Row[Any]


@dataclass(frozen=True, slots=True)
class ClientNames:
    id: int
    name: str
    first_name: str


@dataclass(frozen=True, slots=True)
class EnrolmentForSending:
    """What sending a claimed row needs from its enrolment and client."""

    id: int
    state: str
    treatment: str
    language: str
    session_at: datetime
    client: ClientNames


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int, owner: str, skip_chats: Collection[int] = ()
) -> Sequence[ClaimedRow]:
    """Atomically move due rows to SENDING so that exactly one replica handles each; oldest first.

    On PostgreSQL the row locks are taken with SKIP LOCKED, so concurrent replicas pick disjoint rows
    instead of waiting on each other; SQLite serialises writers, which gives the same guarantee.
    The due rows are chosen in a CTE: as `id IN (subquery)` PostgreSQL may run the subquery once per
    candidate row, and then claims every due row instead of `limit`. Rows for `skip_chats` (chats the
    caller is still sending to) are not taken, so that a chat's messages go out one after the other.
    """
    conditions = [_TABLE.c.state == DeliveryState.PENDING, _TABLE.c.send_at <= now]
    if skip_chats and len(skip_chats) <= _MAX_SKIPPED_CHATS:
        conditions.append(_TABLE.c.chat_id.not_in(list(skip_chats)))
    due = (
        select(_TABLE.c.id)
        .where(*conditions)
        .order_by(_TABLE.c.send_at, _TABLE.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    claimed = await session.execute(
        update(_TABLE)
        .where(_TABLE.c.id == due.c.id, _TABLE.c.state == DeliveryState.PENDING)
        .values(state=DeliveryState.SENDING, claimed_at=now, claimed_by=owner, attempts=_TABLE.c.attempts + 1)
        .returning(*_CLAIMED_COLUMNS)
    )
    return sorted(claimed.all(), key=lambda row: (row.send_at, row.id))


async def enrolments_for_sending(
    session: AsyncSession, enrolment_ids: Collection[int]
) -> dict[int, EnrolmentForSending]:
    """The enrolments of claimed rows with their clients' names, in one query."""
    if not enrolment_ids:
        return {}
    rows = await session.execute(
        select(
            Enrolment.id, Enrolment.state, Enrolment.treatment, Enrolment.language, Enrolment.session_at,
            Client.id, Client.name, Client.first_name,
        )
        .join(Client, Client.id == Enrolment.client_id)
        .where(Enrolment.id.in_(list(enrolment_ids)))
    )
    return {
        enrolment_id: EnrolmentForSending(
            enrolment_id, state, treatment, language, session_at, ClientNames(client_id, name, first_name)
        )
        for enrolment_id, state, treatment, language, session_at, client_id, name, first_name in rows
    }


async def release_stale_claims(session: AsyncSession, *, claimed_before: datetime) -> int:
    """Return rows whose sender died mid-flight to the queue; such a message may go out twice at most."""
    result = await session.execute(
        update(_TABLE)
        .where(_TABLE.c.state == DeliveryState.SENDING, _TABLE.c.claimed_at < claimed_before)
        .values(state=DeliveryState.PENDING, claimed_at=None, claimed_by=None)
    )
    return result.rowcount or 0


async def unclaim(session: AsyncSession, delivery_ids: Sequence[int]) -> None:
    """Put rows just claimed back in the queue, as if they had not been claimed."""
    await session.execute(
        update(_TABLE)
        .where(_TABLE.c.id.in_(list(delivery_ids)), _TABLE.c.state == DeliveryState.SENDING)
        .values(state=DeliveryState.PENDING, claimed_at=None, claimed_by=None, attempts=_TABLE.c.attempts - 1)
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
    """New values for several rows: each dict holds a row's `id` and its new values. Rows that change the
    same columns are written with one executemany.

    A plain table UPDATE: the ORM's bulk update by primary key costs several times more per row.
    """
    groups: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for row in rows:
        groups.setdefault(tuple(name for name in row if name != "id"), []).append(row)
    for columns, group in groups.items():
        statement = (
            update(_TABLE)
            .where(_TABLE.c.id == bindparam("row_id"))
            .values({name: bindparam(f"new_{name}") for name in columns})
        )
        await session.execute(
            statement, [{"row_id": row["id"], **{f"new_{name}": row[name] for name in columns}} for row in group]
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
