"""Staff replies to a case, passed on to the client signed as the clinic.

A reply to any post of a case (the card, a thread post, a confirmation) reaches its client; replying also takes
the case, or opens a resolved one again. The reply goes through the outbox, and its author hears "sent" once it
is delivered, at once or after a Telegram outage, or why it could not be.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Client, ConversationMessage, Escalation, EscalationState
from aftercare_bot.db.repositories import audit
from aftercare_bot.db.repositories import conversation as conversation_repo
from aftercare_bot.db.repositories import escalations as repo
from aftercare_bot.delivery.outbox import Outbox, Outcome, Report
from aftercare_bot.escalation.actions import StaffActions
from aftercare_bot.escalation.cards import MEDIA_KINDS, CaseTexts
from aftercare_bot.escalation.posts import ROLE_CONFIRM, ROLE_STAFF, CasePosts
from aftercare_bot.services import Services


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


class StaffReplies:
    def __init__(
        self, services: Services, outbox: Outbox, posts: CasePosts, actions: StaffActions, texts: CaseTexts
    ) -> None:
        self.svc = services
        self.outbox = outbox
        self.posts = posts
        self.actions = actions
        self.texts = texts

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
            await self._answer_staff(reply, None, self.texts.t("esc_relay_erased"))
            return RelayStatus.ERASED
        if escalation is None or client is None:
            return RelayStatus.NOT_A_CASE
        has_text = bool(reply.text and reply.text.strip())
        if not has_text and reply.kind not in MEDIA_KINDS:
            await self._answer_staff(reply, escalation.id, self.texts.t("esc_relay_empty"))
            return RelayStatus.EMPTY

        async with self.svc.session_factory.begin() as session:
            # The case may have been erased since it was read, and its number given to another client's case:
            # act only on the case with the same ref (the conditional updates below check it too).
            erased = not await repo.still_there(session, escalation.id, escalation.ref)
            if not erased:
                took, reopened, queued = await self._take_and_queue(session, reply, escalation, client, has_text, now)
        if erased:
            await self._answer_staff(reply, None, self.texts.t("esc_relay_erased"))
            return RelayStatus.ERASED
        if took or reopened:
            await self.posts.refresh_cards(escalation.id)
        outcome = (await self.outbox.deliver(client.chat_id)).get(queued, Outcome.WAITING)
        if outcome == Outcome.WAITING:
            await self._answer_staff(reply, escalation.id, self.texts.t("esc_relay_queued", name=client.name),
                                     client_id=client.id)
        return RELAY_STATUS[outcome]

    async def _take_and_queue(
        self, session: AsyncSession, reply: StaffMessage, escalation: Escalation, client: Client, has_text: bool,
        now: datetime,
    ) -> tuple[bool, bool, int]:
        """Answering is taking care of the case: an unclaimed case becomes the replier's, a resolved one is opened
        again so that the client's answer reaches the team. Returns (took, reopened, the queued reply's id)."""
        name = await self.actions.staff_name(session, reply.author_id, reply.author_name)
        took = await self.actions.take(session, escalation.id, reply.author_id, name, now,
                                       states=(EscalationState.OPEN,), ref=escalation.ref)
        reopened = not took and await self.actions.take(session, escalation.id, reply.author_id, name, now,
                                                        states=(EscalationState.RESOLVED,), ref=escalation.ref)
        sent_key = "esc_relay_reopened" if reopened else "esc_relay_sent"
        report = Report(reply.chat_id, reply.message_id,
                        self.texts.t(sent_key, name=client.name, number=escalation.id))
        queued = await self._queue_staff_reply(session, client, escalation, reply, has_text, report)
        await audit.record(session, now=now, action="staff_reply", actor_id=reply.author_id,
                           client_id=client.id, escalation_id=escalation.id,
                           detail={"claimed": took, "reopened": reopened, "kind": reply.kind})
        await self.posts.remember(session, escalation.id, reply.chat_id, reply.message_id, ROLE_STAFF)
        return took, reopened, queued

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
        return queued.message.id

    async def _answer_staff(
        self, reply: StaffMessage, escalation_id: int | None, html: str, client_id: int | None = None
    ) -> None:
        """Answer a staff member's message; part of the case (a reply to it reaches the client) when there is one."""
        async with self.svc.session_factory.begin() as session:
            await self.outbox.to_staff(session, html, escalation_id=escalation_id,
                                       role=ROLE_CONFIRM if escalation_id is not None else None,
                                       client_id=client_id, chats=[reply.chat_id], reply_to=reply.message_id)
        await self.outbox.deliver(reply.chat_id)
