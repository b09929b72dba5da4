"""Sends due plan messages from the database, honouring quiet hours, grace periods and send failures."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aftercare_bot import confirmed_sends, quiet_hours
from aftercare_bot.clock import Clock
from aftercare_bot.config import Settings
from aftercare_bot.db import audit, deliveries, enrolments
from aftercare_bot.db.models import Client, ClientStatus, Delivery, DeliveryState, Enrolment, EnrolmentState
from aftercare_bot.outbound import RecipientBlocked, Sender, SendRejected, SendRetryLater
from aftercare_bot.plan_messages import PlanMessageComposer

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=10)
# Bounded so that one tick cannot hold the event loop forever when the backlog is huge.
MAX_BATCHES_PER_TICK = 200


@dataclass
class TickReport:
    sent: int = 0
    skipped: int = 0
    deferred: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0


# What to do once a transaction has committed (send what it queued, say).
AfterCommit = Callable[[], Awaitable[object]]
# Called when a client turns out to have blocked the bot, inside the transaction that records it: (session,
# client, cancelled step count). What it queues (the notice for staff) commits with the block or not at all;
# what it returns runs after the commit.
BlockedCallback = Callable[[AsyncSession, Client, int], Awaitable[AfterCommit | None]]


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    """Exponential from 5 s, capped; never sooner than Telegram asked for."""
    delay = min(timedelta(seconds=5 * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


@dataclass(frozen=True)
class Blocked:
    """A client found to have blocked the bot, and how many of their waiting plan messages were cancelled."""

    client: Client
    cancelled: int
    first_time: bool  # False when they were known to be unreachable already


async def record_blocked(session: AsyncSession, client_id: int, *, now: datetime) -> Blocked | None:
    """The client blocked the bot or deleted their account: unreachable, plans ended, waiting messages
    cancelled (including one being sent). None when there is no such client. The caller commits."""
    client = await session.get(Client, client_id)
    if client is None:
        return None
    first_time = client.status != ClientStatus.UNREACHABLE
    client.status = ClientStatus.UNREACHABLE
    client.updated_at = now
    cancelled = await deliveries.cancel_open_for_client(session, client.id, "client blocked the bot")
    await enrolments.end_active(session, client.id, EnrolmentState.UNREACHABLE, now=now)
    await audit.record(session, now=now, action="client_unreachable", client_id=client.id,
                       detail={"cancelled": cancelled})
    return Blocked(client, cancelled, first_time)


def _first_per_chat(batch: Sequence[Delivery]) -> tuple[list[Delivery], list[Delivery]]:
    """The batch's first row for each chat, and the others, which go back for the next batch.

    Telegram takes about one message a second per chat: a second message in the same batch would wait for
    it, and the whole batch with it. In the next batch it comes first and waits while the others go out.
    """
    chats: set[int] = set()
    first, later = [], []
    for delivery in batch:
        (later if delivery.chat_id in chats else first).append(delivery)
        chats.add(delivery.chat_id)
    return first, later


@dataclass
class _Sent:
    """A message Telegram accepted, with the values that record it."""

    delivery: Delivery
    values: dict[str, object]


class _GroupRecorder:
    """Records sends in one transaction for all that completed while the previous write was running.

    Each caller returns once its own send is recorded, so a message is unrecorded only while it waits
    for one write; without the grouping, one transaction per message is what limits the send rate.
    """

    def __init__(self, write: Callable[[list[_Sent]], Awaitable[None]]) -> None:
        self._write = write
        self._waiting: list[_Sent] = []
        self._written = 0  # writes started; the next one takes everything waiting
        self._turn = asyncio.Lock()

    async def record(self, sent: _Sent) -> None:
        write_number = self._written
        self._waiting.append(sent)
        async with self._turn:
            if self._written != write_number:
                return  # a write that started after this send was added took it along
            group, self._waiting = self._waiting, []
            self._written += 1
            await self._write(group)


class Dispatcher:
    def __init__(
        self,
        *,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        sender: Sender,
        clock: Clock,
        composer: PlanMessageComposer,
        on_blocked: BlockedCallback,
        owner: str,
        concurrency: int = 8,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.sender = sender
        self.clock = clock
        self.composer = composer
        self.on_blocked = on_blocked
        self.owner = owner
        self._slots = asyncio.Semaphore(concurrency)
        self._lock = asyncio.Lock()
        self._stopping = False
        # Monotonic time of the last sign of life (a pass starting, a batch done); the health check reads it.
        self.last_progress = time.monotonic()

    def stop_claiming(self) -> None:
        """On shutdown: finish the batch in hand, claim no more rows (another replica will take them)."""
        self._stopping = True

    async def wait_idle(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until no pass is running; False if one is still running after `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout), self._lock:
                return True
        except TimeoutError:
            return False

    async def next_due(self) -> datetime | None:
        async with self.session_factory() as session:
            return await deliveries.next_send_at(session)

    async def run_due(self) -> TickReport:
        """Send everything that is due now. Safe to call at any time; overlapping calls queue."""
        report = TickReport()
        async with self._lock:
            self.last_progress = time.monotonic()
            now = self.clock.now()
            async with self.session_factory.begin() as session:
                released = await deliveries.release_stale_claims(
                    session, claimed_before=now - self.settings.send_lease
                )
            if released:
                log.warning("re-queued %d message(s) left in flight by a stopped sender", released)
            for _ in range(MAX_BATCHES_PER_TICK):
                if self._stopping:
                    break
                async with self.session_factory.begin() as session:
                    batch = await deliveries.claim_due(
                        session, now=self.clock.now(), limit=self.settings.dispatch_batch_size, owner=self.owner
                    )
                    batch, later = _first_per_chat(batch)
                    if later:
                        await deliveries.unclaim(session, [delivery.id for delivery in later])
                    # With the claim: one query per batch rather than one per message.
                    plans = await enrolments.by_ids(session, {delivery.enrolment_id for delivery in batch})
                if not batch:
                    break
                recorder = _GroupRecorder(lambda sends: self._record_sent(sends, report))
                # Returns once every send of the batch is recorded, so before the next claim.
                await asyncio.gather(*(
                    self._guarded(delivery, plans.get(delivery.enrolment_id), report, recorder) for delivery in batch
                ))
                self.last_progress = time.monotonic()
        return report

    async def _guarded(
        self, delivery: Delivery, enrolment: Enrolment | None, report: TickReport, recorder: _GroupRecorder
    ) -> None:
        sent = await self._send_guarded(delivery, enrolment, report)
        if sent is not None:
            # Outside the slot: the next message goes out while this one waits for its write.
            await recorder.record(sent)

    async def _send_guarded(
        self, delivery: Delivery, enrolment: Enrolment | None, report: TickReport
    ) -> _Sent | None:
        async with self._slots:
            try:
                return await self._handle(delivery, enrolment, report)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("database error while dispatching delivery %s (%s); it will be retried",
                            delivery.id, exc.__class__.__name__)
            except Exception:
                log.exception("unexpected error while dispatching delivery %s", delivery.id)
            # Never leave a row in SENDING because of an error; the lease would retry it, but sooner is better.
            try:
                await self._requeue(delivery, self.clock.now() + backoff(delivery.attempts, None))
            except (SQLAlchemyError, OSError) as exc:
                # The database itself is failing (restarting, locked): the lease returns the row later.
                log.warning("could not re-queue delivery %s (%s); it returns to the queue after SEND_LEASE",
                            delivery.id, exc.__class__.__name__)
                return None
            report.retried += 1
            return None

    async def _handle(self, delivery: Delivery, enrolment: Enrolment | None, report: TickReport) -> _Sent | None:
        """Send one claimed row, or settle it otherwise; a send is returned for the caller to record."""
        now = self.clock.now()
        if enrolment is None or enrolment.state != EnrolmentState.ACTIVE:
            await self._finish(delivery, DeliveryState.CANCELLED, last_error="plan no longer active")
            report.cancelled += 1
            return
        if now > delivery.expires_at:
            log.info("skipping %s for client %s: %s past its grace period",
                     delivery.step_key, delivery.client_id, now - delivery.expires_at)
            await self._finish(delivery, DeliveryState.SKIPPED, last_error="past its grace period")
            report.skipped += 1
            return
        resume = quiet_hours.next_allowed(now, self.settings.quiet_hours, self.settings.timezone)
        if resume > now:
            await self._requeue(delivery, resume, attempts=delivery.attempts - 1)
            report.deferred += 1
            return
        composed = self.composer.compose(delivery, enrolment)
        if composed is None:
            await self._finish(delivery, DeliveryState.CANCELLED, last_error="step removed or turned off")
            report.cancelled += 1
            return
        try:
            message_id = await self.sender.send(composed.message)
        except RecipientBlocked:
            await self._client_blocked(enrolment.client)
            report.cancelled += 1
        except SendRetryLater as exc:
            retry_at = self.clock.now() + backoff(delivery.attempts, exc.retry_after)
            log.warning("delivery %s: %s; retrying at %s (attempt %d)", delivery.id, exc, retry_at, delivery.attempts)
            await self._requeue(delivery, retry_at, last_error=str(exc))
            report.retried += 1
        except SendRejected as exc:
            log.error("delivery %s was refused by Telegram: %s", delivery.id, exc)
            await self._finish(delivery, DeliveryState.FAILED, last_error=str(exc))
            report.failed += 1
        else:
            return _Sent(delivery, {
                "id": delivery.id, "state": DeliveryState.SENT, "claimed_at": None, "sent_at": self.clock.now(),
                "telegram_message_id": message_id, "plan_revision": composed.plan_revision, "last_error": None,
            })
        return None

    async def _record_sent(self, sends: list[_Sent], report: TickReport) -> None:
        """Record sends Telegram accepted, riding out a short database outage (a restart, a lock).

        Given up after half the send lease, before another replica could take the rows for a second send:
        they stay 'sending' and go out once more after SEND_LEASE.
        """
        ids = ", ".join(str(sent.delivery.id) for sent in sends)

        async def write() -> None:
            async with self.session_factory.begin() as session:
                await deliveries.mark_many(session, [sent.values for sent in sends])
                await self.composer.after_checkins_sent(
                    session, [sent.delivery for sent in sends if sent.delivery.checkin]
                )

        try:
            await confirmed_sends.record(write, lease=self.settings.send_lease, what=f"delivery {ids} went out")
        except confirmed_sends.NotRecorded:
            return  # it stays 'sending' and goes out once more after SEND_LEASE
        except Exception:
            log.exception("could not record the send of delivery %s; it goes out once more after SEND_LEASE", ids)
            return
        report.sent += len(sends)

    async def _finish(self, delivery: Delivery, state: DeliveryState, **values: object) -> None:
        async with self.session_factory.begin() as session:
            await deliveries.mark(session, delivery.id, state, claimed_at=None, **values)

    async def _requeue(self, delivery: Delivery, send_at: datetime, **values: object) -> None:
        async with self.session_factory.begin() as session:
            await deliveries.mark(
                session, delivery.id, DeliveryState.PENDING, send_at=send_at, claimed_at=None, claimed_by=None,
                **values,
            )

    async def _client_blocked(self, client: Client) -> None:
        after_commit: AfterCommit | None = None
        async with self.session_factory.begin() as session:
            blocked = await record_blocked(session, client.id, now=self.clock.now())
            if blocked is not None and blocked.first_time:
                after_commit = await self.on_blocked(session, blocked.client, blocked.cancelled)
        if blocked is not None and blocked.first_time:
            log.warning("client %s blocked the bot; cancelled %d pending message(s)", client.id, blocked.cancelled)
        if after_commit is not None:
            await after_commit()
