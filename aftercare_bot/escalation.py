"""Escalations: a worrying client message becomes a case card in the staff chat, which staff claim and resolve.

A client has at most one unresolved case; later messages join it and are threaded under its card. Every
bot post that belongs to a case is remembered (EscalationPost), so a staff reply to any of them reaches the
client. Urgent cases nobody claims are announced again, then the client is told to call the clinic; both
are durable timers, so a restart loses neither. Everything else the desk says, to staff or to a client, goes
through the outbox, so a Telegram outage delays it but never loses it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.confirmed_sends import NotRecorded
from aftercare_bot.confirmed_sends import record as record_confirmed
from aftercare_bot.db import audit, timers
from aftercare_bot.db import conversation as conversation_repo
from aftercare_bot.db import escalations as repo
from aftercare_bot.db import staff as staff_repo
from aftercare_bot.db.models import (
    Client,
    ConversationMessage,
    Enrolment,
    Escalation,
    EscalationPost,
    EscalationState,
    Role,
    StaffMember,
    Timer,
)
from aftercare_bot.escalation_cards import KIND_MESSAGE, MEDIA_KINDS, Buttons, CardView, CaseTexts
from aftercare_bot.outbound import OutboundMessage, RecipientBlocked, SendRejected, SendRetryLater
from aftercare_bot.outbox import Outbox, OutboxMessenger, Outcome, Report
from aftercare_bot.services import Services
from aftercare_bot.telegram_html import plain_text
from aftercare_bot.triage import TriageLevel

log = logging.getLogger(__name__)

# Timer kinds, all with the escalation id as subject.
CARD_TIMER = "escalation_card"
REALERT_TIMER = "escalation_realert"
FINAL_TIMER = "escalation_final"
RESPONSE_TIMERS = (REALERT_TIMER, FINAL_TIMER)


# What a staff-chat post of a case is.
ROLE_CARD = repo.CARD
ROLE_THREAD = "thread"
ROLE_MEDIA = "media"
ROLE_REALERT = "realert"
ROLE_NOTE = "note"
ROLE_STAFF = "staff"
ROLE_CONFIRM = repo.CONFIRM
FINAL_KIND = "final"  # the conversation kind of the client's final notice

RETRY_SOON = timedelta(seconds=30)
POST_POLL = 0.1


class Messenger(OutboxMessenger, Protocol):
    """A Sender that can also change its earlier messages and copy someone's message to another chat."""

    async def edit(self, chat_id: int, message_id: int, html: str, buttons: Buttons = ()) -> None: ...


def staff_chats(services: Services) -> list[int]:
    """The staff chat, or every admin privately when no staff chat is configured."""
    if services.settings.staff_chat_id is not None:
        return [services.settings.staff_chat_id]
    return list(services.settings.admin_ids)


def join_reasons(reasons: Sequence[str]) -> str:
    return "\n".join(reason for reason in reasons if reason)


@dataclass(frozen=True)
class Routing:
    """Where a client message went: a new case, an existing one (maybe raised to urgent), or none."""

    escalation_id: int | None
    level: TriageLevel
    created: bool = False
    joined: bool = False
    upgraded: bool = False
    card_timer_id: int | None = None


class StaffAction(StrEnum):
    DONE = "done"
    ALREADY_YOURS = "already_yours"
    TAKEN = "taken"
    RESOLVED = "resolved"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class StaffActionResult:
    status: StaffAction
    holder: str | None = None


class RelayStatus(StrEnum):
    SENT = "sent"
    QUEUED = "queued"  # Telegram is not taking it now; it is sent later and its author told then
    NOT_A_CASE = "not_a_case"
    ERASED = "erased"  # a post of a case whose client has since erased their data
    EMPTY = "empty"
    BLOCKED = "blocked"
    FAILED = "failed"


RELAY_STATUS = {
    Outcome.SENT: RelayStatus.SENT, Outcome.WAITING: RelayStatus.QUEUED,
    Outcome.BLOCKED: RelayStatus.BLOCKED, Outcome.REJECTED: RelayStatus.FAILED,
}


