"""A case in the staff chats: its card, the posts under it (client messages, media, notes), and which bot
message belongs to which case.

Every bot post that belongs to a case is remembered (EscalationPost), so a staff reply to any of them reaches
the client. The card is posted directly and recorded however long the database takes; everything else goes
through the outbox, so a Telegram outage delays it but never loses it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from datetime import timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Client, ConversationMessage, EscalationPost
from aftercare_bot.db.repositories import escalations as repo
from aftercare_bot.db.repositories import timers
from aftercare_bot.db.write_turns import write_turn
from aftercare_bot.delivery.confirmed_sends import NotRecorded
from aftercare_bot.delivery.confirmed_sends import record as record_confirmed
from aftercare_bot.delivery.outbox import Outbox, OutboxMessenger
from aftercare_bot.delivery.ports import OutboundMessage, RecipientBlocked, SendRejected, SendRetryLater
from aftercare_bot.delivery.send_records import PostedCard
from aftercare_bot.delivery.staff_notify import staff_destinations
from aftercare_bot.escalation.cards import MEDIA_KINDS, Buttons, CardView, CaseTexts
from aftercare_bot.services import Services

log = logging.getLogger(__name__)

# What a staff-chat post of a case is.
ROLE_CARD = repo.CARD
ROLE_THREAD = "thread"
ROLE_MEDIA = "media"
ROLE_REALERT = "realert"
ROLE_NOTE = "note"
ROLE_STAFF = "staff"
ROLE_CONFIRM = repo.CONFIRM

RETRY_SOON = timedelta(seconds=30)
POST_POLL = 0.1


class Messenger(OutboxMessenger, Protocol):
    """A Sender that can also change its earlier messages and copy someone's message to another chat."""

    async def edit(self, chat_id: int, message_id: int, html: str, buttons: Buttons = ()) -> None: ...


