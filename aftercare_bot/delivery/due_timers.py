"""Fires durable timers from the database: escalation cards and re-alerts, check-in reminders and silence,
and the outbox's messages.

Timers run in two lanes (delivery.lanes): the staff lane takes what may wait for the staff chats (case cards,
digests, queued staff posts), the client lane everything else, so that a staff chat held back by Telegram's 20
messages a minute never holds up a client's safety message.

Each timer is claimed atomically (one replica fires it), finished when its handler returns, and put back
for a later attempt when the messenger asks to retry. A timer claimed by a replica that died is released
after the send lease, so a restart never loses one (it may, rarely, fire twice). Once a handler has run, its
end is recorded with retries (confirmed_sends), so a short database outage does not make it run again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from aftercare_bot.db.models import Timer
from aftercare_bot.db.repositories import timers
from aftercare_bot.db.repositories.timers import StaffLane
from aftercare_bot.delivery import confirmed_sends, lanes
from aftercare_bot.delivery.compose import CHECKIN_NO_RESPONSE, CHECKIN_REMINDER
from aftercare_bot.delivery.outbox import OUTBOX_TIMER
from aftercare_bot.delivery.ports import SendRetryLater
from aftercare_bot.delivery.staff_notify import staff_destinations
from aftercare_bot.escalation.desk import EscalationDesk
from aftercare_bot.escalation.digests import DIGEST_TIMER
from aftercare_bot.escalation.posts import RETRY_SOON
from aftercare_bot.escalation.timers import CARD_TIMER, FINAL_TIMER, REALERT_TIMER
from aftercare_bot.inbound.receive import ClientConversation
from aftercare_bot.services import Services

log = logging.getLogger(__name__)

# A handler returns None when the timer is done, or the moment to try again.
TimerHandler = Callable[[Timer], Awaitable[datetime | None]]

BATCH = 50
# The staff lane claims a few at a time: each may wait for the staff chat, and what is not claimed yet can still
# be folded into a digest.
STAFF_BATCH = 4
MAX_BATCHES_PER_PASS = 20
RETRY_AFTER_ERROR = timedelta(minutes=5)
RETRY_UNKNOWN_KIND = timedelta(hours=1)
CASE_TIMERS = frozenset({CARD_TIMER, REALERT_TIMER, FINAL_TIMER})  # their subject is the case
# Timers whose work waits for the staff chats; outbox timers go by the chat of their message. A re-alert or a
# no-response case only queues its staff post (sent at once if the chat has room, else left to the staff lane),
# so they run in the client lane and never wait there.
STAFF_KINDS = frozenset({CARD_TIMER, DIGEST_TIMER})


class TimerRunner:
    def __init__(self, services: Services, desk: EscalationDesk, conversation: ClientConversation) -> None:
        self.svc = services
        self.handlers: dict[str, TimerHandler] = {
            CARD_TIMER: self._post_card(desk),
            REALERT_TIMER: desk.timers.realert,
            FINAL_TIMER: desk.timers.final_notice,
            CHECKIN_REMINDER: conversation.checkins.remind,
            CHECKIN_NO_RESPONSE: conversation.checkins.silence,
            OUTBOX_TIMER: desk.outbox.on_timer,
            DIGEST_TIMER: desk.digests.on_timer,
        }
        self.staff_kinds = set(STAFF_KINDS)
        # Called before each staff batch is claimed, with how many staff timers are due: digests fold what waits
        # for a busy staff chat.
        self.before_staff_batch: Callable[[int], Awaitable[object]] | None = desk.digests.relieve
        self.first_kinds = {DIGEST_TIMER}  # a digest shows many cases: it goes before single posts
        self._locks = {lanes.CLIENT: asyncio.Lock(), lanes.STAFF: asyncio.Lock()}
        self._stopping = False

    def register(self, kind: str, handler: TimerHandler, *, staff: bool = False, first: bool = False) -> None:
        """Other features may add timer kinds of their own: `staff` ones run in the staff lane, `first` ones before
        the other due timers of their lane."""
        self.handlers[kind] = handler
        if staff:
            self.staff_kinds.add(kind)
        if first:
            self.first_kinds.add(kind)

    def stop_claiming(self) -> None:
        """On shutdown: finish the timers in hand, claim no more (another replica or the next start will)."""
        self._stopping = True

    def lane_filter(self, lane: str) -> StaffLane:
        return StaffLane(frozenset(self.staff_kinds), OUTBOX_TIMER, tuple(staff_destinations(self.svc)),
                         staff=lane == lanes.STAFF, first_kinds=frozenset(self.first_kinds))

    @staticmethod
    def _post_card(desk: EscalationDesk) -> TimerHandler:
        async def handler(timer: Timer) -> datetime | None:
            await desk.posts.post_card(timer.subject_id)
            return None

        return handler

    async def next_due(self, *, except_kinds: tuple[str, ...] = ()) -> datetime | None:
        async with self.svc.session_factory() as session:
            return await timers.next_due_at(session, except_kinds=except_kinds)

    async def run_due(self) -> int:
        """Fire every timer that is due, the client lane's first; returns how many were handled."""
        return await self.run_lane(lanes.CLIENT) + await self.run_lane(lanes.STAFF)

    async def run_lane(self, lane: str) -> int:
        """Fire the lane's due timers; returns how many were handled. Overlapping calls of one lane queue."""
        fired = 0
        staff = lane == lanes.STAFF
        async with self._locks[lane]:
            now = self.svc.clock.now()
            async with self.svc.session_factory.begin() as session:
                released = await timers.release_stale(session, claimed_before=now - self.svc.settings.send_lease)
            if released:
                log.warning("re-queued %d timer(s) left running by a stopped replica", released)
            batches = MAX_BATCHES_PER_PASS * (BATCH // STAFF_BATCH if staff else 1)
            for _ in range(batches):
                if self._stopping:
                    break
                if staff and self.before_staff_batch is not None:
                    await self.before_staff_batch(await self.due_count(lane))
                async with self.svc.session_factory.begin() as session:
                    batch = await timers.claim_due(session, now=self.svc.clock.now(),
                                                   limit=STAFF_BATCH if staff else BATCH,
                                                   lane=self.lane_filter(lane))
                if not batch:
                    break
                for timer in batch:
                    await self._fire(timer)
                    fired += 1
        return fired

    async def due_count(self, lane: str) -> int:
        async with self.svc.session_factory() as session:
            return await timers.count_due(session, now=self.svc.clock.now(), lane=self.lane_filter(lane))

    async def _fire(self, timer: Timer) -> None:
        handler = self.handlers.get(timer.kind)
        retry: datetime | None
        if handler is None:
            log.error("no handler for timer kind %r (timer %s); trying again later", timer.kind, timer.id)
            retry = self.svc.clock.now() + RETRY_UNKNOWN_KIND
        else:
            try:
                retry = await handler(timer)
            except confirmed_sends.NotRecorded:
                return  # something went out but is not recorded: the timer stays claimed until the send lease
            except SendRetryLater as exc:
                delay = timedelta(seconds=exc.retry_after) if exc.retry_after else RETRY_SOON
                log.warning("timer %s (%s) must wait: %s", timer.id, timer.kind, exc)
                retry = self.svc.clock.now() + delay
            except Exception:
                # Safety timers must not vanish because of one failure; try again a little later.
                case = {"case_id": timer.subject_id} if timer.kind in CASE_TIMERS else {}
                log.exception("timer %s (%s) failed", timer.id, timer.kind, extra={"timer_id": timer.id, **case})
                retry = self.svc.clock.now() + RETRY_AFTER_ERROR

        async def settle() -> None:
            async with self.svc.session_factory.begin() as session:
                if retry is None:
                    await timers.finish(session, timer.id)
                else:
                    await timers.retry_at(session, timer.id, retry)

        # Should the database stay away for half the lease, NotRecorded ends this pass: the lease returns the
        # timers left claimed, and handlers recognise work already done.
        await confirmed_sends.record(settle, lease=self.svc.settings.send_lease,
                                     what=f"timer {timer.id} ({timer.kind}) ran")
