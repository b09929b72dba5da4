"""The outbox: messages the bot must not lose, kept in the database until Telegram has them.

A safety reply, a "the team will reply" note, a staff reply passed on to a client, a check-in reminder, every
post to the staff chat: each is queued in the same transaction as whatever made it necessary, then sent at once
if Telegram takes it. If not (flood control, an error, a timeout, Telegram unreachable), a durable timer tries
again with backoff until it is delivered, or Telegram refuses it for good: a client who blocked the bot is marked
unreachable as the dispatcher does, a refused message is logged, and a staff member whose reply it was is told.
A chat's messages go out in the order they were queued. Quiet hours never hold them back: each one answers
something a person just did, or tells the team.

Whoever queues a post for a staff chat never waits for that chat: deliver() sends it at once only while the chat
has room (delivery.ports.Pacing), and otherwise leaves it to the staff lane, which may fold it into a digest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Client, ConversationMessage, OutboxMessage, Timer, TimerState
from aftercare_bot.db.repositories import audit, inserts, timers
from aftercare_bot.db.repositories import conversation as conversation_repo
from aftercare_bot.db.repositories import escalations as escalation_repo
from aftercare_bot.db.repositories import outbox as outbox_repo
from aftercare_bot.db.repositories.timers import NewTimer
from aftercare_bot.db.write_turns import write_turn
from aftercare_bot.delivery import confirmed_sends
from aftercare_bot.delivery.dispatcher import backoff, record_blocked
from aftercare_bot.delivery.ports import (
    Button,
    OutboundMessage,
    Pacing,
    RecipientBlocked,
    Sender,
    SendRejected,
    SendRetryLater,
    Unlimited,
)
from aftercare_bot.delivery.send_records import SendRecords, SentMessage, record_sent
from aftercare_bot.delivery.staff_notify import blocked_notice, staff_destinations
from aftercare_bot.services import Services
from aftercare_bot.texts.telegram_html import plain_text

log = logging.getLogger(__name__)

OUTBOX_TIMER = "outbox"  # subject: the OutboxMessage id
MAX_SENDS_PER_CALL = 20  # per chat; anything beyond is left to the timer runner
MAX_ROUNDS = 5  # chats reached through follow-up messages (reports to staff) in one call
AFTER_EARLIER = timedelta(milliseconds=1)
BUSY_RETRY = timedelta(seconds=1)
ERROR_DETAIL_LIMIT = 300
# The bot's own messages to a client that are safety advice (OutboundMessage.urgent), by conversation kind.
URGENT_KINDS = frozenset({conversation_repo.SAFETY, conversation_repo.FINAL})
# Of a staff group's 20 messages a minute, the last few are never spent on single posts sent at once: they are
# kept for the staff lane's digests, which show many cases in one message.
STAFF_RESERVE = 5


class Outcome(StrEnum):
    SENT = "sent"
    WAITING = "waiting"  # queued: the timer runner tries again
    BLOCKED = "blocked"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Report:
    """A staff member's message that an outbox message passes on: where to tell them how it went, and what to
    say once it is delivered."""

    chat_id: int
    message_id: int
    sent_html: str


@dataclass(frozen=True)
class Queued:
    """A message just queued. With `timer_id` (its timer, claimed) it is the oldest of its chat, and whoever
    queued it sends it with send_queued() once the transaction is committed, without another claim."""

    message: OutboxMessage
    timer_id: int | None = None
    # Ids of the timers scheduled along with the message's own (see queue_answers), by (kind, subject id).
    scheduled: Mapping[tuple[str, int], int] = field(default_factory=dict)


class OutboxMessenger(Sender, Protocol):
    """A Sender that can also copy someone's message to another chat."""

    async def copy(
        self, chat_id: int, from_chat_id: int, message_id: int, *, reply_to_message_id: int | None = None
    ) -> int: ...


