"""Escalations: a worrying client message becomes a case card in the staff chat, which staff claim and resolve.

A client has at most one unresolved case; later messages join it and are threaded under its card. Every
bot post that belongs to a case is remembered (EscalationPost), so a staff reply to any of them reaches the
client. Urgent cases nobody claims are announced again, then the client is told to call the clinic; both
are durable timers, so a restart loses neither.
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

from aftercare_bot.db import audit, timers
from aftercare_bot.db import conversation as conversation_repo
from aftercare_bot.db import escalations as repo
from aftercare_bot.db import staff as staff_repo
from aftercare_bot.db.models import (
    Client,
    ConversationMessage,
    Enrolment,
    Escalation,
    EscalationState,
    Role,
    StaffMember,
    Timer,
)
from aftercare_bot.escalation_cards import KIND_MESSAGE, MEDIA_KINDS, Buttons, CaseTexts
from aftercare_bot.outbound import OutboundMessage, RecipientBlocked, Sender, SendRejected, SendRetryLater
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
ROLE_CONFIRM = "confirm"

RETRY_SOON = timedelta(seconds=30)
POST_POLL = 0.1


class Messenger(Sender, Protocol):
    """A Sender that can also change its earlier messages and copy someone's message to another chat."""

    async def edit(self, chat_id: int, message_id: int, html: str, buttons: Buttons = ()) -> None: ...

    async def copy(
        self, chat_id: int, from_chat_id: int, message_id: int, *, reply_to_message_id: int | None = None
    ) -> int: ...


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
    NOT_A_CASE = "not_a_case"
    EMPTY = "empty"
    BLOCKED = "blocked"
    FAILED = "failed"


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
    def __init__(self, services: Services, messenger: Messenger) -> None:
        self.svc = services
        self.messenger = messenger
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

    async def publish(self, routing: Routing, message: ConversationMessage | None) -> None:
        """After the routing is committed: the new card, or the message threaded under the open case."""
        if routing.escalation_id is None:
            return
        if routing.created and routing.card_timer_id is not None:
            await self.post_card_now(routing.card_timer_id, routing.escalation_id)
        elif routing.joined and message is not None:
            await self.post_thread(routing.escalation_id, message, upgraded=routing.upgraded)
            if routing.upgraded:
                await self.refresh_cards(routing.escalation_id)

    async def post_card_now(self, timer_id: int, escalation_id: int) -> None:
        """Post the card at once; if that fails, the claimed card timer is left for the timer runner to retry."""
        async with self.svc.session_factory.begin() as session:
            if not await timers.claim_one(session, timer_id, now=self.svc.clock.now()):
                return  # the timer runner is already on it
        try:
            await self.post_card(escalation_id)
        except SendRetryLater as exc:
            async with self.svc.session_factory.begin() as session:
                await timers.retry_at(session, timer_id, self.svc.clock.now() + _delay(exc))
            log.warning("card of case %s not posted yet (%s); will retry", escalation_id, exc)
            return
        async with self.svc.session_factory.begin() as session:
            await timers.finish(session, timer_id)

    async def post_card(self, escalation_id: int) -> None:
        """Post the card to every staff chat that does not have it yet. Raises SendRetryLater to be retried."""
        async with self.svc.session_factory() as session:
            view = await self.texts.view(session, escalation_id)
        if view is None:
            return
        destinations = staff_chats(self.svc)
        if not destinations:
            log.error("no STAFF_CHAT_ID or ADMIN_IDS configured; case %s cannot be shown to anyone", escalation_id)
        html, buttons = self.texts.card(view), self.texts.buttons(view.escalation)
        postponed: SendRetryLater | None = None
        for chat_id in destinations:
            if chat_id in view.cards:
                continue
            try:
                message_id = await self.messenger.send(OutboundMessage(chat_id, html, buttons))
            except SendRetryLater as exc:
                postponed = exc
                continue
            except (RecipientBlocked, SendRejected):
                log.exception("could not post the card of case %s to chat %s", escalation_id, chat_id)
                continue
            async with self.svc.session_factory.begin() as session:
                await self._remember(session, view.escalation.id, chat_id, message_id, ROLE_CARD)
                escalation = await repo.get(session, escalation_id)
                if escalation is not None and escalation.card_message_id is None:
                    escalation.card_chat_id, escalation.card_message_id = chat_id, message_id
            if view.trigger is not None:
                await self._post_media(chat_id, message_id, view.trigger, view.client, escalation_id)
        if postponed is not None:
            raise postponed

    async def post_thread(self, escalation_id: int, message: ConversationMessage, *, upgraded: bool) -> None:
        """A later client message, posted as a reply to the card in every staff chat."""
        async with self.svc.session_factory() as session:
            client = await session.get(Client, message.client_id)
            cards = await repo.cards(session, escalation_id)
        if client is None:
            return
        html = self.texts.thread(message, client, upgraded=upgraded)
        await self._post_to_staff(escalation_id, html, cards, ROLE_THREAD, media_of=(message, client))

    async def post_note(self, escalation_id: int, html: str, role: str = ROLE_NOTE) -> None:
        async with self.svc.session_factory() as session:
            cards = await repo.cards(session, escalation_id)
        await self._post_to_staff(escalation_id, html, cards, role)

    async def _post_to_staff(
        self,
        escalation_id: int,
        html: str,
        cards: dict[int, int],
        role: str,
        media_of: tuple[ConversationMessage, Client] | None = None,
        raise_retry: bool = False,
    ) -> None:
        postponed: SendRetryLater | None = None
        for chat_id in staff_chats(self.svc):
            reply_to = cards.get(chat_id)
            try:
                message_id = await self.messenger.send(OutboundMessage(chat_id, html, reply_to_message_id=reply_to))
            except SendRetryLater as exc:
                postponed = exc
                log.warning("could not post to staff chat %s for case %s: %s", chat_id, escalation_id, exc)
                continue
            except (RecipientBlocked, SendRejected):
                log.exception("could not post to staff chat %s for case %s", chat_id, escalation_id)
                continue
            async with self.svc.session_factory.begin() as session:
                await self._remember(session, escalation_id, chat_id, message_id, role)
            if media_of is not None:
                await self._post_media(chat_id, reply_to or message_id, media_of[0], media_of[1], escalation_id)
        if postponed is not None and raise_retry:
            raise postponed

    async def _post_media(
        self, chat_id: int, reply_to: int, message: ConversationMessage, client: Client, escalation_id: int
    ) -> None:
        """The client's photo (by file id) or other media (copied), as a reply under the case."""
        if message.kind not in MEDIA_KINDS:
            return
        try:
            if message.kind == "photo" and message.file_id:
                caption = self._t("esc_media_caption", name=client.name, number=escalation_id)
                message_id = await self.messenger.send(
                    OutboundMessage(chat_id, caption, reply_to_message_id=reply_to, photo_file_id=message.file_id)
                )
            elif message.telegram_message_id is not None:
                message_id = await self.messenger.copy(
                    chat_id, client.chat_id, message.telegram_message_id, reply_to_message_id=reply_to
                )
            else:
                return
        except (SendRetryLater, RecipientBlocked, SendRejected):
            log.exception("could not attach the %s of case %s in chat %s", message.kind, escalation_id, chat_id)
            return
        async with self.svc.session_factory.begin() as session:
            await self._remember(session, escalation_id, chat_id, message_id, ROLE_MEDIA)

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

    async def case_of_post(self, chat_id: int, message_id: int, *, patience: float = 0.0) -> int | None:
        """The case a staff-chat post belongs to. A post is recorded just after Telegram accepted it, so a
        very quick reply may arrive first: `patience` seconds are allowed for the record to appear."""
        waited = 0.0
        while True:
            async with self.svc.session_factory() as session:
                post = await repo.post_at(session, chat_id, message_id)
            if post is not None or waited >= patience:
                return post.escalation_id if post else None
            await asyncio.sleep(POST_POLL)
            waited += POST_POLL

    async def relay(self, reply: StaffMessage) -> RelayStatus:
        """Pass a staff reply to the client, signed as the clinic; the replier takes the case if nobody has."""
        now = self.svc.clock.now()
        async with self.svc.session_factory() as session:
            post = await repo.post_at(session, reply.chat_id, reply.reply_to_message_id)
            escalation = await repo.get(session, post.escalation_id) if post else None
            client = await session.get(Client, escalation.client_id) if escalation else None
        if escalation is None or client is None:
            return RelayStatus.NOT_A_CASE
        has_text = bool(reply.text and reply.text.strip())
        if not has_text and reply.kind not in MEDIA_KINDS:
            await self._confirm(reply, escalation.id, self._t("esc_relay_empty"))
            return RelayStatus.EMPTY
        try:
            sent_id = await self._deliver_staff_reply(client, reply, has_text)
        except RecipientBlocked:
            await self._confirm(reply, escalation.id, self._t("esc_relay_failed", name=client.name))
            return RelayStatus.BLOCKED
        except (SendRetryLater, SendRejected) as exc:
            log.warning("staff reply to client %s not delivered: %s", client.id, exc)
            await self._confirm(reply, escalation.id, self._t("esc_relay_error", name=client.name))
            return RelayStatus.FAILED

        async with self.svc.session_factory.begin() as session:
            await conversation_repo.add(session, ConversationMessage(
                client_id=client.id, enrolment_id=escalation.enrolment_id, escalation_id=escalation.id,
                direction=conversation_repo.OUT, author_id=reply.author_id, kind=reply.kind, text=reply.text,
                file_id=reply.photo_file_id, telegram_message_id=sent_id, at=now,
            ))
            name = await self._staff_name(session, reply.author_id, reply.author_name)
            # Answering is taking care of the case: an unclaimed case becomes the replier's, a resolved one
            # is opened again so that the client's answer reaches the team.
            took = await self._take(session, escalation.id, reply.author_id, name, now,
                                    states=(EscalationState.OPEN,))
            reopened = not took and await self._take(session, escalation.id, reply.author_id, name, now,
                                                     states=(EscalationState.RESOLVED,))
            await audit.record(session, now=now, action="staff_reply", actor_id=reply.author_id,
                               client_id=client.id, escalation_id=escalation.id,
                               detail={"claimed": took, "reopened": reopened, "kind": reply.kind})
            await self._remember(session, escalation.id, reply.chat_id, reply.message_id, ROLE_STAFF)
        if took or reopened:
            await self.refresh_cards(escalation.id)
        key = "esc_relay_reopened" if reopened else "esc_relay_sent"
        await self._confirm(reply, escalation.id, self._t(key, name=client.name, number=escalation.id))
        return RelayStatus.SENT

    async def _deliver_staff_reply(self, client: Client, reply: StaffMessage, has_text: bool) -> int:
        language = client.language
        if has_text:
            signed = self.svc.text("esc_staff_reply", language, text=reply.text)
        else:
            signed = self.svc.text("esc_staff_reply_media", language)
        if reply.kind == "text":
            return await self.messenger.send(OutboundMessage(client.chat_id, signed))
        if reply.kind == "photo" and reply.photo_file_id:
            return await self.messenger.send(OutboundMessage(client.chat_id, signed, photo_file_id=reply.photo_file_id))
        await self.messenger.send(OutboundMessage(client.chat_id, signed))
        return await self.messenger.copy(client.chat_id, reply.chat_id, reply.message_id)

    async def _confirm(self, reply: StaffMessage, escalation_id: int, html: str) -> None:
        try:
            message_id = await self.messenger.send(
                OutboundMessage(reply.chat_id, html, reply_to_message_id=reply.message_id)
            )
        except (SendRetryLater, RecipientBlocked, SendRejected):
            log.exception("could not confirm a staff reply in chat %s", reply.chat_id)
            return
        async with self.svc.session_factory.begin() as session:
            await self._remember(session, escalation_id, reply.chat_id, message_id, ROLE_CONFIRM)

    # -- messages to clients ---------------------------------------------------------------------------------

    async def send_to_client(
        self,
        client: Client,
        html: str,
        *,
        kind: str,
        escalation_id: int | None = None,
        enrolment_id: int | None = None,
        reply_to: int | None = None,
    ) -> int:
        """Send and keep a copy in the conversation; send errors are the caller's to handle."""
        message_id = await self.messenger.send(OutboundMessage(client.chat_id, html, reply_to_message_id=reply_to))
        async with self.svc.session_factory.begin() as session:
            await conversation_repo.add(session, ConversationMessage(
                client_id=client.id, enrolment_id=enrolment_id, escalation_id=escalation_id,
                direction=conversation_repo.OUT, kind=kind, text=plain_text(html), telegram_message_id=message_id,
                at=self.svc.clock.now(),
            ))
        return message_id

    # -- response-time timers --------------------------------------------------------------------------------

    async def realert(self, timer: Timer) -> datetime | None:
        """Nobody claimed an urgent case in time: announce it again, naming the admins."""
        escalation_id = timer.subject_id
        async with self.svc.session_factory.begin() as session:
            escalation = await repo.get(session, escalation_id)
            if escalation is None or escalation.state != EscalationState.OPEN:
                return None
            client = await session.get(Client, escalation.client_id)
            admins = await self._admins(session)
            # Scheduled first, from the original due time, so a staff chat outage cannot delay the client.
            if not await timers.exists(session, kind=FINAL_TIMER, subject_id=escalation_id):
                await timers.schedule(session, kind=FINAL_TIMER, subject_id=escalation_id,
                                      due_at=timer.due_at + self.svc.settings.escalation_final_after,
                                      now=self.svc.clock.now())
            await audit.record(session, now=self.svc.clock.now(), action="escalation_realerted",
                               escalation_id=escalation_id, client_id=escalation.client_id)
        minutes = _minutes(self.svc.settings.escalation_realert_after)
        lines = [self._t("esc_realert", number=escalation_id, name=client.name if client else "?", minutes=minutes)]
        if admins:
            lines.append(", ".join(self._t("esc_mention", user_id=user_id, name=name) for user_id, name in admins))
        async with self.svc.session_factory() as session:
            cards = await repo.cards(session, escalation_id)
        await self._post_to_staff(escalation_id, "\n".join(lines), cards, ROLE_REALERT, raise_retry=True)
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
        told = True
        try:
            await self.send_to_client(
                client, self.svc.text("esc_final_call_clinic", client.language), kind="final",
                escalation_id=escalation_id, enrolment_id=escalation.enrolment_id,
            )
        except (RecipientBlocked, SendRejected):
            log.exception("could not tell client %s to call the clinic", client.id)
            told = False
        async with self.svc.session_factory.begin() as session:
            await audit.record(session, now=self.svc.clock.now(), action="escalation_final_notice",
                               escalation_id=escalation_id, client_id=client.id, detail={"told": told})
        total = self.svc.settings.escalation_realert_after + self.svc.settings.escalation_final_after
        key = "esc_final_staff_note" if told else "esc_final_staff_unreachable"
        await self.post_note(escalation_id, self._t(key, number=escalation_id, name=client.name,
                                                     minutes=_minutes(total)))
        return None

    async def _admins(self, session: AsyncSession) -> list[tuple[int, str]]:
        names = {member.user_id: member.name for member in await staff_repo.all_members(session)
                 if member.role == Role.ADMIN}
        for user_id in self.svc.settings.admin_ids:
            member = await session.get(StaffMember, user_id)
            names.setdefault(user_id, member.name if member is not None else "")
        return [(user_id, name or str(user_id)) for user_id, name in names.items()]

    async def open_cases_html(self) -> str:
        async with self.svc.session_factory() as session:
            return await self.texts.open_cases(session, self.svc.clock.now())


def _minutes(delta: timedelta) -> int:
    return round(delta.total_seconds() / 60)


def _delay(exc: SendRetryLater) -> timedelta:
    return timedelta(seconds=exc.retry_after) if exc.retry_after else RETRY_SOON


