"""Enrolment: one-time invite links, the client's consent, and the plan that follows."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.config import Settings
from aftercare_bot.db.models import (
    Client,
    ClientStatus,
    DeliveryState,
    Enrolment,
    EnrolmentState,
    Invite,
    InviteStatus,
)
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import audit, clients, deliveries, enrolments, invites, timers
from aftercare_bot.delivery.compose import CHECKIN_TIMER_KINDS
from aftercare_bot.plans.catalog import PlanCatalog
from aftercare_bot.plans.schedule import plan_deliveries
from aftercare_bot.texts.languages import client_language

TOKEN_BYTES = 24  # 192 bits, 32 URL-safe characters: well inside Telegram's 64-character start payload
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")
INVITE_OPENED = "invite_opened"  # in the audit trail: the report counts links opened


class InviteProblem(StrEnum):
    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    REOPEN = "reopen"  # the question answered was asked before the link was opened again, by someone else
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class InviteCheck:
    invite: Invite | None
    problem: InviteProblem | None


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_invite(
    session: AsyncSession,
    *,
    client_name: str,
    treatment: str,
    session_at: datetime,
    language: str | None,
    created_by: int,
    now: datetime,
    settings: Settings,
    token_for: Callable[[str], str] | None = None,
    phone: str | None = None,
    renews: RowRef | None = None,
) -> tuple[Invite, str]:
    """Returns the invite and its token; the token itself is never stored. `token_for` makes the token from the
    invite's ref instead of at random (links a booking system may ask for again)."""
    invite = Invite(
        client_name=client_name, treatment=treatment, session_at=session_at, language=language,
        created_by=created_by, created_at=now, expires_at=now + settings.invite_ttl, status=InviteStatus.PENDING,
        phone=phone,
    )
    token = token_for(invite.ref) if token_for is not None else new_token()
    invite.token_hash = hash_token(token)
    session.add(invite)
    await session.flush()
    if renews is not None:
        await invites.renew(session, renews, invite)  # a lost link that was used meanwhile stays as it is
    await audit.record(session, now=now, action="invite_created", actor_id=created_by,
                       detail={"invite_id": invite.id, "treatment": treatment})
    return invite, token


async def check_invite(session: AsyncSession, token: str, *, now: datetime) -> InviteCheck:
    if not _TOKEN_SHAPE.fullmatch(token):
        return InviteCheck(None, InviteProblem.MALFORMED)
    invite = await invites.by_token_hash(session, hash_token(token))
    return InviteCheck(invite, _problem(invite, now))


def _problem(invite: Invite | None, now: datetime) -> InviteProblem | None:
    if invite is None:
        return InviteProblem.UNKNOWN
    if invite.status == InviteStatus.CANCELLED:
        return InviteProblem.CANCELLED
    if invite.status != InviteStatus.PENDING:
        return InviteProblem.USED
    if now >= invite.expires_at:
        return InviteProblem.EXPIRED
    return None


def _not_opened_by(link: Invite | None, telegram_user_id: int) -> InviteProblem | None:
    """Someone else opened the link since (or the person was erased): the question they hold is not theirs now."""
    return InviteProblem.REOPEN if link is not None and link.opened_by != telegram_user_id else None


@dataclass(frozen=True)
class Acceptance:
    problem: InviteProblem | None
    enrolment: Enrolment | None = None
    scheduled: int = 0
    superseded: bool = False