class Outbox:
    def __init__(self, services: Services, messenger: OutboxMessenger, pacing: Pacing | None = None) -> None:
        self.svc = services
        self.messenger = messenger
        self.pacing = pacing or Unlimited()
        self.records = SendRecords(services)  # of what Telegram accepted, from here and from the case cards
        # One sender per chat in this process, so that a chat's messages leave in order without waiting.
        self._chat_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    # -- queueing, inside the caller's transaction ------------------------------------------------------------

    async def add(self, session: AsyncSession, message: OutboxMessage, *, send_after_commit: bool = False) -> Queued:
        """Queue a message. `send_after_commit`: the caller will send it with send_queued(), which saves the
        claim if no older message of the chat must go first (checked here, after the insert, so that nothing
        queued before it is missed)."""
        now = self.svc.clock.now()
        message.created_at = now
        message.attempts = 0
        await inserts.add(session, message)
        claim = send_after_commit and not await outbox_repo.has_earlier(session, chat_id=message.chat_id,
                                                                        message_id=message.id)
        timer = await timers.schedule(session, kind=OUTBOX_TIMER, subject_id=message.id, due_at=now, now=now,
                                      claimed=claim)
        return Queued(message, timer.id if claim else None)

    async def queue_answers(
        self, session: AsyncSession, messages: Sequence[OutboxMessage], *, with_timers: Sequence[NewTimer] = ()
    ) -> list[Queued]:
        """Queue messages to different chats, each to be sent with send_queued() once committed, as add() with
        `send_after_commit` does, in three statements whatever their number. `with_timers`: other timers of the
        transaction, scheduled in the same statement; their ids are in each Queued.scheduled."""
        now = self.svc.clock.now()
        for message in messages:
            message.created_at = now
            message.attempts = 0
        await inserts.add_together(session, messages, key=("chat_id",))
        # Checked after the inserts, as add() does, so that nothing queued before them is missed.
        oldest = await outbox_repo.oldest_ids(session, [message.chat_id for message in messages])
        claims = {message.id: oldest.get(message.chat_id) == message.id for message in messages}
        scheduled = await timers.schedule_all(session, [
            *(NewTimer(OUTBOX_TIMER, message.id, now, claimed=claims[message.id]) for message in messages),
            *with_timers,
        ], now=now)
        return [Queued(message, scheduled[OUTBOX_TIMER, message.id] if claims[message.id] else None, scheduled)
                for message in messages]

    async def to_client(
        self,
        session: AsyncSession,
        client: Client,
        html: str,
        *,
        record: ConversationMessage | None,
        reply_to: int | None = None,
        photo_file_id: str | None = None,
        copy_from: tuple[int, int] | None = None,
        report: Report | None = None,
        send_after_commit: bool = False,
        buttons: tuple[tuple[Button, ...], ...] = (),
        urgent: bool = False,
    ) -> Queued:
        """A message to a client; `record` (the copy kept in the conversation) is stored with it."""
        if record is not None:
            await conversation_repo.add(session, record)
        return await self.add(session, OutboxMessage(
            chat_id=client.chat_id, client_id=client.id, html=html, reply_to_message_id=reply_to,
            photo_file_id=photo_file_id, copy_from_chat_id=copy_from[0] if copy_from else None,
            copy_from_message_id=copy_from[1] if copy_from else None,
            conversation_id=record.id if record is not None else None,
            escalation_id=record.escalation_id if record is not None else None,
            report_chat_id=report.chat_id if report else None, report_message_id=report.message_id if report else None,
            report_html=report.sent_html if report else None, buttons=buttons_to_json(buttons), urgent=urgent,
        ), send_after_commit=send_after_commit)

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
        send_after_commit: bool = False,
        buttons: tuple[tuple[Button, ...], ...] = (),
    ) -> Queued:
        """A message of the bot's own for the client, its copy kept in the conversation as `kind`."""
        return await self.to_client(session, client, html, reply_to=reply_to, record=ConversationMessage(
            client_id=client.id, enrolment_id=enrolment_id, escalation_id=escalation_id,
            direction=conversation_repo.OUT, kind=kind, text=plain_text(html), at=self.svc.clock.now(),
        ), send_after_commit=send_after_commit, buttons=buttons, urgent=kind in URGENT_KINDS)

    async def to_staff(
        self,
        session: AsyncSession,
        html: str,
        *,
        escalation_id: int | None = None,
        role: str | None = None,
        client_id: int | None = None,
        photo_file_id: str | None = None,
        copy_from: tuple[int, int] | None = None,
        chats: list[int] | None = None,
        reply_to: int | None = None,
    ) -> list[int]:
        """A post for every staff chat (or those given). With a case and a role, it goes under the case's card
        (unless `reply_to` says otherwise) and is remembered as a post of the case. `client_id`: the client it is
        about, so that it is erased with them."""
        chats = staff_destinations(self.svc) if chats is None else chats
        if not chats:
            # Not the notice itself: it may name a client, and logs outlive erasure.
            log.error("no STAFF_CHAT_ID or ADMIN_IDS configured; a notice for staff cannot be delivered")
        for chat_id in chats:
            await self.add(session, OutboxMessage(
                chat_id=chat_id, html=html, escalation_id=escalation_id, post_role=role, client_id=client_id,
                reply_to_message_id=reply_to, photo_file_id=photo_file_id,
                copy_from_chat_id=copy_from[0] if copy_from else None,
                copy_from_message_id=copy_from[1] if copy_from else None,
            ))
        return chats

    async def notify_staff(self, html: str, *, client_id: int | None = None) -> None:
        """A notice to staff on its own: queued, then sent now if Telegram takes it."""
        async with self.svc.session_factory.begin() as session:
            chats = await self.to_staff(session, html, client_id=client_id)
        await self.deliver(*chats)

    # -- sending ----------------------------------------------------------------------------------------------

    async def send_queued(self, queued: Queued) -> Outcome:
        """Once the queueing transaction is committed: send the message, at once when its timer was claimed for
        this, else with the rest of its chat's queue, in order. Never raises; what is left undone stays queued."""
        message = queued.message
        if queued.timer_id is None:
            return (await self.deliver(message.chat_id)).get(message.id, Outcome.WAITING)
        follow_ups: set[int] = set()
        try:
            async with self._one_sender(message.chat_id):
                outcome, _retry = await self._attempt(message, queued.timer_id, follow_ups)
        except confirmed_sends.NotRecorded:
            return Outcome.WAITING  # sent, not recorded: its timer stays claimed until the send lease ends
        except Exception:
            log.exception("could not send queued message %s to chat %s now; it is retried later",
                          message.id, message.chat_id)
            return Outcome.WAITING
        if follow_ups:
            await self.deliver(*follow_ups)
        return outcome

    async def deliver(self, *chat_ids: int) -> dict[int, Outcome]:
        """Send what is queued for these chats now, oldest first in each, and the reports this brings about.

        A message that must wait, or that another sender is busy with, is left to the timer runner. Returns the
        outcome of each message tried; never raises, since everything it leaves undone stays queued.
        """
        outcomes: dict[int, Outcome] = {}
        queue = list(dict.fromkeys(chat_ids))
        for _ in range(MAX_ROUNDS):
            if not queue:
                break
            follow_ups: set[int] = set()
            for chat_id in queue:
                try:
                    follow_ups |= await self._deliver_chat(chat_id, outcomes)
                except Exception:
                    log.exception("could not send the queued messages of chat %s now; they are retried later", chat_id)
            queue = sorted(follow_ups)
        return outcomes

    def may_post_now(self, chat_id: int) -> bool:
        """Whether a post to this staff chat would leave at once (its place then held for it); if not, the staff
        lane is woken to take it. Chats that are not staff chats always may: a client's messages are few."""
        if chat_id not in staff_destinations(self.svc) or self.pacing.admit(chat_id, keep=STAFF_RESERVE):
            return True
        if self.svc.started:
            self.svc.runtime.wake(0)
        return False

    def unused(self, chat_id: int) -> None:
        """A place may_post_now() held that was not used after all."""
        if chat_id in staff_destinations(self.svc):
            self.pacing.release(chat_id)

    async def _deliver_chat(self, chat_id: int, outcomes: dict[int, Outcome]) -> set[int]:
        follow_ups: set[int] = set()
        lock = self._chat_locks.get(chat_id)
        if lock is not None and lock.locked() and chat_id in staff_destinations(self.svc):
            return follow_ups  # the staff lane is sending to it, perhaps waiting for room: it takes the rest
        async with self._one_sender(chat_id):
            for _ in range(MAX_SENDS_PER_CALL):
                if not self.may_post_now(chat_id):
                    break  # a busy staff chat: its lane takes the rest, nobody waits here
                claimed = await self._claim_head(chat_id)
                if claimed is None:
                    self.unused(chat_id)
                    break
                message, timer_id = claimed
                try:
                    outcome, _retry = await self._attempt(message, timer_id, follow_ups)
                except confirmed_sends.NotRecorded:
                    break  # sent, not recorded: its timer stays claimed until the send lease ends
                outcomes[message.id] = outcome
                if outcome == Outcome.WAITING:
                    break
        follow_ups.discard(chat_id)
        return follow_ups

    @asynccontextmanager
    async def _one_sender(self, chat_id: int) -> AsyncIterator[None]:
        lock = self._chat_locks.get(chat_id)
        if lock is None:
            lock = self._chat_locks[chat_id] = asyncio.Lock()
        async with lock:
            yield

    async def _claim_head(self, chat_id: int) -> tuple[OutboxMessage, int] | None:
        """The chat's oldest queued message and its claimed timer; None when there is none, it is taken, or
        Telegram asked to wait. A message waiting out an error's backoff is tried again now: a new message to
        the chat is as good a moment as any, and the oldest must go first."""
        now = self.svc.clock.now()
        async with self.svc.session_factory.begin() as session:
            head = await outbox_repo.oldest_of_chat(session, chat_id)
            if head is None or (head.not_before is not None and head.not_before > now):
                return None
            timer = await self._live_timer(session, head.id, now)
            if timer.state != TimerState.PENDING or not await timers.claim_one(session, timer.id, now=now):
                return None  # being sent by the timer runner or another replica
            return head, timer.id

    async def _live_timer(self, session: AsyncSession, message_id: int, now: datetime) -> Timer:
        """The message's pending or running timer (one is scheduled should it have none)."""
        timer = await timers.newest_live(session, kind=OUTBOX_TIMER, subject_id=message_id)
        if timer is None:
            log.warning("queued message %s had no timer; it gets a new one", message_id)
            timer = await timers.schedule(session, kind=OUTBOX_TIMER, subject_id=message_id, due_at=now, now=now)
        return timer

    async def on_timer(self, timer: Timer) -> datetime | None:
        """The timer runner's handler: another try, unless an older message to the same chat goes first."""
        async with self.svc.session_factory() as session:
            message = await session.get(OutboxMessage, timer.subject_id)
        if message is None:
            return None  # sent meanwhile, or erased with its client
        follow_ups: set[int] = set()
        async with self._one_sender(message.chat_id):
            retry = await self._try_in_turn(timer.subject_id, follow_ups)
        if follow_ups:
            await self.deliver(*follow_ups)
        return retry

    async def _try_in_turn(self, message_id: int, follow_ups: set[int]) -> datetime | None:
        now = self.svc.clock.now()
        async with self.svc.session_factory.begin() as session:
            message = await session.get(OutboxMessage, message_id)  # again: deliver() may have sent it meanwhile
            if message is None:
                return None
            earlier = await outbox_repo.oldest_id_before(session, chat_id=message.chat_id, message_id=message.id)
            earlier_timer = await self._live_timer(session, earlier, now) if earlier is not None else None
        if earlier_timer is not None:
            if earlier_timer.state == TimerState.PENDING:
                return earlier_timer.due_at + AFTER_EARLIER
            return now + BUSY_RETRY  # being sent by another replica
        _outcome, retry = await self._attempt(message, None, follow_ups)
        return retry

    async def _attempt(
        self, message: OutboxMessage, timer_id: int | None, follow_ups: set[int]
    ) -> tuple[Outcome, datetime | None]:
        """One try at sending. A timer claimed by deliver() (timer_id) is settled here, in the same transaction
        as the message; the timer runner settles its own from the returned retry time."""
        try:
            sent_id = await self._send(message)
        except SendRetryLater as exc:
            return Outcome.WAITING, await self._postpone(message, timer_id, exc.retry_after, str(exc))
        except RecipientBlocked as exc:
            follow_ups |= await self._drop(message, timer_id, blocked=True, error=str(exc))
            return Outcome.BLOCKED, None
        except SendRejected as exc:
            follow_ups |= await self._drop(message, timer_id, blocked=False, error=str(exc))
            return Outcome.REJECTED, None
        except Exception as exc:
            # Whatever failed (the database, say), nothing is known to have been sent: try again later.
            log.exception("could not send queued message %s to chat %s", message.id, message.chat_id)
            return Outcome.WAITING, await self._postpone(message, timer_id, None, exc.__class__.__name__)
        if message.post_role is None and message.report_chat_id is None:
            # Nothing but the message itself to record: it may share a transaction with other records.
            await self.records.record(SentMessage(message.id, message.chat_id, sent_id, message.conversation_id,
                                                  timer_id))
            return Outcome.SENT, None
        follow_ups |= await confirmed_sends.record(
            lambda: self._record(message, sent_id, timer_id), lease=self.svc.settings.send_lease,
            what=f"queued message {message.id} to chat {message.chat_id} went out",
        )
        return Outcome.SENT, None

    async def _send(self, message: OutboxMessage) -> int:
        reply_to = message.reply_to_message_id
        if reply_to is None and message.post_role is not None and message.escalation_id is not None:
            # Looked up now rather than when queued: the card may have been posted since.
            async with self.svc.session_factory() as session:
                reply_to = (await escalation_repo.cards(session, message.escalation_id)).get(message.chat_id)
        if message.copy_from_chat_id is not None and message.copy_from_message_id is not None:
            return await self.messenger.copy(message.chat_id, message.copy_from_chat_id, message.copy_from_message_id,
                                             reply_to_message_id=reply_to)
        return await self.messenger.send(OutboundMessage(
            message.chat_id, message.html, buttons=buttons_from_json(message.buttons), reply_to_message_id=reply_to,
            photo_file_id=message.photo_file_id, urgent=message.urgent,
        ))

    async def _postpone(
        self, message: OutboxMessage, timer_id: int | None, retry_after: float | None, error: str
    ) -> datetime:
        now = self.svc.clock.now()
        attempts = message.attempts + 1
        retry = now + backoff(attempts, retry_after)
        log.warning("queued message %s to chat %s must wait: %s; retrying at %s (attempt %d)",
                    message.id, message.chat_id, error, retry, attempts)
        not_before = now + timedelta(seconds=retry_after) if retry_after else None
        async with self.svc.session_factory.begin() as session:
            await outbox_repo.record_attempt(session, message.id, attempts=attempts,
                                             last_error=error[:ERROR_DETAIL_LIMIT], not_before=not_before)
            if timer_id is not None:
                await timers.retry_at(session, timer_id, retry)
        if self.svc.started:  # not left to the safety tick, which may be half a minute away
            self.svc.runtime.wake((retry - now).total_seconds())
        return retry

    async def _record(self, message: OutboxMessage, sent_id: int, timer_id: int | None) -> set[int]:
        """Delivered: off the queue, its Telegram id kept, a case post remembered, its author told."""
        follow_ups: set[int] = set()
        async with self.svc.session_factory() as session, write_turn(session):
            await record_sent(session, [SentMessage(message.id, message.chat_id, sent_id, message.conversation_id)])
            # A post of a case (unless the case was erased meanwhile) is remembered as the case's.
            if (message.post_role is not None and message.escalation_id is not None
                    and await escalation_repo.get(session, message.escalation_id) is not None):
                await escalation_repo.add_post(
                    session, escalation_id=message.escalation_id, chat_id=message.chat_id, message_id=sent_id,
                    role=message.post_role, now=self.svc.clock.now(),
                )
            if message.report_html is not None:
                follow_ups |= await self._report(session, message, message.report_html)
            if timer_id is not None:
                await timers.finish(session, timer_id)
            await session.commit()
        return follow_ups

    async def _drop(self, message: OutboxMessage, timer_id: int | None, *, blocked: bool, error: str) -> set[int]:
        """Refused for good: off the queue and out of the conversation (it was never said), and people told."""
        now = self.svc.clock.now()
        follow_ups: set[int] = set()
        async with self.svc.session_factory.begin() as session:
            await outbox_repo.remove(session, message.id)
            if message.conversation_id is not None:
                await conversation_repo.remove(session, message.conversation_id)
            client = await session.get(Client, message.client_id) if message.client_id is not None else None
            await audit.record(session, now=now, action="message_not_delivered", client_id=message.client_id,
                               escalation_id=message.escalation_id,
                               detail={"reason": "blocked" if blocked else "rejected",
                                       "error": error[:ERROR_DETAIL_LIMIT]})
            if blocked and client is not None and client.chat_id == message.chat_id:
                found = await record_blocked(session, client.id, now=now)
                if found is not None and found.first_time:
                    log.warning("client %s blocked the bot; cancelled %d pending message(s)",
                                client.id, found.cancelled)
                    notice = blocked_notice(self.svc, client, found.cancelled)
                    follow_ups |= set(await self.to_staff(session, notice, client_id=client.id))
            if message.report_chat_id is not None:
                key = "esc_relay_failed" if blocked else "esc_relay_error"
                html = self.svc.text(key, self.svc.staff_language, name=client.name if client else "?")
                follow_ups |= await self._report(session, message, html)
            if timer_id is not None:
                await timers.finish(session, timer_id)
        if not blocked:
            # Someone's own message (told above) is theirs to fix; a text of the bot's is a bug.
            level = logging.WARNING if message.report_chat_id is not None else logging.ERROR
            log.log(level, "queued message %s to chat %s was refused by Telegram: %s", message.id, message.chat_id,
                    error)
        elif client is None or client.chat_id != message.chat_id:
            log.error("queued message %s could not reach chat %s: %s", message.id, message.chat_id, error)
        return follow_ups

    async def _report(self, session: AsyncSession, message: OutboxMessage, html: str) -> set[int]:
        """Tell the staff member whose message this passed on, as a reply to it (and a post of the case)."""
        if message.report_chat_id is None:
            return set()
        await self.add(session, OutboxMessage(
            chat_id=message.report_chat_id, html=html, reply_to_message_id=message.report_message_id,
            escalation_id=message.escalation_id, post_role=escalation_repo.CONFIRM if message.escalation_id else None,
            client_id=message.client_id,
        ))
        return {message.report_chat_id}


def buttons_to_json(buttons: tuple[tuple[Button, ...], ...]) -> str | None:
    return json.dumps([[[b.label, b.data] for b in row] for row in buttons]) if buttons else None


def buttons_from_json(data: str | None) -> tuple[tuple[Button, ...], ...]:
    if not data:
        return ()
    return tuple(tuple(Button(label, callback) for label, callback in row) for row in json.loads(data))
