"""Queries on enrolment links. Callers own the transaction; nothing here commits.

An enrolment lives here, as a pending invite, until the client opens the link and agrees: only then are a
client and their plan created. Staff looking someone up must find these too, to tell them apart from people
never enrolled and to give a new link when the first one was lost or has expired.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from aftercare_bot.db.models import Invite, InviteStatus
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories.clients import contains_ignoring_case


def _pending_named(query: str) -> ColumnElement[bool]:
    """Not yet opened (expired or not), the name staff entered contains `query` (ignoring case), and the client
    has not joined through another link for the same session (a new link made when this one was lost)."""
    other = aliased(Invite)
    joined_otherwise = exists().where(
        other.status == InviteStatus.USED,
        func.lower(other.client_name) == func.lower(Invite.client_name),
        other.treatment == Invite.treatment,
        other.session_at == Invite.session_at,
    )
    return and_(
        Invite.status == InviteStatus.PENDING,
        contains_ignoring_case(query, Invite.client_name),
        ~joined_otherwise,
    )


async def pending_matching(session: AsyncSession, query: str, limit: int = 10) -> Sequence[Invite]:
    """Up to `limit` links not yet opened whose client name contains `query`, the newest first."""
    rows = await session.scalars(
        select(Invite).where(_pending_named(query)).order_by(Invite.created_at.desc(), Invite.id.desc()).limit(limit)
    )
    return rows.all()


async def count_pending_matching(session: AsyncSession, query: str) -> int:
    """How many links not yet opened match `query` in all, however many `pending_matching` returns."""
    return await session.scalar(select(func.count()).select_from(Invite).where(_pending_named(query))) or 0


async def get_for_update(session: AsyncSession, invite: RowRef) -> Invite | None:
    """The link a consent button was made for, locked; None if it is gone or the id now names another."""
    row = await session.get(Invite, invite.id, with_for_update=True)
    return row if row is not None and row.ref == invite.ref else None


async def belong_to(session: AsyncSession, used: Invite, client_id: int) -> None:
    """`used` is now the client's, and so is every link made for the same session that was never opened (a new
    link given when the first was lost): those stop being listed as not yet joined, and go when the client is
    erased."""
    used.client_id = client_id
    await session.execute(
        update(Invite)
        .where(
            Invite.status == InviteStatus.PENDING,
            Invite.id != used.id,
            func.lower(Invite.client_name) == func.lower(used.client_name),
            Invite.treatment == used.treatment,
            Invite.session_at == used.session_at,
        )
        .values(status=InviteStatus.REPLACED, client_id=client_id)
    )


async def delete_of_client(session: AsyncSession, client_id: int) -> int:
    result = await session.execute(delete(Invite).where(Invite.client_id == client_id))
    return result.rowcount or 0


async def mark_opened(session: AsyncSession, invite_id: int, *, now: datetime) -> bool:
    """Record that the link was opened; True only the first time, so each link counts once."""
    result = await session.execute(
        update(Invite).where(Invite.id == invite_id, Invite.opened_at.is_(None)).values(opened_at=now)
    )
    return bool(result.rowcount)
