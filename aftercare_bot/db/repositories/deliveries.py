"""Queries on scheduled plan messages. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Client, Delivery, DeliveryState, Enrolment, EnrolmentState

OPEN_STATES = (DeliveryState.PENDING, DeliveryState.SENDING)  # not gone out yet, nor given up
_TABLE = Delivery.__table__
_ENROLMENTS = Enrolment.__table__
_CLIENTS = Client.__table__
# Chats left out of a claim by the query itself; beyond this many they are left out after the claim instead.
_MAX_SKIPPED_CHATS = 500

ClaimedRow = Row[Any]


def _of_enrolment(column: Any, label: str) -> Any:
    return select(column).where(_ENROLMENTS.c.id == _TABLE.c.enrolment_id).scalar_subquery().label(label)


def _of_client(column: Any, label: str) -> Any:
    return select(column).where(_CLIENTS.c.id == _TABLE.c.client_id).scalar_subquery().label(label)


# What the dispatcher reads from a claimed row, with what composing it needs from its enrolment and client:
# plain rows, which cost a fraction of ORM objects to load, in the one statement that claims them.
_CLAIMED_COLUMNS = (
    *(_TABLE.c[name] for name in (
        "id", "ref", "enrolment_id", "client_id", "chat_id", "step_key", "send_at", "expires_at", "attempts",
        "checkin",
    )),
    _of_enrolment(_ENROLMENTS.c.state, "enrolment_state"),
    _of_enrolment(_ENROLMENTS.c.treatment, "treatment"),
    _of_enrolment(_ENROLMENTS.c.language, "language"),
    _of_enrolment(_ENROLMENTS.c.session_at, "session_at"),
    _of_client(_CLIENTS.c.name, "client_name"),
    _of_client(_CLIENTS.c.first_name, "first_name"),
)


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


def enrolment_of(row: ClaimedRow) -> EnrolmentForSending | None:
    """The enrolment and client that came with a claimed row; None if they are gone."""
    if row.enrolment_state is None or row.client_name is None:
        return None
    return EnrolmentForSending(
        row.enrolment_id, row.enrolment_state, row.treatment, row.language, row.session_at,
        ClientNames(row.client_id, row.client_name, row.first_name),
    )


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


async def release_stale_claims(session: AsyncSession, *, claimed_before: datetime) -> int:
    """Return rows whose sender died mid-flight to the queue; such a message may go out twice at most."""
    result = await session.execute(
        update(_TABLE)
        # The literal lets the partial index of rows being sent serve the query (a parameter would not).
        .where(_TABLE.c.state == literal(DeliveryState.SENDING.value, literal_execute=True),
               _TABLE.c.claimed_at < claimed_before)
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


async def count_due(session: AsyncSession, *, now: datetime) -> int | None:
    """How many pending rows are due to be sent by `now`."""
    return await session.scalar(
        select(func.count(Delivery.id)).where(Delivery.state == DeliveryState.PENDING, Delivery.send_at <= now)
    )


async def next_send_at(session: AsyncSession) -> datetime | None:
    return await session.scalar(
        select(func.min(Delivery.send_at)).where(Delivery.state == DeliveryState.PENDING)
    )


async def mark_many(session: AsyncSession, rows: Sequence[dict[str, object]], *, owner: str) -> None:
    """New values for several rows `owner` is sending: each dict holds a row's `id` and its new values. Rows that
    change the same columns are written with one executemany.

    A row is changed only while it is still being sent by `owner`, and one another replica took over once the
    send lease ran out is left to it. A row cancelled meanwhile (the client stopped, say) stays cancelled
    unless the message went out: then it is recorded as sent, since the client has it.

    A plain table UPDATE: the ORM's bulk update by primary key costs several times more per row.
    """
    groups: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for row in rows:
        groups.setdefault(tuple(name for name in row if name != "id"), []).append(row)
    for columns, group in groups.items():
        sent = all(row["state"] == DeliveryState.SENT for row in group)
        states = [DeliveryState.SENDING, DeliveryState.CANCELLED] if sent else [DeliveryState.SENDING]
        statement = (
            update(_TABLE)
            # or_ rather than in_: an expanding IN cannot go into an executemany.
            .where(_TABLE.c.id == bindparam("row_id"), or_(*(_TABLE.c.state == state for state in states)),
                   _TABLE.c.claimed_by == bindparam("owner"))
            .values({name: bindparam(f"new_{name}") for name in columns})
        )
        await session.execute(statement, [
            {"row_id": row["id"], "owner": owner, **{f"new_{name}": row[name] for name in columns}} for row in group
        ])


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


async def for_enrolments(session: AsyncSession, enrolment_ids: Sequence[int]) -> Sequence[Delivery]:
    rows = await session.scalars(select(Delivery).where(Delivery.enrolment_id.in_(enrolment_ids)))
    return rows.all()


async def cancel_pending(session: AsyncSession, delivery_ids: Sequence[int], reason: str) -> int:
    """Cancel those of these rows still pending (one being sent is left to go); how many were."""
    result = await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids), Delivery.state == DeliveryState.PENDING)
        .values(state=DeliveryState.CANCELLED, last_error=reason)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def move_pending(
    session: AsyncSession, delivery_id: int, *, due_at: datetime, send_at: datetime, expires_at: datetime,
    quiet_held: bool, skip_reason: str | None = None,
) -> bool:
    """New times for a row still pending (with `skip_reason`, it is skipped instead); False if it was not."""
    values: dict[str, object] = {"due_at": due_at, "send_at": send_at, "expires_at": expires_at,
                                 "quiet_held": quiet_held}
    if skip_reason is not None:
        values.update(state=DeliveryState.SKIPPED, last_error=skip_reason)
    result = await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == DeliveryState.PENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


async def set_checkin_pending(session: AsyncSession, delivery_ids: Sequence[int], checkin: bool) -> None:
    """Turn the check-in question on or off in those of these rows still pending."""
    await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids), Delivery.state == DeliveryState.PENDING)
        .values(checkin=checkin)
        .execution_options(synchronize_session=False)
    )


async def record_answer(session: AsyncSession, delivery_id: int, answer: str, *, now: datetime) -> bool:
    """The check-in answer, unless one is recorded already (a double press, or two replicas); whether it was."""
    result = await session.execute(
        update(Delivery).where(Delivery.id == delivery_id, Delivery.answer.is_(None))
        .values(answer=answer, answered_at=now)
    )
    return bool(result.rowcount)


async def get(session: AsyncSession, delivery_id: int) -> Delivery | None:
    return await session.get(Delivery, delivery_id)


async def all_for_client(session: AsyncSession, client_id: int) -> Sequence[Delivery]:
    """Every row of the client's plans, in the order they are (or were) to be sent."""
    rows = await session.scalars(
        select(Delivery).where(Delivery.client_id == client_id).order_by(Delivery.send_at, Delivery.id)
    )
    return rows.all()


async def checkin_ids_for_enrolments(session: AsyncSession, enrolment_ids: Sequence[int]) -> Sequence[int]:
    """The ids of these enrolments' rows that ask a check-in question."""
    rows = await session.scalars(
        select(Delivery.id).where(Delivery.enrolment_id.in_(enrolment_ids), Delivery.checkin.is_(True))
    )
    return rows.all()


async def delete_of_client(session: AsyncSession, client_id: int) -> None:
    await session.execute(delete(Delivery).where(Delivery.client_id == client_id))


async def count_waiting(session: AsyncSession, treatment: str, step_key: str) -> int:
    """Messages of one step not sent yet, for clients still following the plan: they get a text saved now."""
    return await session.scalar(
        select(func.count()).select_from(Delivery).join(Enrolment, Enrolment.id == Delivery.enrolment_id).where(
            Enrolment.treatment == treatment, Enrolment.state == EnrolmentState.ACTIVE,
            Delivery.step_key == step_key, Delivery.state.in_((DeliveryState.PENDING, DeliveryState.SENDING)),
        )
    ) or 0
