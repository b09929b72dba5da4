"""Sends due plan messages from the database, honouring quiet hours, grace periods and send failures."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aftercare_bot.clock import Clock
from aftercare_bot.config import Settings
from aftercare_bot.db.models import Client, ClientStatus, DeliveryState, EnrolmentState
from aftercare_bot.db.repositories import audit, deliveries, enrolments
from aftercare_bot.db.repositories.deliveries import ClaimedRow, EnrolmentForSending
from aftercare_bot.db.write_turns import write_turn
from aftercare_bot.delivery import confirmed_sends, quiet_hours
from aftercare_bot.delivery.compose import PlanMessageComposer
from aftercare_bot.delivery.ports import RecipientBlocked, Sender, SendRejected, SendRetryLater

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=10)
# Claims per pass, bounded so that one tick cannot hold the event loop forever when the backlog is huge.
MAX_CLAIMS_PER_PASS = 200
# Seconds a send Telegram accepted may wait to be written with others: what a crash could repeat.
RECORD_WITHIN = 0.25


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


def _first_per_chat(batch: Sequence[ClaimedRow]) -> tuple[list[ClaimedRow], list[ClaimedRow]]:
    """The batch's first row for each chat, and the others, which go back to the queue.

    Telegram takes about one message a second per chat, and a chat's messages must arrive in order: a chat
    has one message on its way at a time. The others come first in a later claim, once it has gone out.
    """
    chats: set[int] = set()
    first, later = [], []
    for row in batch:
        (later if row.chat_id in chats else first).append(row)
        chats.add(row.chat_id)
    return first, later


@dataclass
class _Outcome:
    """How a claimed row ended; written to the database together with others."""

    row: ClaimedRow
    values: dict[str, object] | None  # the row's new columns; None when it was settled in the database already
    sent: bool = False
    at: float = 0.0  # event loop time


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
        self.concurrency = concurrency
        self._lock = asyncio.Lock()
        self._stopping = False
        self._pass: _Pass | None = None
        # Monotonic time of the last sign of life (a pass starting, a batch done); the health check reads it.
        self.last_progress = time.monotonic()

    def stop_claiming(self) -> None:
        """On shutdown: finish the sends under way, claim no more rows (another replica will take them)."""
        self._stopping = True
        if self._pass is not None:
            self._pass.changed.set()

    async def wait_idle(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until no pass is running; False if one is still running after `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout), self._lock:
                return True
        except TimeoutError:
            return False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A transaction that writes: on SQLite it takes its turn among this process's writers (db.write_turns)."""
        async with self.session_factory() as session, write_turn(session):
            yield session
            await session.commit()

    async def next_due(self) -> datetime | None:
        async with self.session_factory() as session:
            return await deliveries.next_send_at(session)

    async def due_count(self) -> int:
        async with self.session_factory() as session:
            return await deliveries.count_due(session, now=self.clock.now()) or 0

    async def run_due(self) -> TickReport:
        """Send everything that is due now. Safe to call at any time; overlapping calls queue."""
        report = TickReport()
        async with self._lock:
            self.last_progress = time.monotonic()
            self._pass = _Pass(self, report)
            try:
                await self._pass.run()
            finally:
                self._pass = None
        return report

    async def _outcome(self, row: ClaimedRow, enrolment: EnrolmentForSending | None, report: TickReport) -> _Outcome:
        """Send one claimed row, or settle it otherwise. Never raises: an error puts the row back with backoff."""
        try:
            return await self._handle(row, enrolment, report)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("database error while dispatching delivery %s (%s); it will be retried",
                        row.id, exc.__class__.__name__)
        except Exception:
            log.exception("unexpected error while dispatching delivery %s", row.id,
                          extra={"delivery_id": row.id, "client_id": row.client_id})
        # Never leave a row in SENDING because of an error; the lease would retry it, but sooner is better.
        report.retried += 1
        return self._requeue(row, self.clock.now() + backoff(row.attempts, None))

    async def _handle(self, row: ClaimedRow, enrolment: EnrolmentForSending | None, report: TickReport) -> _Outcome:
        now = self.clock.now()
        if enrolment is None or enrolment.state != EnrolmentState.ACTIVE:
            report.cancelled += 1
            return _finish(row, DeliveryState.CANCELLED, last_error="plan no longer active")
        if now > row.expires_at:
            log.info("skipping %s for client %s: %s past its grace period",
                     row.step_key, row.client_id, now - row.expires_at)
            report.skipped += 1
            return _finish(row, DeliveryState.SKIPPED, last_error="past its grace period")
        resume = quiet_hours.next_allowed(now, self.settings.quiet_hours, self.settings.timezone)
        if resume > now:
            report.deferred += 1
            return self._requeue(row, resume, attempts=row.attempts - 1, quiet_held=True)
        await self.composer.plans_in_force.ensure()  # a plan saved anywhere until now is the one composed
        composed = self.composer.compose(row, enrolment)
        if composed is None:
            report.cancelled += 1
            return _finish(row, DeliveryState.CANCELLED, last_error="step removed or turned off")
        try:
            message_id = await self.sender.send(composed.message)
        except RecipientBlocked:
            await self._client_blocked(row.client_id)
            report.cancelled += 1
            return _Outcome(row, None)  # cancelled with the client's other messages
        except SendRetryLater as exc:
            retry_at = self.clock.now() + backoff(row.attempts, exc.retry_after)
            log.warning("delivery %s: %s; retrying at %s (attempt %d)", row.id, exc, retry_at, row.attempts)
            report.retried += 1
            return self._requeue(row, retry_at, last_error=str(exc))
        except SendRejected as exc:
            log.error("delivery %s was refused by Telegram: %s", row.id, exc)
            report.failed += 1
            return _finish(row, DeliveryState.FAILED, last_error=str(exc))
        return _Outcome(row, {
            "id": row.id, "state": DeliveryState.SENT, "claimed_at": None, "sent_at": self.clock.now(),
            "telegram_message_id": message_id, "plan_revision": composed.plan_revision, "last_error": None,
        }, sent=True)

    def _requeue(self, row: ClaimedRow, send_at: datetime, **values: object) -> _Outcome:
        return _Outcome(row, {
            "id": row.id, "state": DeliveryState.PENDING, "send_at": send_at, "claimed_at": None, "claimed_by": None,
            **values,
        })

    async def _client_blocked(self, client_id: int) -> None:
        after_commit: AfterCommit | None = None
        async with self.transaction() as session:
            blocked = await record_blocked(session, client_id, now=self.clock.now())
            if blocked is not None and blocked.first_time:
                after_commit = await self.on_blocked(session, blocked.client, blocked.cancelled)
        if blocked is not None and blocked.first_time:
            log.warning("client %s blocked the bot; cancelled %d pending message(s)", client_id, blocked.cancelled)
        if after_commit is not None:
            await after_commit()


