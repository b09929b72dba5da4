"""Queries on enrolment links. Callers own the transaction; nothing here commits.

An enrolment lives here, as a pending invite, until the client opens the link and agrees: only then are a
client and their plan created. Staff looking someone up must find these too, to tell them apart from people
never enrolled and to give a new link when the first one was lost or has expired.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from aftercare_bot.db.models import Invite, InviteStatus
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
