"""Queries on enrolment links. Callers own the transaction; nothing here commits.

An enrolment lives here, as a pending invite, until the client opens the link and agrees: only then are a
client and their plan created. Staff looking someone up must find these too, to tell them apart from people
never enrolled and to give a new link when the first one was lost or has expired.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Invite, InviteStatus
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories.clients import contains_ignoring_case


def _pending_named(query: str) -> ColumnElement[bool]:
    """Not yet opened (expired or not) and the name staff entered contains `query` (ignoring case). A link the
    client no longer needs, because they joined through another one made for the same session, is REPLACED."""
    return and_(Invite.status == InviteStatus.PENDING, contains_ignoring_case(query, Invite.client_name))


async def pending_matching(session: AsyncSession, query: str, limit: int = 10) -> Sequence[Invite]:
    """Up to `limit` links not yet opened whose client name contains `query`, the newest first."""
    rows = await session.scalars(
        select(Invite).where(_pending_named(query)).order_by(Invite.created_at.desc(), Invite.id.desc()).limit(limit)
    )
    return rows.all()


async def count_pending_matching(session: AsyncSession, query: str) -> int:
    """How many links not yet opened match `query` in all, however many `pending_matching` returns."""
    return await session.scalar(select(func.count()).select_from(Invite).where(_pending_named(query))) or 0


async def by_token_hash(session: AsyncSession, token_hash: str) -> Invite | None:
    return await session.scalar(select(Invite).where(Invite.token_hash == token_hash))


async def get_for_update(session: AsyncSession, invite: RowRef) -> Invite | None:
    """The link a consent button was made for, locked; None if it is gone or the id now names another."""
    row = await session.get(Invite, invite.id, with_for_update=True)
    return row if row is not None and row.ref == invite.ref else None


async def belong_to(session: AsyncSession, used: Invite, client_id: int) -> None:
    """`used` is now the client's, and so is every link of its renewal chain (`/enrol ... renew=`, given when a
    link was lost): those are REPLACED, leave the not-yet-joined list, and go when the client is erased."""
    used.client_id = client_id
    chain, found = {used.id}, {used.id}
    while found:
        renewed = select(Invite.renewed_by_id).where(Invite.id.in_(found), Invite.renewed_by_id.is_not(None))
        found = set(await session.scalars(
            select(Invite.id).where(or_(Invite.renewed_by_id.in_(found), Invite.id.in_(renewed)))
        )) - chain
        chain |= found
    await session.execute(
        update(Invite).where(Invite.id.in_(chain - {used.id}), Invite.status == InviteStatus.PENDING)
        .values(status=InviteStatus.REPLACED, client_id=client_id)
    )


async def renew(session: AsyncSession, old: RowRef, new: Invite) -> bool:
    """Record that `new` replaces the pending link `old`; False if `old` is no longer pending."""
    result = await session.execute(
        update(Invite).where(Invite.id == old.id, Invite.ref == old.ref, Invite.status == InviteStatus.PENDING)
        .values(renewed_by_id=new.id)
    )
    return bool(result.rowcount)


async def delete_of_client(session: AsyncSession, client_id: int) -> int:
    result = await session.execute(delete(Invite).where(Invite.client_id == client_id))
    return result.rowcount or 0


async def of_person(
    session: AsyncSession, telegram_user_id: int, *, client_id: int | None = None, invite_ids: Sequence[int] = ()
) -> Sequence[Invite]:
    """The links the person used, declined or opened without answering and, when they are the client
    `client_id`, the links that are that client's or are among `invite_ids` (those their plans came from);
    oldest first."""
    condition: ColumnElement[bool] = or_(
        Invite.used_by == telegram_user_id,
        and_(Invite.opened_by == telegram_user_id, Invite.status == InviteStatus.PENDING),
    )
    if client_id is not None:
        condition = or_(condition, Invite.client_id == client_id, Invite.id.in_(invite_ids))
    rows = await session.scalars(select(Invite).where(condition).order_by(Invite.id))
    return rows.all()


async def delete_by_ids(session: AsyncSession, invite_ids: Sequence[int]) -> None:
    await session.execute(delete(Invite).where(Invite.id.in_(invite_ids)))


async def delete_unused_expired(session: AsyncSession, *, before: datetime) -> int:
    """Delete the links not used (pending, declined or replaced) that expired before `before`; how many."""
    result = await session.execute(
        delete(Invite).where(Invite.status != InviteStatus.USED, Invite.expires_at < before)
    )
    return result.rowcount or 0
