"""Durable timers. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Table, and_, bindparam, case, delete, func, insert, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import OutboxMessage, Timer, TimerState
from aftercare_bot.db.repositories import inserts

_TIMERS: Table = Timer.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class NewTimer:
    kind: str
    subject_id: int
    due_at: datetime
    # Taken by the process that schedules it, as claim_one() would, to act on it right after the commit: nobody
    # else fires it meanwhile, and should that process die first, release_stale() returns it after the lease.
    claimed: bool = False


async def schedule(
    session: AsyncSession, *, kind: str, subject_id: int, due_at: datetime, now: datetime, claimed: bool = False
) -> Timer:
    return await inserts.add(session, Timer(
        kind=kind, subject_id=subject_id, due_at=due_at, created_at=now,
        state=TimerState.RUNNING if claimed else TimerState.PENDING, claimed_at=now if claimed else None,
    ))


async def schedule_all(session: AsyncSession, new: Sequence[NewTimer], *, now: datetime) -> dict[tuple[str, int], int]:
    """Several timers in one statement; their ids by (kind, subject id)."""
    if not new:
        return {}
    rows = await session.execute(_INSERT_RETURNING_KEYS, [
        {"kind": timer.kind, "subject_id": timer.subject_id, "due_at": timer.due_at, "created_at": now,
         "state": TimerState.RUNNING if timer.claimed else TimerState.PENDING,
         "claimed_at": now if timer.claimed else None}
        for timer in new
    ])
    return {(kind, subject_id): timer_id for kind, subject_id, timer_id in rows}


# Built once (see db.inserts). The table rather than the entity, and not sort_by_parameter_order: either would
# cost a statement per row.
_INSERT_RETURNING_KEYS = insert(_TIMERS).returning(_TIMERS.c.kind, _TIMERS.c.subject_id, _TIMERS.c.id)
_FINISH = update(_TIMERS).where(_TIMERS.c.id == bindparam("timer_id")).values(state=TimerState.DONE)
_FINISH_ALL = (
    update(_TIMERS).where(_TIMERS.c.id.in_(bindparam("timer_ids", expanding=True))).values(state=TimerState.DONE)
)
_RETRY_AT = (
    update(_TIMERS).where(_TIMERS.c.id == bindparam("timer_id"))
    .values(state=TimerState.PENDING, due_at=bindparam("due_at"), claimed_at=None)
)


async def schedule_many(
    session: AsyncSession, *, kind: str, subject_ids: Sequence[int], due_at: datetime, now: datetime
) -> None:
    """One timer per subject, in one statement."""
    if subject_ids:
        await session.execute(insert(Timer), [
            {"kind": kind, "subject_id": subject_id, "due_at": due_at, "created_at": now,
             "state": TimerState.PENDING}
            for subject_id in subject_ids
        ])


async def cancel(session: AsyncSession, *, subject_id: int, kinds: Sequence[str]) -> int:
    result = await session.execute(
        update(Timer)
        .where(Timer.subject_id == subject_id, Timer.kind.in_(kinds), Timer.state == TimerState.PENDING)
        .values(state=TimerState.CANCELLED)
    )
    return result.rowcount or 0


@dataclass(frozen=True)
class StaffLane:
    """Which timers are the staff chats' work: these kinds, and the outbox kind's whose message goes to one of
    these chats. `staff`: the staff lane's timers, or (False) every other timer."""

    kinds: frozenset[str]
    outbox_kind: str
    chats: tuple[int, ...]
    staff: bool = True
    first_kinds: frozenset[str] = frozenset()  # claimed before the others that are due

    def condition(self) -> ColumnElement[bool]:
        staff_outbox = select(OutboxMessage.id).where(OutboxMessage.chat_id.in_(self.chats))
        is_staff = or_(Timer.kind.in_(self.kinds),
                       and_(Timer.kind == self.outbox_kind, Timer.subject_id.in_(staff_outbox)))
        return is_staff if self.staff else not_(is_staff)


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int, lane: StaffLane | None = None
) -> Sequence[Timer]:
    """Atomically take due timers so that exactly one replica fires each (see deliveries.claim_due); with `lane`,
    only that lane's."""
    conditions = [Timer.state == TimerState.PENDING, Timer.due_at <= now]
    order = [Timer.due_at, Timer.id]
    if lane is not None:
        conditions.append(lane.condition())
        if lane.first_kinds:
            order.insert(0, case((Timer.kind.in_(lane.first_kinds), 0), else_=1))
    due = (
        select(Timer.id)
        .where(*conditions)
        .order_by(*order)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    claimed = await session.scalars(
        update(Timer)
        .where(Timer.id == due.c.id, Timer.state == TimerState.PENDING)
        .values(state=TimerState.RUNNING, claimed_at=now)
        .returning(Timer),
        execution_options={"synchronize_session": False},
    )
    first = lane.first_kinds if lane is not None else frozenset()
    return sorted(claimed.all(), key=lambda t: (t.kind not in first, t.due_at, t.id))


async def count_due(session: AsyncSession, *, now: datetime, lane: StaffLane | None = None) -> int:
    conditions = [Timer.state == TimerState.PENDING, Timer.due_at <= now]
    if lane is not None:
        conditions.append(lane.condition())
    return await session.scalar(select(func.count()).select_from(Timer).where(*conditions)) or 0


async def release_stale(session: AsyncSession, *, claimed_before: datetime) -> int:
    result = await session.execute(
        update(Timer)
        .where(Timer.state == TimerState.RUNNING, Timer.claimed_at < claimed_before)
        .values(state=TimerState.PENDING, claimed_at=None)
    )
    return result.rowcount or 0


async def finish(session: AsyncSession, timer_id: int) -> None:
    await session.execute(_FINISH, {"timer_id": timer_id})


async def finish_all(session: AsyncSession, timer_ids: Sequence[int]) -> None:
    if timer_ids:
        await session.execute(_FINISH_ALL, {"timer_ids": list(timer_ids)})


async def next_due_at(session: AsyncSession, *, except_kinds: Sequence[str] = ()) -> datetime | None:
    query = select(func.min(Timer.due_at)).where(Timer.state == TimerState.PENDING)
    if except_kinds:
        query = query.where(Timer.kind.not_in(except_kinds))
    return await session.scalar(query)


async def claim_one(session: AsyncSession, timer_id: int, *, now: datetime) -> bool:
    """Take one particular pending timer, e.g. to act on it at once instead of waiting for the next pass."""
    result = await session.execute(
        update(Timer)
        .where(Timer.id == timer_id, Timer.state == TimerState.PENDING)
        .values(state=TimerState.RUNNING, claimed_at=now)
    )
    return bool(result.rowcount)


async def retry_at(session: AsyncSession, timer_id: int, due_at: datetime) -> None:
    """Put a claimed timer back in the queue for a later attempt."""
    await session.execute(_RETRY_AT, {"timer_id": timer_id, "due_at": due_at})


async def newest_live(session: AsyncSession, *, kind: str, subject_id: int) -> Timer | None:
    """The subject's newest timer of this kind that is pending or running, if any."""
    return await session.scalar(
        select(Timer)
        .where(Timer.kind == kind, Timer.subject_id == subject_id,
               Timer.state.in_((TimerState.PENDING, TimerState.RUNNING)))
        .order_by(Timer.id.desc())
        .limit(1)
    )


async def exists(session: AsyncSession, *, kind: str, subject_id: int) -> bool:
    """Whether a timer of this kind was ever scheduled for the subject, whatever its state now."""
    found = await session.scalar(select(Timer.id).where(Timer.kind == kind, Timer.subject_id == subject_id).limit(1))
    return found is not None


async def delete_for_subjects(session: AsyncSession, *, kinds: Sequence[str], subject_ids: Sequence[int]) -> None:
    """Every timer of these kinds about these subjects, whatever its state."""
    await session.execute(delete(Timer).where(Timer.kind.in_(kinds), Timer.subject_id.in_(subject_ids)))


async def live(session: AsyncSession, *, kind: str) -> bool:
    """Whether a timer of this kind is waiting or running."""
    found = await session.scalar(
        select(Timer.id).where(Timer.kind == kind, Timer.state.in_((TimerState.PENDING, TimerState.RUNNING))).limit(1)
    )
    return found is not None


async def first_of(session: AsyncSession, *, kind: str, subject_id: int) -> int | None:
    """The oldest timer of this kind for the subject: where two replicas scheduled the same one, it alone acts."""
    return await session.scalar(select(func.min(Timer.id)).where(Timer.kind == kind, Timer.subject_id == subject_id))