class CasePosts:
    def __init__(self, services: Services, messenger: Messenger, outbox: Outbox, texts: CaseTexts) -> None:
        self.svc = services
        self.messenger = messenger
        self.outbox = outbox
        self.texts = texts
        # Card edits of one case in turn, so an older state can never overwrite a newer one.
        self._card_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    # -- queued under the card, inside the caller's transaction -----------------------------------------------

    async def queue_thread(
        self, session: AsyncSession, escalation_id: int, message: ConversationMessage, client: Client, *,
        upgraded: bool,
    ) -> None:
        """A client message joining an open case, with its media, to go under the case's card."""
        html = self.texts.thread(message, client, upgraded=upgraded)
        await self.outbox.to_staff(session, html, escalation_id=escalation_id, role=ROLE_THREAD, client_id=client.id)
        await self.queue_media(session, escalation_id, message, client)

    async def queue_note(self, session: AsyncSession, escalation_id: int, html: str, client_id: int | None) -> None:
        await self.outbox.to_staff(session, html, escalation_id=escalation_id, role=ROLE_NOTE, client_id=client_id)

    async def queue_media(
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
            caption = self.texts.t("esc_media_caption", name=client.name, number=escalation_id)
            await self.outbox.to_staff(session, caption, escalation_id=escalation_id, role=ROLE_MEDIA,
                                       client_id=client.id, photo_file_id=message.file_id, chats=chats)
        elif message.telegram_message_id is not None:
            await self.outbox.to_staff(session, "", escalation_id=escalation_id, role=ROLE_MEDIA, client_id=client.id,
                                       copy_from=(client.chat_id, message.telegram_message_id), chats=chats)

    # -- the card -------------------------------------------------------------------------------------------

    async def post_new_card(self, view: CardView, timer_id: int) -> None:
        """Post a new case's card at once, its timer claimed when the case was opened; a card that cannot go out
        now is left to that timer, which the timer runner fires again. When a staff chat is busy (Telegram's 20
        messages a minute), the card is left to the staff lane at once rather than waited for here."""
        chats = [chat_id for chat_id in staff_destinations(self.svc) if chat_id not in view.cards]
        admitted = []
        for chat_id in chats:
            if not self.outbox.may_post_now(chat_id):
                for held in admitted:
                    self.outbox.unused(held)
                async with self.svc.session_factory.begin() as session:
                    await timers.retry_at(session, timer_id, self.svc.clock.now())
                return
            admitted.append(chat_id)
        try:
            postponed = await self._post(view, timer_id)
        except NotRecorded:
            return  # posted, but not recorded: the timer stays claimed until the send lease ends
        except Exception:
            # Before any card went out: one that did is recorded, or left to the lease as NotRecorded.
            log.exception("could not post the card of case %s now", view.escalation.id,
                          extra={"case_id": view.escalation.id})
            postponed = None
            retry = self.svc.clock.now() + RETRY_SOON
        else:
            if postponed is None:
                return
            retry = self.svc.clock.now() + retry_delay(postponed)
        async with self.svc.session_factory.begin() as session:
            await timers.retry_at(session, timer_id, retry)
        log.warning("card of case %s not posted yet (%s); will retry", view.escalation.id, postponed or "error")

    async def post_card(self, escalation_id: int) -> None:
        """The card timer's handler: post the card to every staff chat that does not have it yet. Raises
        SendRetryLater to be retried, and NotRecorded when a card went out but could not be recorded (its timer
        is then left to the send lease)."""
        async with self.svc.session_factory() as session:
            view = await self.texts.view(session, escalation_id)
        if view is None:
            return
        postponed = await self._post(view, None)
        await self.outbox.deliver(*staff_destinations(self.svc))  # anything else for staff waiting for the card
        if postponed is not None:
            raise postponed

    async def _post(self, view: CardView, timer_id: int | None) -> SendRetryLater | None:
        """Send the card to every staff chat that lacks it, then record the cards that went out in one
        transaction, which also finishes `timer_id` unless some chat must wait (returned then)."""
        escalation_id = view.escalation.id
        destinations = staff_destinations(self.svc)
        if not destinations:
            log.error("no STAFF_CHAT_ID or ADMIN_IDS configured; case %s cannot be shown to anyone", escalation_id)
        html, buttons = self.texts.card(view), self.texts.buttons(view.escalation)
        postponed: SendRetryLater | None = None
        posted: list[tuple[int, int]] = []
        while destinations:
            chat_id = destinations.pop(0)
            if chat_id in view.cards:
                continue
            try:
                posted.append((chat_id, await self.messenger.send(OutboundMessage(chat_id, html, buttons))))
            except SendRetryLater as exc:
                postponed = exc
            except (RecipientBlocked, SendRejected) as exc:
                if chat_id == self.svc.settings.staff_chat_id:
                    # Removed from the group, or the group became a supergroup with a new id: no case may be lost.
                    log.error("the staff chat %s refuses messages (%s): is the bot still a member, and is "
                              "STAFF_CHAT_ID current? The card of case %s goes to the admins privately instead",
                              chat_id, exc, escalation_id)
                    destinations += [admin for admin in self.svc.settings.admin_ids if admin not in destinations]
                else:
                    log.exception("could not post the card of case %s to chat %s", escalation_id, chat_id)
            except Exception as exc:
                # Perhaps sent, perhaps not: tried again later, while the cards that did go out are recorded now.
                log.exception("could not post the card of case %s to chat %s; trying again later", escalation_id,
                              chat_id, extra={"case_id": escalation_id})
                postponed = SendRetryLater(exc.__class__.__name__)
        finish = timer_id if postponed is None else None
        # Cards that went out are recorded however long the database takes (up to half the send lease): a timer
        # retried for want of that record would post a second card. Should the record fail anyway, the timer is
        # left to the send lease as well (NotRecorded), not retried soon.
        if posted:
            try:
                await self._record_posted(view, posted, finish)
            except NotRecorded:
                raise
            except Exception as exc:
                log.exception("the card of case %s went out but could not be recorded", escalation_id,
                              extra={"case_id": escalation_id})
                raise NotRecorded(f"the card of case {escalation_id} went out") from exc
            if view.trigger is not None and view.trigger.kind in MEDIA_KINDS:
                await self.outbox.deliver(*(chat_id for chat_id, _ in posted))  # the client's media, under the card
        elif finish is not None:
            async with self.svc.session_factory.begin() as session:
                await timers.finish(session, finish)
        return postponed

    async def _record_posted(self, view: CardView, posted: list[tuple[int, int]], finish: int | None) -> None:
        escalation_id = view.escalation.id
        if view.trigger is not None and view.trigger.kind in MEDIA_KINDS:
            await record_confirmed(lambda: self._record_cards(view, posted, finish), lease=self.svc.settings.send_lease,
                                   what=f"the card of case {escalation_id} went out")
            return
        *others, last = posted
        ref = view.escalation.ref
        await self.outbox.records.record(*(PostedCard(escalation_id, ref, chat_id, message_id)
                                           for chat_id, message_id in others),
                                         PostedCard(escalation_id, ref, *last, timer_id=finish))

    async def _record_cards(self, view: CardView, posted: list[tuple[int, int]], finish_timer_id: int | None) -> None:
        """The cards, with the client's media queued under them."""
        escalation_id = view.escalation.id
        async with self.svc.session_factory() as session, write_turn(session):
            if not await repo.still_there(session, escalation_id, view.escalation.ref):
                return  # erased meanwhile: nothing is left for a reply to its card to reach
            for chat_id, message_id in posted:
                await self.remember(session, escalation_id, chat_id, message_id, ROLE_CARD)
            chat_id, message_id = posted[0]
            await repo.set_card(session, escalation_id, view.escalation.ref, chat_id=chat_id, message_id=message_id)
            if view.trigger is not None:
                await self.queue_media(session, escalation_id, view.trigger, view.client,
                                       chats=[chat_id for chat_id, _ in posted])
            if finish_timer_id is not None:
                await timers.finish(session, finish_timer_id)
            await session.commit()

    async def remember(
        self, session: AsyncSession, escalation_id: int, chat_id: int, message_id: int, role: str
    ) -> None:
        await repo.add_post(session, escalation_id=escalation_id, chat_id=chat_id, message_id=message_id, role=role,
                            now=self.svc.clock.now())

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

    # -- which case a post belongs to -----------------------------------------------------------------------

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


def retry_delay(exc: SendRetryLater) -> timedelta:
    return timedelta(seconds=exc.retry_after) if exc.retry_after else RETRY_SOON

