"""Queries on escalations and their posts in staff chats. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache

from sqlalchemy import Insert, Table, bindparam, delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Escalation, EscalationPost, EscalationState

OPEN_STATES = (EscalationState.OPEN, EscalationState.CLAIMED)
# Built once (see db.inserts): recording a card is on every red flag's path.
_ESCALATIONS: Table = Escalation.__table__  # type: ignore[assignment]
_POSTS: Table = EscalationPost.__table__  # type: ignore[assignment]
_SET_CARD = (
    update(_ESCALATIONS)
    .where(_ESCALATIONS.c.id == bindparam("escalation_id"), _ESCALATIONS.c.ref == bindparam("case_ref"),
           _ESCALATIONS.c.card_message_id.is_(None))
    .values(card_chat_id=bindparam("chat_id"), card_message_id=bindparam("message_id"))
)
CARD = "card"
CONFIRM = "confirm"  # the bot confirming a staff reply; a reply to it reaches the client too


async def get(session: AsyncSession, escalation_id: int, *, for_update: bool = False) -> Escalation | None:
    return await session.get(Escalation, escalation_id, with_for_update=for_update or None)


async def open_for_client(session: AsyncSession, client_id: int) -> Escalation | None:
    """The client's escalation that is not resolved yet (the newest, should there ever be two)."""
    return await session.scalar(
        select(Escalation)
        .where(Escalation.client_id == client_id, Escalation.state.in_(OPEN_STATES))
        .order_by(Escalation.id.desc())
        .limit(1)
    )


async def all_for_client(session: AsyncSession, client_id: int) -> Sequence[Escalation]:
    rows = await session.scalars(select(Escalation).where(Escalation.client_id == client_id).order_by(Escalation.id))
    return rows.all()


async def claim(
    session: AsyncSession, escalation_id: int, *, states: Sequence[EscalationState], ref: str | None,
    actor_id: int, name: str, now: datetime,
) -> bool:
    """Claim the case for `actor_id` if it is in one of `states` (and, with `ref`, still the case a button was
    made for), clearing any earlier resolution; whether it was. A conditional update: of two people pressing at
    once, only one wins."""
    conditions = [Escalation.id == escalation_id, Escalation.state.in_(states)]
    if ref is not None:
        conditions.append(Escalation.ref == ref)
    result = await session.execute(
        update(Escalation)
        .where(*conditions)
        .values(state=EscalationState.CLAIMED, claimed_by=actor_id, claimed_by_name=name, claimed_at=now,
                resolved_by=None, resolved_by_name=None, resolved_at=None)
    )
    return bool(result.rowcount)


async def resolve(
    session: AsyncSession, escalation_id: int, *, ref: str, actor_id: int, name: str, now: datetime
) -> bool:
    """Resolve the case if it is still open (claimed or not) and still the case with this `ref`; whether it was."""
    result = await session.execute(
        update(Escalation)
        .where(Escalation.id == escalation_id, Escalation.ref == ref, Escalation.state.in_(OPEN_STATES))
        .values(state=EscalationState.RESOLVED, resolved_by=actor_id, resolved_by_name=name, resolved_at=now)
    )
    return bool(result.rowcount)


async def unlink_posts(session: AsyncSession, escalation_ids: Sequence[int]) -> None:
    """The staff-chat posts of these cases stop naming them (they keep only their message ids)."""
    await session.execute(
        update(EscalationPost).where(EscalationPost.escalation_id.in_(escalation_ids)).values(escalation_id=None)
    )


async def delete_of_client(session: AsyncSession, client_id: int) -> None:
    await session.execute(delete(Escalation).where(Escalation.client_id == client_id))


async def all_open(session: AsyncSession) -> Sequence[Escalation]:
    rows = await session.scalars(
        select(Escalation).where(Escalation.state.in_(OPEN_STATES)).order_by(Escalation.created_at, Escalation.id)
    )
    return rows.all()


async def set_card(
    session: AsyncSession, escalation_id: int, ref: str | None, *, chat_id: int, message_id: int
) -> None:
    """Remember where the case (with this ref) has its card, unless a card of it was recorded before."""
    await session.execute(_SET_CARD, {"escalation_id": escalation_id, "case_ref": ref, "chat_id": chat_id,
                                      "message_id": message_id})


