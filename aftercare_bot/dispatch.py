"""Sends due plan messages from the database, honouring quiet hours, grace periods and send failures."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aftercare_bot import quiet_hours
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


# Called when a client turns out to have blocked the bot: (client, cancelled step count).
BlockedCallback = Callable[[Client, int], Awaitable[None]]


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    """Exponential from 5 s, capped; never sooner than Telegram asked for."""
    delay = min(timedelta(seconds=5 * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


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

    async def next_due(self) -> datetime | None:
        async with self.session_factory() as session:
            return await deliveries.next_send_at(session)

    async def run_due(self) -> TickReport:
        """Send everything that is due now. Safe to call at any time; overlapping calls queue."""
        report = TickReport()
        async with self._lock:
            now = self.clock.now()
            async with self.session_factory.begin() as session:
                released = await deliveries.release_stale_claims(
                    session, claimed_before=now - self.settings.send_lease
                )
            if released:
                log.warning("re-queued %d message(s) left in flight by a stopped sender", released)
            for _ in range(MAX_BATCHES_PER_TICK):
                async with self.session_factory.begin() as session:
                    batch = await deliveries.claim_due(
                        session, now=self.clock.now(), limit=self.settings.dispatch_batch_size, owner=self.owner
                    )
                if not batch:
                    break
                await asyncio.gather(*(self._guarded(delivery, report) for delivery in batch))
        return report

    async def _guarded(self, delivery: Delivery, report: TickReport) -> None:
        async with self._slots:
            try:
                await self._handle(delivery, report)
            except Exception:
                # Never leave a row in SENDING because of a bug; the lease would retry it, but sooner is better.
                log.exception("unexpected error while dispatching delivery %s", delivery.id)
                async with self.session_factory.begin() as session:
                    await deliveries.mark(
                        session, delivery.id, DeliveryState.PENDING,
                        send_at=self.clock.now() + backoff(delivery.attempts, None), claimed_at=None,
                    )
                report.retried += 1

    async def _handle(self, delivery: Delivery, report: TickReport) -> None:
        now = self.clock.now()
        async with self.session_factory() as session:
            enrolment = await session.get(Enrolment, delivery.enrolment_id)
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
            await self._finish(
                delivery, DeliveryState.SENT, sent_at=self.clock.now(), telegram_message_id=message_id,
                plan_revision=composed.plan_revision, last_error=None,
            )
            report.sent += 1

    async def _finish(self, delivery: Delivery, state: DeliveryState, **values: object) -> None:
        async with self.session_factory.begin() as session:
            await deliveries.mark(session, delivery.id, state, claimed_at=None, **values)
            if state == DeliveryState.SENT and delivery.checkin:
                await self.composer.after_checkin_sent(session, delivery)

    async def _requeue(self, delivery: Delivery, send_at: datetime, **values: object) -> None:
        async with self.session_factory.begin() as session:
            await deliveries.mark(
                session, delivery.id, DeliveryState.PENDING, send_at=send_at, claimed_at=None, claimed_by=None,
                **values,
            )

    async def _client_blocked(self, client: Client) -> None:
        now = self.clock.now()
        async with self.session_factory.begin() as session:
            fresh = await session.get(Client, client.id)
            if fresh is None:
                return
            already = fresh.status == ClientStatus.UNREACHABLE
            fresh.status = ClientStatus.UNREACHABLE
            fresh.updated_at = now
            # The row being sent is SENDING rather than PENDING; it is cancelled too.
            cancelled = await deliveries.cancel_open_for_client(session, client.id, "client blocked the bot")
            await enrolments.end_active(session, client.id, EnrolmentState.UNREACHABLE, now=now)
            await audit.record(session, now=now, action="client_unreachable", client_id=client.id,
                               detail={"cancelled": cancelled})
        if not already:
            log.warning("client %s blocked the bot; cancelled %d pending message(s)", client.id, cancelled)
            await self.on_blocked(fresh, cancelled)
