"""Plan revisions edited from Telegram and the drafts awaiting confirmation. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import PlanDraft, PlanRevision
from aftercare_bot.db.refs import RowRef


async def newest_numbers(session: AsyncSession) -> dict[str, int]:
    """The newest revision number of every treatment that has one: a cheap query run at every tick."""
    rows = await session.execute(
        select(PlanRevision.treatment, func.max(PlanRevision.revision)).group_by(PlanRevision.treatment)
    )
    return {treatment: number for treatment, number in rows.all()}


async def newest(session: AsyncSession, treatment: str) -> PlanRevision | None:
    return await session.scalar(
        select(PlanRevision)
        .where(PlanRevision.treatment == treatment)
        .order_by(PlanRevision.revision.desc())
        .limit(1)
    )


async def get(session: AsyncSession, treatment: str, revision: int) -> PlanRevision | None:
    return await session.scalar(
        select(PlanRevision).where(PlanRevision.treatment == treatment, PlanRevision.revision == revision)
    )


async def all_of(session: AsyncSession, treatment: str) -> Sequence[PlanRevision]:
    rows = await session.scalars(
        select(PlanRevision).where(PlanRevision.treatment == treatment).order_by(PlanRevision.revision)
    )
    return rows.all()


async def recent(session: AsyncSession, limit: int) -> Sequence[PlanRevision]:
    rows = await session.scalars(
        select(PlanRevision).order_by(PlanRevision.created_at.desc(), PlanRevision.id.desc()).limit(limit)
    )
    return rows.all()


async def add(
    session: AsyncSession,
    *,
    treatment: str,
    revision: int,
    document: dict[str, Any],
    note: str,
    created_by: int | None,
    created_by_name: str,
    now: datetime,
) -> PlanRevision:
    """Insert a revision; two concurrent saves of the same number fail on the unique index."""
    row = PlanRevision(
        treatment=treatment,
        revision=revision,
        document=document,
        note=note,
        created_by=created_by,
        created_by_name=created_by_name,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def add_draft(
    session: AsyncSession, *, user_id: int, treatment: str, change: dict[str, Any], now: datetime
) -> PlanDraft:
    draft = PlanDraft(user_id=user_id, treatment=treatment, change=change, created_at=now)
    session.add(draft)
    await session.flush()
    return draft


async def get_draft(session: AsyncSession, draft: RowRef) -> PlanDraft | None:
    """The draft a button was made for; None if it is gone or its id now names another."""
    row = await session.get(PlanDraft, draft.id)
    return row if row is not None and row.ref == draft.ref else None


async def use_draft(session: AsyncSession, draft_id: int, *, now: datetime) -> bool:
    """Mark the draft used; False when it already was (a double press, or another replica)."""
    result = await session.execute(
        update(PlanDraft).where(PlanDraft.id == draft_id, PlanDraft.used_at.is_(None)).values(used_at=now)
    )
    return (result.rowcount or 0) == 1