async def add_cards(
    session: AsyncSession, cards: Sequence[tuple[int, str | None, int, int]], *, now: datetime
) -> None:
    """Cards posted, as (escalation id, its ref, chat id, message id): remembered as posts of their cases (see
    add_post), and as where each case's card is (see set_card), in two statements. The card of a case erased
    since it was posted is not remembered, even when its number was given to a new case: there is nothing left
    for a reply to it to reach."""
    if not cards:
        return
    await session.execute(_add_card_once(session.get_bind().dialect.name), [
        {"escalation_id": escalation_id, "case_ref": ref, "chat_id": chat_id, "message_id": message_id, "role": CARD,
         "created_at": now}
        for escalation_id, ref, chat_id, message_id in cards
    ])
    await session.execute(_SET_CARD, [
        {"escalation_id": escalation_id, "case_ref": ref, "chat_id": chat_id, "message_id": message_id}
        for escalation_id, ref, chat_id, message_id in cards
    ])


async def add_post(
    session: AsyncSession, *, escalation_id: int, chat_id: int, message_id: int, role: str, now: datetime
) -> None:
    """Remember a bot post as the case's. A post known already is left as it is: the write may be a repeat after
    a commit whose answer was lost."""
    await session.execute(_add_post_once(session.get_bind().dialect.name), {
        "escalation_id": escalation_id, "chat_id": chat_id, "message_id": message_id, "role": role, "created_at": now,
    })


@cache
def _add_post_once(dialect: str) -> Insert:
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return upsert(_POSTS).on_conflict_do_nothing(index_elements=[_POSTS.c.chat_id, _POSTS.c.message_id])


@cache
def _add_card_once(dialect: str) -> Insert:
    """As _add_post_once, for a case that still exists: a card recorded after /forget erased its case would
    otherwise break the foreign key, and fail every record written with it."""
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = ("escalation_id", "chat_id", "message_id", "role", "created_at")
    row = select(*(bindparam(name, type_=_POSTS.c[name].type) for name in columns)).where(
        exists().where(_ESCALATIONS.c.id == bindparam("escalation_id"), _ESCALATIONS.c.ref == bindparam("case_ref"))
    )
    return upsert(_POSTS).from_select(columns, row).on_conflict_do_nothing(
        index_elements=[_POSTS.c.chat_id, _POSTS.c.message_id]
    )


async def post_at(session: AsyncSession, chat_id: int, message_id: int) -> EscalationPost | None:
    return await session.scalar(
        select(EscalationPost).where(EscalationPost.chat_id == chat_id, EscalationPost.message_id == message_id)
    )


async def cards(session: AsyncSession, escalation_id: int) -> dict[int, int]:
    """chat id -> message id of the escalation's card in each staff chat it was posted to."""
    rows = await session.execute(
        select(EscalationPost.chat_id, EscalationPost.message_id)
        .where(EscalationPost.escalation_id == escalation_id, EscalationPost.role == CARD)
        .order_by(EscalationPost.id)
    )
    found: dict[int, int] = {}
    for chat_id, message_id in rows:
        found.setdefault(chat_id, message_id)
    return found


async def still_there(session: AsyncSession, escalation_id: int, ref: str | None) -> bool:
    """Whether the case read earlier is still there, locked until the transaction ends; not one that took its
    number after it was erased."""
    found = await session.scalar(
        select(Escalation.id).where(Escalation.id == escalation_id, Escalation.ref == ref).with_for_update()
    )
    return found is not None


async def mark_asked_back(session: AsyncSession, escalation_id: int, *, now: datetime) -> None:
    await session.execute(update(Escalation).where(Escalation.id == escalation_id).values(asked_back_at=now))


async def record_ask_back_answer(session: AsyncSession, escalation_id: int, answer: str, *, now: datetime) -> bool:
    """The client's answer to the question asked back, unless one was recorded already (a double press)."""
    result = await session.execute(
        update(Escalation).where(Escalation.id == escalation_id, Escalation.ask_back_answer.is_(None))
        .values(ask_back_answer=answer, ask_back_answered_at=now)
    )
    return bool(result.rowcount)
