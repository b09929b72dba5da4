"""Queries on staff digests: the posts for a busy staff chat that are folded into one message listing their cases.
Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import (
    Client,
    Escalation,
    EscalationState,
    OutboxMessage,
    StaffDigest,
    StaffDigestEntry,
    Timer,
    TimerState,
)


@dataclass(frozen=True)
class Folded:
    """A post that a digest replaces: its timer, its case and, for a queued post, the outbox message."""

    timer_id: int
    escalation_id: int
    outbox_id: int | None = None
    role: str | None = None


async def take_cards(session: AsyncSession, *, card_kind: str, now: datetime, limit: int) -> list[Folded]:
    """Due card timers of cases nobody has claimed yet, taken (locked, then finished by fold()) so that one
    replica folds each."""
    rows = await session.execute(
        select(Timer.id, Timer.subject_id)
        .join(Escalation, Escalation.id == Timer.subject_id)
        .where(Timer.kind == card_kind, Timer.state == TimerState.PENDING, Timer.due_at <= now,
               Escalation.state == EscalationState.OPEN)
        .order_by(Timer.due_at, Timer.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Timer)
    )
    return [Folded(timer_id, escalation_id) for timer_id, escalation_id in rows]


async def take_posts(
    session: AsyncSession, *, outbox_kind: str, chat_id: int, roles: Sequence[str], now: datetime, limit: int
) -> list[Folded]:
    """Due queued posts of these roles to the chat, about cases nobody has claimed yet, taken as take_cards()."""
    rows = await session.execute(
        select(Timer.id, OutboxMessage.escalation_id, OutboxMessage.id, OutboxMessage.post_role)
        .join(OutboxMessage, OutboxMessage.id == Timer.subject_id)
        .join(Escalation, Escalation.id == OutboxMessage.escalation_id)
        .where(Timer.kind == outbox_kind, Timer.state == TimerState.PENDING, Timer.due_at <= now,
               OutboxMessage.chat_id == chat_id, OutboxMessage.post_role.in_(roles),
               Escalation.state == EscalationState.OPEN)
        .order_by(Timer.due_at, Timer.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Timer)
    )
    return [Folded(timer_id, escalation_id, outbox_id, role) for timer_id, escalation_id, outbox_id, role in rows]


async def fold(session: AsyncSession, folded: Sequence[Folded]) -> None:
    """The folded posts are done: their timers finished, their queued messages off the queue."""
    if not folded:
        return
    await session.execute(update(Timer).where(Timer.id.in_([item.timer_id for item in folded]))
                          .values(state=TimerState.DONE))
    outbox_ids = [item.outbox_id for item in folded if item.outbox_id is not None]
    if outbox_ids:
        await session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(outbox_ids)))


async def create(session: AsyncSession, *, chat_id: int, entries: Sequence[tuple[int, str]], now: datetime) -> int:
    """A digest for the chat listing these (case id, note); its id."""
    digest = StaffDigest(chat_id=chat_id, created_at=now)
    session.add(digest)
    await session.flush()
    session.add_all([StaffDigestEntry(digest_id=digest.id, escalation_id=escalation_id, note=note)
                     for escalation_id, note in entries])
    await session.flush()
    return digest.id


async def load(
    session: AsyncSession, digest_id: int
) -> tuple[StaffDigest, list[tuple[StaffDigestEntry, Escalation, Client]]] | None:
    digest = await session.get(StaffDigest, digest_id)
    if digest is None:
        return None
    rows = await session.execute(
        select(StaffDigestEntry, Escalation, Client)
        .join(Escalation, Escalation.id == StaffDigestEntry.escalation_id)
        .join(Client, Client.id == Escalation.client_id)
        .where(StaffDigestEntry.digest_id == digest_id)
        .order_by(StaffDigestEntry.escalation_id)
    )
    return digest, [(entry, escalation, client) for entry, escalation, client in rows]


async def of_case(session: AsyncSession, escalation_id: int) -> list[int]:
    """The digests that list the case."""
    rows = await session.scalars(
        select(StaffDigestEntry.digest_id).where(StaffDigestEntry.escalation_id == escalation_id)
    )
    return list(rows)


async def set_posted(session: AsyncSession, digest_id: int, *, message_id: int, now: datetime) -> None:
    await session.execute(update(StaffDigest).where(StaffDigest.id == digest_id)
                          .values(message_id=message_id, posted_at=now))


async def set_edited(session: AsyncSession, digest_id: int, *, now: datetime) -> None:
    await session.execute(update(StaffDigest).where(StaffDigest.id == digest_id).values(edited_at=now))


async def remove(session: AsyncSession, digest_id: int) -> None:
    await session.execute(delete(StaffDigest).where(StaffDigest.id == digest_id))