async def accept_invite(
    session: AsyncSession,
    *,
    invite: RowRef,
    telegram_user_id: int,
    chat_id: int,
    first_name: str,
    telegram_language: str | None,
    now: datetime,
    settings: Settings,
    catalog: PlanCatalog,
    languages: Collection[str],
) -> Acceptance:
    """The client agreed: create (or reactivate) the client, supersede an older plan, schedule the new one.
    `invite` comes from the consent button: only the link it was made for is used. `languages`: those the clinic
    has texts in; the client's Telegram language is used when it is one of them or one of the plan's."""
    link = await invites.get_for_update(session, invite)
    problem = _problem(link, now) or _not_opened_by(link, telegram_user_id)
    plan = catalog.get(link.treatment) if link else None
    if problem or link is None:
        return Acceptance(problem)
    if plan is None:
        return Acceptance(InviteProblem.UNKNOWN)
    link.status, link.used_at, link.used_by = InviteStatus.USED, now, telegram_user_id
    link.phone = None  # matched or not, it has done its work

    client = await clients.by_telegram_id(session, telegram_user_id)
    # A client enrolled before keeps the language they had (perhaps chosen with /language) unless the link names one.
    chosen = link.language or (client.language if client is not None else None)
    # Their Telegram language counts where the clinic has texts in it, or this plan's messages are written in it.
    offered = {*languages, *plan.languages}
    language = client_language(chosen, telegram_language, offered, settings.default_language)
    if client is None:
        client = Client(
            telegram_user_id=telegram_user_id, chat_id=chat_id, name=link.client_name, first_name=first_name,
            language=language, status=ClientStatus.ACTIVE, created_at=now, updated_at=now,
        )
        session.add(client)
        await session.flush()
    else:
        client.name, client.first_name, client.chat_id = link.client_name, first_name, chat_id
        client.language, client.status, client.updated_at = language, ClientStatus.ACTIVE, now

    await invites.belong_to(session, link, client.id)
    superseded = await supersede_active(session, client.id, now=now)
    enrolment = Enrolment(
        client_id=client.id, invite_id=link.id, treatment=link.treatment, session_at=link.session_at,
        language=language, state=EnrolmentState.ACTIVE, created_at=now,
    )
    session.add(enrolment)
    await session.flush()
    rows = plan_deliveries(plan, enrolment, client, now=now, settings=settings)
    session.add_all(rows)
    await audit.record(session, now=now, action="enrolled", actor_id=telegram_user_id, client_id=client.id,
                       detail={"enrolment_id": enrolment.id, "invite_id": link.id, "superseded": superseded})
    scheduled = sum(1 for row in rows if row.state == DeliveryState.PENDING)
    return Acceptance(None, enrolment, scheduled, bool(superseded))


async def set_language(session: AsyncSession, client: Client, language: str, *, now: datetime) -> None:
    """The client chose `language` (/language): their record and the plans they are on speak it from now on."""
    before = client.language
    client.language, client.updated_at = language, now
    for active in await enrolments.active_for_client(session, client.id):
        active.language = language
    await audit.record(session, now=now, action="language_changed", actor_id=client.telegram_user_id,
                       client_id=client.id, detail={"from": before, "to": language})


async def mark_opened(session: AsyncSession, invite: Invite, *, by: int, now: datetime) -> None:
    """Someone opened the link and is asked to agree: only they may answer. The booking system's status shows
    the first opening."""
    invite.opened_by = by
    if invite.opened_at is None:
        invite.opened_at = now
        await audit.record(session, now=now, action=INVITE_OPENED, detail={"invite_id": invite.id})


async def decline_invite(session: AsyncSession, *, invite: RowRef, telegram_user_id: int, now: datetime) -> bool:
    link = await invites.get_for_update(session, invite)
    if _problem(link, now) or _not_opened_by(link, telegram_user_id) or link is None:
        return False
    link.status, link.used_at, link.used_by = InviteStatus.DECLINED, now, telegram_user_id
    link.phone = None
    await audit.record(session, now=now, action="invite_declined", actor_id=telegram_user_id,
                       detail={"invite_id": link.id})
    return True


async def supersede_active(session: AsyncSession, client_id: int, *, now: datetime) -> list[int]:
    """A new session replaces what remains of the previous plan."""
    ended = await enrolments.end_active(session, client_id, EnrolmentState.SUPERSEDED, now=now)
    for enrolment_id in ended:
        await deliveries.cancel_pending_for_enrolment(session, enrolment_id, "superseded by a new session")
    await cancel_checkin_timers(session, ended)
    return ended


async def stop_client(session: AsyncSession, client: Client, *, now: datetime) -> int:
    """The client asked to stop: nothing more is scheduled for them."""
    ended = await enrolments.end_active(session, client.id, EnrolmentState.STOPPED, now=now)
    cancelled = await deliveries.cancel_open_for_client(session, client.id, "client stopped the plan")
    await cancel_checkin_timers(session, ended)
    client.status, client.updated_at = ClientStatus.STOPPED, now
    await audit.record(session, now=now, action="client_stopped", actor_id=client.telegram_user_id,
                       client_id=client.id, detail={"cancelled": cancelled})
    return cancelled


async def cancel_checkin_timers(session: AsyncSession, enrolment_ids: list[int]) -> None:
    if not enrolment_ids:
        return
    for delivery_id in await deliveries.checkin_ids_for_enrolments(session, enrolment_ids):
        await timers.cancel(session, subject_id=delivery_id, kinds=CHECKIN_TIMER_KINDS)