@dataclass(frozen=True)
class StaffMessage:
    """A staff member's reply in a staff chat, as the domain needs it."""

    chat_id: int
    message_id: int
    reply_to_message_id: int
    author_id: int
    author_name: str
    kind: str  # text, photo, or another media kind
    text: str | None = None
    photo_file_id: str | None = None


class EscalationDesk:
    def __init__(self, services: Services, messenger: Messenger, outbox: Outbox | None = None) -> None:
        self.svc = services
        self.messenger = messenger
        self.outbox = outbox or Outbox(services, messenger)
        self.texts = CaseTexts(services)
        # Card edits of one case in turn, so an older state can never overwrite a newer one.
        self._card_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def _t(self, key: str, **values: object) -> str:
        return self.texts.t(key, **values)

    # -- opening and joining cases (inside the caller's transaction) --------------------------------------

    async def route(
        self,
        session: AsyncSession,
        *,
        client: Client,
        enrolment: Enrolment | None,
        level: TriageLevel,
        reasons: Sequence[str],
        now: datetime,
        kind: str = KIND_MESSAGE,
    ) -> Routing:
        """Open a case for a worrying message, or add the message to the client's open case."""
        escalation = await repo.open_for_client(session, client.id)
        if escalation is not None:
            upgraded = level == TriageLevel.URGENT and escalation.level != TriageLevel.URGENT
            if upgraded:
                escalation.level = TriageLevel.URGENT
                escalation.reasons = join_reasons([escalation.reasons, *reasons])
                if escalation.state == EscalationState.OPEN:
                    await self._schedule_realert(session, escalation.id, now)
                await audit.record(session, now=now, action="escalation_upgraded", client_id=client.id,
                                   escalation_id=escalation.id, detail={"reasons": list(reasons)})
            return Routing(escalation.id, TriageLevel(escalation.level), joined=True, upgraded=upgraded)
        if level == TriageLevel.ROUTINE:
            return Routing(None, level)
        escalation = Escalation(
            client_id=client.id, enrolment_id=enrolment.id if enrolment else None, level=level, kind=kind,
            state=EscalationState.OPEN, reasons=join_reasons(reasons), created_at=now,
        )
        session.add(escalation)
        await session.flush()
        card = await timers.schedule(session, kind=CARD_TIMER, subject_id=escalation.id, due_at=now, now=now)
        if level == TriageLevel.URGENT:
            await self._schedule_realert(session, escalation.id, now)
        await audit.record(session, now=now, action="escalation_opened", client_id=client.id,
                           escalation_id=escalation.id, detail={"level": level, "kind": kind,
                                                                "reasons": list(reasons)})
        return Routing(escalation.id, level, created=True, card_timer_id=card.id)

    async def _schedule_realert(self, session: AsyncSession, escalation_id: int, now: datetime) -> None:
        due = now + self.svc.settings.escalation_realert_after
        await timers.schedule(session, kind=REALERT_TIMER, subject_id=escalation_id, due_at=due, now=now)

    # -- posting to staff ----------------------------------------------------------------------------------

    async def queue_for_staff(
        self, session: AsyncSession, routing: Routing, message: ConversationMessage | None, client: Client
    ) -> None:
        """Inside the routing's transaction: a message joining an open case is queued under its card."""
        if not routing.joined or routing.escalation_id is None or message is None:
            return
        html = self.texts.thread(message, client, upgraded=routing.upgraded)
        await self.outbox.to_staff(session, html, escalation_id=routing.escalation_id, role=ROLE_THREAD,
                                   client_id=client.id)
        await self._queue_media(session, routing.escalation_id, message, client)

    async def queue_note(self, session: AsyncSession, escalation_id: int, html: str, client_id: int | None) -> None:
        await self.outbox.to_staff(session, html, escalation_id=escalation_id, role=ROLE_NOTE, client_id=client_id)

    async def publish(self, routing: Routing) -> None:
        """After the routing is committed: the new card, the raised level, and whatever was queued for staff."""
        if routing.escalation_id is None:
            return
        if routing.created and routing.card_timer_id is not None:
            await self.post_card_now(routing.card_timer_id, routing.escalation_id)
        elif routing.upgraded:
            await self.refresh_cards(routing.escalation_id)
        await self.outbox.deliver(*staff_chats(self.svc))

    async def post_card_now(self, timer_id: int, escalation_id: int) -> None:
        """Post the card at once; if that fails, the claimed card timer is left for the timer runner to retry."""
        async with self.svc.session_factory.begin() as session:
            if not await timers.claim_one(session, timer_id, now=self.svc.clock.now()):
                return  # the timer runner is already on it
        try:
            await self.post_card(escalation_id)
        except NotRecorded:
            return  # posted, but not recorded: the timer stays claimed until the send lease ends
        except Exception as exc:
            delay = _delay(exc) if isinstance(exc, SendRetryLater) else RETRY_SOON
            if not isinstance(exc, SendRetryLater):
                log.exception("could not post the card of case %s now", escalation_id)
            async with self.svc.session_factory.begin() as session:
                await timers.retry_at(session, timer_id, self.svc.clock.now() + delay)
            log.warning("card of case %s not posted yet (%s); will retry", escalation_id, exc)
            return
        async with self.svc.session_factory.begin() as session:
            await timers.finish(session, timer_id)

    async def post_card(self, escalation_id: int) -> None:
        """Post the card to every staff chat that does not have it yet. Raises SendRetryLater to be retried, and
        NotRecorded when a card went out but could not be recorded (its timer is then left to the send lease)."""
        async with self.svc.session_factory() as session:
            view = await self.texts.view(session, escalation_id)
        if view is None:
            return
        destinations = staff_chats(self.svc)
        if not destinations:
            log.error("no STAFF_CHAT_ID or ADMIN_IDS configured; case %s cannot be shown to anyone", escalation_id)
        html, buttons = self.texts.card(view), self.texts.buttons(view.escalation)
        postponed: SendRetryLater | None = None
        fallback: list[int] = []
        while destinations:
            chat_id = destinations.pop(0)
            if chat_id in view.cards:
                continue
            try:
                message_id = await self.messenger.send(OutboundMessage(chat_id, html, buttons))
            except SendRetryLater as exc:
                postponed = exc
                continue
            except (RecipientBlocked, SendRejected) as exc:
                if chat_id == self.svc.settings.staff_chat_id:
                    # Removed from the group, or the group became a supergroup with a new id: no case may be lost.
                    log.error("the staff chat %s refuses messages (%s): is the bot still a member, and is "
                              "STAFF_CHAT_ID current? The card of case %s goes to the admins privately instead",
                              chat_id, exc, escalation_id)
                    fallback = list(self.svc.settings.admin_ids)
                    destinations += fallback
                else:
                    log.exception("could not post the card of case %s to chat %s", escalation_id, chat_id)
                continue
            # A card that went out is recorded however long the database takes (up to half the send lease):
            # a timer retried for want of that record would post a second card.
            await record_confirmed(
                lambda chat_id=chat_id, message_id=message_id: self._record_card(view, chat_id, message_id),
                lease=self.svc.settings.send_lease, what=f"the card of case {escalation_id} went out",
            )
        # The client's photo or other media, under the card.
        await self.outbox.deliver(*staff_chats(self.svc), *fallback)
        if postponed is not None:
            raise postponed

    async def _record_card(self, view: CardView, chat_id: int, message_id: int) -> None:
        async with self.svc.session_factory.begin() as session:
            await self._remember(session, view.escalation.id, chat_id, message_id, ROLE_CARD)
            escalation = await repo.get(session, view.escalation.id)
            if escalation is not None and escalation.card_message_id is None:
                escalation.card_chat_id, escalation.card_message_id = chat_id, message_id
            if view.trigger is not None:
                await self._queue_media(session, view.escalation.id, view.trigger, view.client, chats=[chat_id])

    async def _queue_media(
        self,
        session: AsyncSession,
        escalation_id: int,
        message: ConversationMessage,
        client: Client,
        chats: list[int] | None = None,
    ) -> None:
        """The client's photo (by file id) or other media (copied), to go under the case's card."""
        if message.kind not in MEDIA_KINDS:
            return
        if message.kind == "photo" and message.file_id:
            caption = self._t("esc_media_caption", name=client.name, number=escalation_id)
            await self.outbox.to_staff(session, caption, escalation_id=escalation_id, role=ROLE_MEDIA,
                                       client_id=client.id, photo_file_id=message.file_id, chats=chats)
        elif message.telegram_message_id is not None:
            await self.outbox.to_staff(session, "", escalation_id=escalation_id, role=ROLE_MEDIA, client_id=client.id,
                                       copy_from=(client.chat_id, message.telegram_message_id), chats=chats)

    async def _remember(
        self, session: AsyncSession, escalation_id: int, chat_id: int, message_id: int, role: str
    ) -> None:
        if await repo.post_at(session, chat_id, message_id) is None:
            await repo.add_post(session, escalation_id=escalation_id, chat_id=chat_id, message_id=message_id,
                                role=role, now=self.svc.clock.now())

    async def refresh_cards(self, escalation_id: int) -> None:
        """Show the case's current state (level, who claimed or resolved it) on every copy of its card."""
        lock = self._card_locks.get(escalation_id)
        if lock is None:
            lock = self._card_locks[escalation_id] = asyncio.Lock()
        async with lock:
            async with self.svc.session_factory() as session:
                view = await self.texts.view(session, escalation_id)
            if view is None:
                return
            html, buttons = self.texts.card(view), self.texts.buttons(view.escalation)
            for chat_id, message_id in view.cards.items():
                try:
                    await self.messenger.edit(chat_id, message_id, html, buttons)
                except (SendRetryLater, RecipientBlocked, SendRejected):
                    log.exception("could not update the card of case %s in chat %s", escalation_id, chat_id)

    # -- staff actions -------------------------------------------------------------------------------------

    async def claim(self, escalation_id: int, actor_id: int, actor_name: str) -> StaffActionResult:
        now = self.svc.clock.now()
        async with self.svc.session_factory.begin() as session:
            name = await self._staff_name(session, actor_id, actor_name)
            if not await self._take(session, escalation_id, actor_id, name, now, states=(EscalationState.OPEN,)):
                return await self._refusal(session, escalation_id, actor_id)
            await audit.record(session, now=now, action="escalation_claimed", actor_id=actor_id,
                               escalation_id=escalation_id)
        await self.refresh_cards(escalation_id)
        return StaffActionResult(StaffAction.DONE, name)

    async def resolve(self, escalation_id: int, actor_id: int, actor_name: str) -> StaffActionResult:
        """Any staff member may resolve a case, whoever claimed it: closing is never blocked on one person."""
        now = self.svc.clock.now()
        async with self.svc.session_factory.begin() as session:
            name = await self._staff_name(session, actor_id, actor_name)
            result = await session.execute(
                update(Escalation)
                .where(Escalation.id == escalation_id, Escalation.state.in_(repo.OPEN_STATES))
                .values(state=EscalationState.RESOLVED, resolved_by=actor_id, resolved_by_name=name, resolved_at=now)
            )
            resolved = bool(result.rowcount)
            if resolved:
                await timers.cancel(session, subject_id=escalation_id, kinds=RESPONSE_TIMERS)
                await audit.record(session, now=now, action="escalation_resolved", actor_id=actor_id,
                                   escalation_id=escalation_id)
                status = StaffActionResult(StaffAction.DONE, name)
            else:
                escalation = await repo.get(session, escalation_id)
                status = StaffActionResult(StaffAction.UNKNOWN if escalation is None else StaffAction.RESOLVED)
        if resolved:
            await self.refresh_cards(escalation_id)
        return status

    async def _take(
        self,
        session: AsyncSession,
        escalation_id: int,
        actor_id: int,
        name: str,
        now: datetime,
        *,
        states: Sequence[EscalationState],
    ) -> bool:
        """Claim atomically (a conditional update), so two people pressing at once cannot both win."""
        result = await session.execute(
            update(Escalation)
            .where(Escalation.id == escalation_id, Escalation.state.in_(states))
            .values(state=EscalationState.CLAIMED, claimed_by=actor_id, claimed_by_name=name, claimed_at=now,
                    resolved_by=None, resolved_by_name=None, resolved_at=None)
        )
        if not result.rowcount:
            return False
        await timers.cancel(session, subject_id=escalation_id, kinds=RESPONSE_TIMERS)
        return True

    async def _refusal(self, session: AsyncSession, escalation_id: int, actor_id: int) -> StaffActionResult:
        escalation = await repo.get(session, escalation_id)
        if escalation is None:
            return StaffActionResult(StaffAction.UNKNOWN)
        if escalation.state == EscalationState.RESOLVED:
            return StaffActionResult(StaffAction.RESOLVED)
        if escalation.claimed_by == actor_id:
            return StaffActionResult(StaffAction.ALREADY_YOURS)
        return StaffActionResult(StaffAction.TAKEN, escalation.claimed_by_name or str(escalation.claimed_by))

    async def _staff_name(self, session: AsyncSession, user_id: int, fallback: str) -> str:
        member = await staff_repo.get(session, user_id)
        return member.name if member is not None and member.name else fallback

    # -- staff replies ---------------------------------------------------------------------------------------

    async def case_of_post(self, chat_id: int, message_id: int, *, patience: float = 0.0) -> EscalationPost | None:
        """The record of a staff-chat post of a case (its escalation_id is None once the client's data is erased).
        A post is recorded just after Telegram accepted it, so a very quick reply may arrive first: `patience`
        seconds are allowed for the record to appear."""
        waited = 0.0
        while True:
            async with self.svc.session_factory() as session:
                post = await repo.post_at(session, chat_id, message_id)
            if post is not None or waited >= patience:
                return post
            await asyncio.sleep(POST_POLL)
            waited += POST_POLL

    async def relay(self, reply: StaffMessage) -> RelayStatus:
        """Pass a staff reply to the client, signed as the clinic; the replier takes the case if nobody has.

        The reply is queued with the claim, then sent: its author hears "sent" once it is delivered, at once or
        after a Telegram outage, or why it could not be.
        """
        now = self.svc.clock.now()
        async with self.svc.session_factory() as session:
            post = await repo.post_at(session, reply.chat_id, reply.reply_to_message_id)
            escalation = await repo.get(session, post.escalation_id) if post and post.escalation_id else None
            client = await session.get(Client, escalation.client_id) if escalation else None
        if post is not None and post.escalation_id is None:
            await self._answer_staff(reply, None, self._t("esc_relay_erased"))
            return RelayStatus.ERASED
        if escalation is None or client is None:
            return RelayStatus.NOT_A_CASE
        has_text = bool(reply.text and reply.text.strip())
        if not has_text and reply.kind not in MEDIA_KINDS:
            await self._answer_staff(reply, escalation.id, self._t("esc_relay_empty"))
            return RelayStatus.EMPTY

        async with self.svc.session_factory.begin() as session:
            name = await self._staff_name(session, reply.author_id, reply.author_name)
            # Answering is taking care of the case: an unclaimed case becomes the replier's, a resolved one
            # is opened again so that the client's answer reaches the team.
            took = await self._take(session, escalation.id, reply.author_id, name, now,
                                    states=(EscalationState.OPEN,))
            reopened = not took and await self._take(session, escalation.id, reply.author_id, name, now,
                                                     states=(EscalationState.RESOLVED,))
            sent_key = "esc_relay_reopened" if reopened else "esc_relay_sent"
            report = Report(reply.chat_id, reply.message_id,
                            self._t(sent_key, name=client.name, number=escalation.id))
            queued = await self._queue_staff_reply(session, client, escalation, reply, has_text, report)
            await audit.record(session, now=now, action="staff_reply", actor_id=reply.author_id,
                               client_id=client.id, escalation_id=escalation.id,
                               detail={"claimed": took, "reopened": reopened, "kind": reply.kind})
            await self._remember(session, escalation.id, reply.chat_id, reply.message_id, ROLE_STAFF)
        if took or reopened:
            await self.refresh_cards(escalation.id)
        outcome = (await self.outbox.deliver(client.chat_id)).get(queued, Outcome.WAITING)
        if outcome == Outcome.WAITING:
            await self._answer_staff(reply, escalation.id, self._t("esc_relay_queued", name=client.name),
                                     client_id=client.id)
        return RELAY_STATUS[outcome]

    async def _queue_staff_reply(
        self, session: AsyncSession, client: Client, escalation: Escalation, reply: StaffMessage, has_text: bool,
        report: Report,
    ) -> int:
        """Queue the reply for the client (a text, a photo, or a heading and a copy); returns the last one's id."""
        language = client.language
        if has_text:
            signed = self.svc.text("esc_staff_reply", language, text=reply.text)
        else:
            signed = self.svc.text("esc_staff_reply_media", language)
        record = ConversationMessage(
            client_id=client.id, enrolment_id=escalation.enrolment_id, escalation_id=escalation.id,
            direction=conversation_repo.OUT, author_id=reply.author_id, kind=reply.kind, text=reply.text,
            file_id=reply.photo_file_id, at=self.svc.clock.now(),
        )
        if reply.kind == "text":
            queued = await self.outbox.to_client(session, client, signed, record=record, report=report)
        elif reply.kind == "photo" and reply.photo_file_id:
            queued = await self.outbox.to_client(session, client, signed, record=record,
                                                 photo_file_id=reply.photo_file_id, report=report)
        else:
            await self.outbox.to_client(session, client, signed, record=None)
            queued = await self.outbox.to_client(session, client, "", record=record,
                                                 copy_from=(reply.chat_id, reply.message_id), report=report)
        return queued.id

    async def _answer_staff(
        self, reply: StaffMessage, escalation_id: int | None, html: str, client_id: int | None = None
    ) -> None:
        """Answer a staff member's message; part of the case (a reply to it reaches the client) when there is one."""
        async with self.svc.session_factory.begin() as session:
            await self.outbox.to_staff(session, html, escalation_id=escalation_id,
                                       role=ROLE_CONFIRM if escalation_id is not None else None,
                                       client_id=client_id, chats=[reply.chat_id], reply_to=reply.message_id)
        await self.outbox.deliver(reply.chat_id)

    # -- messages to clients ---------------------------------------------------------------------------------

    async def tell_client(
        self,
        session: AsyncSession,
        client: Client,
        html: str,
        *,
        kind: str,
        escalation_id: int | None = None,
        enrolment_id: int | None = None,
        reply_to: int | None = None,
    ) -> int:
        """Inside the caller's transaction: queue a message for the client and keep a copy in the conversation.
        Returns the queued message's id; outbox.deliver(client.chat_id) sends it once committed."""
        queued = await self.outbox.to_client(session, client, html, reply_to=reply_to, record=ConversationMessage(
            client_id=client.id, enrolment_id=enrolment_id, escalation_id=escalation_id,
            direction=conversation_repo.OUT, kind=kind, text=plain_text(html), at=self.svc.clock.now(),
        ))
        return queued.id

    # -- response-time timers --------------------------------------------------------------------------------

    async def realert(self, timer: Timer) -> datetime | None:
        """Nobody claimed an urgent case in time: announce it again, naming the admins."""
        escalation_id = timer.subject_id
        async with self.svc.session_factory.begin() as session:
            escalation = await repo.get(session, escalation_id)
            if escalation is None or escalation.state != EscalationState.OPEN:
                return None
            # The final timer is scheduled with the announcement: if it exists, this timer ran already (and its
            # end was not recorded), so announcing again would repeat it.
            if await timers.exists(session, kind=FINAL_TIMER, subject_id=escalation_id):
                return None
            client = await session.get(Client, escalation.client_id)
            admins = await self._admins(session)
            # From the original due time, so a staff chat outage cannot delay the client.
            await timers.schedule(session, kind=FINAL_TIMER, subject_id=escalation_id,
                                  due_at=timer.due_at + self.svc.settings.escalation_final_after,
                                  now=self.svc.clock.now())
            await audit.record(session, now=self.svc.clock.now(), action="escalation_realerted",
                               escalation_id=escalation_id, client_id=escalation.client_id)
            minutes = _minutes(self.svc.settings.escalation_realert_after)
            lines = [self._t("esc_realert", number=escalation_id, name=client.name if client else "?",
                             minutes=minutes)]
            if admins:
                lines.append(", ".join(self._t("esc_mention", user_id=user_id, name=name) for user_id, name in admins))
            await self.outbox.to_staff(session, "\n".join(lines), escalation_id=escalation_id, role=ROLE_REALERT,
                                       client_id=escalation.client_id)
        await self.outbox.deliver(*staff_chats(self.svc))
        return None

    async def final_notice(self, timer: Timer) -> datetime | None:
        """Still unclaimed: the client is told to call the clinic directly or emergency services."""
        escalation_id = timer.subject_id
        async with self.svc.session_factory.begin() as session:
            escalation = await repo.get(session, escalation_id)
            if escalation is None or escalation.state != EscalationState.OPEN:
                return None
            client = await session.get(Client, escalation.client_id)
            if client is None:
                return None
            if await conversation_repo.has_out(session, escalation_id, FINAL_KIND):
                return None  # told already: this timer ran before and its end was not recorded
            queued = await self.tell_client(
                session, client, self.svc.text("esc_final_call_clinic", client.language), kind=FINAL_KIND,
                escalation_id=escalation_id, enrolment_id=escalation.enrolment_id,
            )
        outcome = (await self.outbox.deliver(client.chat_id)).get(queued, Outcome.WAITING)
        # Waiting counts as told: it goes out as soon as Telegram takes it, as this note does.
        told = outcome in (Outcome.SENT, Outcome.WAITING)
        total = self.svc.settings.escalation_realert_after + self.svc.settings.escalation_final_after
        key = "esc_final_staff_note" if told else "esc_final_staff_unreachable"
        async with self.svc.session_factory.begin() as session:
            await audit.record(session, now=self.svc.clock.now(), action="escalation_final_notice",
                               escalation_id=escalation_id, client_id=client.id, detail={"told": told})
            await self.queue_note(session, escalation_id, self._t(key, number=escalation_id, name=client.name,
                                                                  minutes=_minutes(total)), client.id)
        await self.outbox.deliver(*staff_chats(self.svc))
        return None

    async def _admins(self, session: AsyncSession) -> list[tuple[int, str]]:
        names = {member.user_id: member.name for member in await staff_repo.all_members(session)
                 if member.role == Role.ADMIN}
        for user_id in self.svc.settings.admin_ids:
            member = await session.get(StaffMember, user_id)
            names.setdefault(user_id, member.name if member is not None else "")
        return [(user_id, name or str(user_id)) for user_id, name in names.items()]

    async def open_cases_messages(self) -> list[str]:
        async with self.svc.session_factory() as session:
            return await self.texts.open_cases(session, self.svc.clock.now())


def _minutes(delta: timedelta) -> int:
    return round(delta.total_seconds() / 60)


def _delay(exc: SendRetryLater) -> timedelta:
    return timedelta(seconds=exc.retry_after) if exc.retry_after else RETRY_SOON