def _finish(row: ClaimedRow, state: DeliveryState, **values: object) -> _Outcome:
    return _Outcome(row, {"id": row.id, "state": state, "claimed_at": None, **values})


def _put_back(row: ClaimedRow) -> _Outcome:
    """A row claimed but not started: back to the queue, as if it had not been claimed."""
    return _Outcome(row, {
        "id": row.id, "state": DeliveryState.PENDING, "claimed_at": None, "claimed_by": None,
        "attempts": row.attempts - 1,
    })


@dataclass(frozen=True)
class _Claim:
    rows: list[ClaimedRow]  # to send: one per chat
    took_all_due: bool  # nothing else is due now


class _Pass:
    """One pass over what is due: sends `concurrency` messages at a time and never waits between batches.

    The next batch is claimed as soon as no more than a batch waits to be sent, so Telegram always has
    `concurrency` requests to work on, even while the database is being written. Outcomes are written in
    groups, together with the next claim when there is one: a transaction per batch rather than per message.

    - At most two batches are claimed and not yet written at any moment: what a sender that dies leaves for
      the lease (SEND_LEASE) to hand on. Only the rows among them that were on their way or sent and not yet
      written can go out twice, each once more at most.
    - A send is written before any claim that follows it, and is meant to be written within RECORD_WITHIN
      seconds: that is when its write is started, which may still wait for its turn to write (db.write_turns)
      or ride out a database outage.
    - A chat has one message on its way at a time: rows for a chat with a message not yet written are not
      claimed, so a chat's messages arrive in order.
    """

    def __init__(self, dispatcher: Dispatcher, report: TickReport) -> None:
        self.dispatcher = dispatcher
        self.report = report
        self.waiting: deque[tuple[ClaimedRow, EnrolmentForSending | None]] = deque()  # claimed, not started
        self.outcomes: list[_Outcome] = []  # not written yet
        self.claimed = 0  # rows claimed whose outcome is not written yet
        self.busy_chats: set[int] = set()  # their chats
        self.workers: set[asyncio.Task[None]] = set()
        self.changed = asyncio.Event()
        self.claims = 0
        self.nothing_due = False  # a claim found nothing: this pass claims no more
        self.wait_for_chats = False  # a claim found only chats still busy: claim again once one is written
        self.claim_error: Exception | None = None
        self.batch_size = dispatcher.settings.dispatch_batch_size
        # A batch smaller than `concurrency` also bounds the sends on their way, as it always has.
        self.concurrency = min(dispatcher.concurrency, self.batch_size)
        # Claim the next batch when fewer rows than this wait to be sent. While sends are going, a write takes a
        # few dozen turns of the event loop (each database call is one), in which dozens of sends finish: the
        # rows in hand must last that long, or Telegram waits for the database.
        self.low_water = max(2 * self.concurrency, self.batch_size)

    async def run(self) -> None:
        try:
            await self._loop()
        except BaseException:
            # Cancelled (shutdown ran out of time) or a bug: what is unwritten is left to the lease. The workers
            # are waited for, so none is still sending once the pass is over.
            workers = list(self.workers)
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        if self.claim_error is not None:
            raise self.claim_error

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        await self._write(self._claim_limit(), release_stale=True)
        self._start_workers()
        while True:
            # Cleared before looking, so that what happens during a write below is seen by the next round.
            self.changed.clear()
            if self.dispatcher._stopping and self.waiting:
                self.outcomes.extend(_put_back(row) for row, _ in self.waiting)
                self.waiting.clear()
            limit = self._claim_limit()
            if limit or self._write_due(loop.time()):
                await self._write(limit)
                self._start_workers()
                continue
            self._start_workers()
            if not self.workers and not self.outcomes:
                return  # nothing on its way, nothing to write, nothing more to claim
            deadline = self.outcomes[0].at + RECORD_WITHIN if self.outcomes else None
            try:
                async with asyncio.timeout_at(deadline):
                    await self.changed.wait()
            except TimeoutError:
                pass

    def _claim_limit(self) -> int:
        """How many rows to claim now (0: none)."""
        if (self.nothing_due or self.wait_for_chats or self.claim_error is not None or self.dispatcher._stopping
                or self.claims >= MAX_CLAIMS_PER_PASS or len(self.waiting) >= self.low_water):
            return 0
        # The outcomes in hand are written in the same transaction, before the claim.
        room = 2 * self.batch_size - (self.claimed - len(self.outcomes))
        return max(min(self.batch_size, room), 0)

    def _write_due(self, now: float) -> bool:
        return bool(self.outcomes) and (not self.workers or now >= self.outcomes[0].at + RECORD_WITHIN)

    def _start_workers(self) -> None:
        # Each worker running is busy with a row of its own; one that finds nothing more to take ends.
        for _ in range(min(self.concurrency - len(self.workers), len(self.waiting))):
            worker = asyncio.create_task(self._work())
            self.workers.add(worker)
            worker.add_done_callback(self._worker_done)

    def _worker_done(self, worker: asyncio.Task[None]) -> None:
        self.workers.discard(worker)
        self.changed.set()

    async def _work(self) -> None:
        dispatcher, loop = self.dispatcher, asyncio.get_running_loop()
        while self.waiting and not dispatcher._stopping:
            row, enrolment = self.waiting.popleft()
            outcome = await dispatcher._outcome(row, enrolment, self.report)
            outcome.at = loop.time()
            self.outcomes.append(outcome)
            if len(self.outcomes) == 1 or len(self.waiting) < self.low_water:
                self.changed.set()  # a write to schedule, or time to claim more

    async def _write(self, limit: int, *, release_stale: bool = False) -> None:
        """One transaction: the outcomes in hand, then (with `limit`) a claim of that many more rows.

        The first of a pass also returns to the queue what a sender that died left in flight.
        """
        dispatcher = self.dispatcher
        outcomes, self.outcomes = self.outcomes, []
        written = [outcome for outcome in outcomes if outcome.values is not None]
        done_chats = {outcome.row.chat_id for outcome in outcomes}
        released, claim = 0, None
        try:
            async with dispatcher.transaction() as session:
                if release_stale:
                    now = dispatcher.clock.now()
                    released = await deliveries.release_stale_claims(
                        session, claimed_before=now - dispatcher.settings.send_lease
                    )
                await self._write_outcomes(session, written)
                if limit:
                    claim = await self._claim(session, limit, self.busy_chats - done_chats)
        except (SQLAlchemyError, OSError) as exc:
            if release_stale or limit:
                # Nothing can be claimed: this pass claims no more and, once the sends under way are written,
                # fails; the next tick tries again.
                self.claim_error = exc
            await self._write_with_retries(written)
        else:
            if released:
                log.warning("re-queued %d message(s) left in flight by a stopped sender", released)
            self.report.sent += sum(outcome.sent for outcome in written)
        self.claimed -= len(outcomes)
        self.busy_chats -= done_chats
        if done_chats:
            self.wait_for_chats = False
        if claim is not None:
            self._take(claim)
        dispatcher.last_progress = time.monotonic()

    async def _claim(self, session: AsyncSession, limit: int, busy_chats: set[int]) -> _Claim:
        dispatcher = self.dispatcher
        batch = await deliveries.claim_due(
            session, now=dispatcher.clock.now(), limit=limit, owner=dispatcher.owner, skip_chats=busy_chats
        )
        first, later = _first_per_chat(batch)
        # Past a few hundred busy chats the claim itself does not leave them out; their rows go back here.
        busy = [row for row in first if row.chat_id in busy_chats]
        if busy:
            first = [row for row in first if row.chat_id not in busy_chats]
            later += busy
        if later:
            await deliveries.unclaim(session, [row.id for row in later])
        return _Claim(first, took_all_due=len(batch) < limit and not later and not busy_chats)

    def _take(self, claim: _Claim) -> None:
        self.claims += 1
        if claim.took_all_due:
            self.nothing_due = True
        elif not claim.rows:
            # Only chats with a message still on its way have rows due: claim again once one is written.
            self.wait_for_chats = True
        self.claimed += len(claim.rows)
        for row in claim.rows:
            self.busy_chats.add(row.chat_id)
            self.waiting.append((row, deliveries.enrolment_of(row)))

    async def _write_outcomes(self, session: AsyncSession, outcomes: list[_Outcome]) -> None:
        await deliveries.mark_many(session, [outcome.values for outcome in outcomes if outcome.values is not None],
                                   owner=self.dispatcher.owner)
        checkins = [outcome.row.id for outcome in outcomes if outcome.sent and outcome.row.checkin]
        if checkins:
            await self.dispatcher.composer.after_checkins_sent(session, checkins)

    async def _write_with_retries(self, outcomes: list[_Outcome]) -> None:
        """Write outcomes of sends Telegram accepted, riding out a short database outage (a restart, a lock).

        Given up after half the send lease, before another replica could take the rows for a second send:
        they stay 'sending' and go out once more after SEND_LEASE.
        """
        if not outcomes:
            return
        dispatcher = self.dispatcher
        ids = ", ".join(str(outcome.row.id) for outcome in outcomes)

        async def write() -> None:
            async with dispatcher.transaction() as session:
                await self._write_outcomes(session, outcomes)

        try:
            await confirmed_sends.record(write, lease=dispatcher.settings.send_lease, what=f"delivery {ids} went out")
        except confirmed_sends.NotRecorded:
            return  # they stay 'sending' and go out once more after SEND_LEASE
        except Exception:
            log.exception("could not record the send of delivery %s; it goes out once more after SEND_LEASE", ids)
            return
        self.report.sent += sum(outcome.sent for outcome in outcomes)
