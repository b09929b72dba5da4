"""Queries on the conversation between clients and the clinic. Callers own the transaction; nothing commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, Table, bindparam, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, raiseload

from aftercare_bot.db.models import Client, ConversationMessage, Enrolment, Escalation
from aftercare_bot.db.repositories import inserts
from aftercare_bot.db.repositories.escalations import OPEN_STATES

IN = "in"
OUT = "out"
EDIT = "edit"  # the kind of an edited text message
SAFETY = "safety"  # the kind of the bot's safety advice after a warning sign
FINAL = "final"  # the kind of the final notice: nobody from the team answered, call the clinic


@dataclass(frozen=True)
class Writer:
    """A client who just wrote, with what handling their message needs to know."""

    client: Client
    enrolment: Enrolment | None  # the latest
    open_case: Escalation | None
    already_received: bool  # this very message (or this very edit of it) is stored already
    last_out_at: datetime | None  # the last message of the given kinds sent to them


async def writer(
    session: AsyncSession, telegram_user_id: int, *, telegram_message_id: int, kind: str, text: str | None,
    out_kinds: Sequence[str],
) -> Writer | None:
    """The client with this Telegram id, locked for this transaction (which serialises a client's messages
    across replicas on PostgreSQL), and everything else in the same statement; None for someone unknown."""
    row = (await session.execute(_WRITER_QUERY, {
        "telegram_user_id": telegram_user_id, "telegram_message_id": telegram_message_id, "kind": kind, "text": text,
        "out_kinds": list(out_kinds),
    })).first()
    if row is None:
        return None
    client, enrolment, escalation, already, last_out_at = row
    return Writer(client, enrolment, escalation, bool(already), last_out_at)


def _writer_query() -> Select[tuple[Client, Enrolment, Escalation, bool, datetime | None]]:
    """Built once: composing a statement this size costs more than running it."""
    latest_enrolment = aliased(Enrolment)
    open_case = aliased(Escalation)
    received = exists().where(
        ConversationMessage.client_id == Client.id,
        ConversationMessage.direction == IN,
        ConversationMessage.telegram_message_id == bindparam("telegram_message_id"),
        ConversationMessage.kind == bindparam("kind"),
        ConversationMessage.text.is_not_distinct_from(bindparam("text", type_=ConversationMessage.text.type)),
    )
    last_out = select(func.max(ConversationMessage.at)).where(
        ConversationMessage.client_id == Client.id,
        ConversationMessage.direction == OUT,
        ConversationMessage.kind.in_(bindparam("out_kinds", expanding=True)),
    )
    return (
        select(Client, Enrolment, Escalation, received.correlate(Client),
               last_out.correlate(Client).scalar_subquery())
        .select_from(Client)
        .outerjoin(Enrolment, Enrolment.id == select(latest_enrolment.id)
                   .where(latest_enrolment.client_id == Client.id)
                   .order_by(latest_enrolment.id.desc()).limit(1).correlate(Client).scalar_subquery())
        .outerjoin(Escalation, Escalation.id == select(open_case.id)
                   .where(open_case.client_id == Client.id, open_case.state.in_(OPEN_STATES))
                   .order_by(open_case.id.desc()).limit(1).correlate(Client).scalar_subquery())
        .where(Client.telegram_user_id == bindparam("telegram_user_id"))
        .options(raiseload(Enrolment.client))  # the client is right here
        .with_for_update(of=Client)
    )


_WRITER_QUERY = _writer_query()


async def add(session: AsyncSession, message: ConversationMessage) -> ConversationMessage:
    return await inserts.add(session, message)


async def add_together(session: AsyncSession, messages: Sequence[ConversationMessage]) -> None:
    """Clients' messages and the answers to them (at most one of each direction per client), in one statement."""
    await inserts.add_together(session, messages, key=("client_id", "direction"))


async def set_telegram_ids(session: AsyncSession, telegram_ids: dict[int, int]) -> None:
    """Keep the Telegram message id of each sent message (conversation id -> Telegram id), in one statement."""
    if telegram_ids:
        await session.execute(_SET_TELEGRAM_ID, [
            {"conversation_id": conversation_id, "telegram_id": telegram_id}
            for conversation_id, telegram_id in telegram_ids.items()
        ])


async def remove(session: AsyncSession, message_id: int) -> None:
    """Take a message out of the conversation (one never delivered, say)."""
    await session.execute(delete(ConversationMessage).where(ConversationMessage.id == message_id))


_CONVERSATION: Table = ConversationMessage.__table__  # type: ignore[assignment]
_SET_TELEGRAM_ID = (
    update(_CONVERSATION).where(_CONVERSATION.c.id == bindparam("conversation_id"))
    .values(telegram_message_id=bindparam("telegram_id"))
)


async def recent_for_client(session: AsyncSession, client_id: int, limit: int = 10) -> list[ConversationMessage]:
    """The last `limit` entries, oldest first."""
    rows = await session.scalars(
        select(ConversationMessage)
        .where(ConversationMessage.client_id == client_id)
        .order_by(ConversationMessage.at.desc(), ConversationMessage.id.desc())
        .limit(limit)
    )
    return list(reversed(rows.all()))


async def last_out_at(session: AsyncSession, client_id: int, kinds: Sequence[str]) -> datetime | None:
    return await session.scalar(
        select(func.max(ConversationMessage.at)).where(
            ConversationMessage.client_id == client_id,
            ConversationMessage.direction == OUT,
            ConversationMessage.kind.in_(kinds),
        )
    )


async def first_of_escalation(session: AsyncSession, escalation_id: int) -> ConversationMessage | None:
    """The client message that opened the escalation."""
    return await session.scalar(
        select(ConversationMessage)
        .where(ConversationMessage.escalation_id == escalation_id, ConversationMessage.direction == IN)
        .order_by(ConversationMessage.id)
        .limit(1)
    )


async def has_out(session: AsyncSession, escalation_id: int, kind: str) -> bool:
    """Whether the client was sent (or is about to be sent) a message of this kind about the case."""
    found = await session.scalar(
        select(ConversationMessage.id).where(
            ConversationMessage.escalation_id == escalation_id,
            ConversationMessage.direction == OUT,
            ConversationMessage.kind == kind,
        ).limit(1)
    )
    return found is not None


async def last_in_at(session: AsyncSession, client_id: int) -> datetime | None:
    """When the client last wrote (or pressed an answer button)."""
    return await session.scalar(
        select(func.max(ConversationMessage.at)).where(
            ConversationMessage.client_id == client_id, ConversationMessage.direction == IN
        )
    )


async def all_for_client(session: AsyncSession, client_id: int) -> Sequence[ConversationMessage]:
    """The whole conversation with the client, oldest first."""
    rows = await session.scalars(
        select(ConversationMessage).where(ConversationMessage.client_id == client_id)
        .order_by(ConversationMessage.at, ConversationMessage.id)
    )
    return rows.all()


async def delete_of_client(session: AsyncSession, client_id: int) -> None:
    await session.execute(delete(ConversationMessage).where(ConversationMessage.client_id == client_id))
