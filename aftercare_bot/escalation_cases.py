"""Opening cases: a worrying client message becomes a case for staff, or joins the client's open one.

A client has at most one unresolved case; later messages join it and are threaded under its card, and an
urgent one raises a concern case to urgent. Routing happens inside the transaction that stores the message;
what it made necessary is published once that is committed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db import audit, inserts, timers
from aftercare_bot.db.models import Client, ConversationMessage, Enrolment, Escalation, EscalationState
from aftercare_bot.db.timers import NewTimer
from aftercare_bot.escalation_cards import KIND_MESSAGE, CardView
from aftercare_bot.escalation_posts import CasePosts
from aftercare_bot.escalation_timers import CARD_TIMER, REALERT_TIMER
from aftercare_bot.outbox import Outbox
from aftercare_bot.services import Services
from aftercare_bot.staff_notify import staff_destinations
from aftercare_bot.triage import TriageLevel


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
    # A new case, and its card timer, claimed so that publish() posts the card without another claim.
    new_case: Escalation | None = None
    card_timer_id: int | None = None
    queued_for_staff: bool = False  # posts for the staff chats were queued with the routing
    # The new case's timers, when left to the caller to schedule with its own (see with_timers).
    unscheduled: tuple[NewTimer, ...] = ()

    def with_timers(self, scheduled: Mapping[tuple[str, int], int]) -> Routing:
        """The routing once the caller scheduled its `unscheduled` timers, given their ids by (kind, subject)."""
        if self.new_case is None or not self.unscheduled:
            return self
        return replace(self, unscheduled=(), card_timer_id=scheduled[CARD_TIMER, self.new_case.id])


class CaseRouter:
    def __init__(self, services: Services, outbox: Outbox, posts: CasePosts) -> None:
        self.svc = services
        self.outbox = outbox
        self.posts = posts

    async def route(
        self,
        session: AsyncSession,
        *,
        client: Client,
        enrolment: Enrolment | None,
        open_case: Escalation | None,
        level: TriageLevel,
        reasons: Sequence[str],
        now: datetime,
        kind: str = KIND_MESSAGE,
        schedule_timers: bool = True,
    ) -> Routing:
        """Open a case for a worrying message, or add the message to the client's open case (`open_case`, read
        by the caller in this transaction). Without `schedule_timers`, a new case's timers are left in
        Routing.unscheduled, for the caller to schedule in its own statement (saving one on the busiest path)."""
        escalation = open_case
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
        escalation = await inserts.add(session, Escalation(
            client_id=client.id, enrolment_id=enrolment.id if enrolment else None, level=level, kind=kind,
            state=EscalationState.OPEN, reasons=join_reasons(reasons), created_at=now,
        ))
        new_timers = [NewTimer(CARD_TIMER, escalation.id, now, claimed=True)]
        if level == TriageLevel.URGENT:
            new_timers.append(NewTimer(REALERT_TIMER, escalation.id, now + self.svc.settings.escalation_realert_after))
        await audit.record(session, now=now, action="escalation_opened", client_id=client.id,
                           escalation_id=escalation.id, detail={"level": level, "kind": kind,
                                                                "reasons": list(reasons)})
        routing = Routing(escalation.id, level, created=True, new_case=escalation, unscheduled=tuple(new_timers))
        if not schedule_timers:
            return routing
        return await self.schedule_timers(session, routing, now)

    @staticmethod
    async def schedule_timers(session: AsyncSession, routing: Routing, now: datetime) -> Routing:
        """Schedule the routing's timers left unscheduled, in one statement."""
        if not routing.unscheduled:
            return routing
        return routing.with_timers(await timers.schedule_all(session, routing.unscheduled, now=now))

    async def _schedule_realert(self, session: AsyncSession, escalation_id: int, now: datetime) -> None:
        due = now + self.svc.settings.escalation_realert_after
        await timers.schedule(session, kind=REALERT_TIMER, subject_id=escalation_id, due_at=due, now=now)

    async def queue_for_staff(
        self, session: AsyncSession, routing: Routing, message: ConversationMessage | None, client: Client
    ) -> Routing:
        """Inside the routing's transaction: a message joining an open case is queued under its card."""
        if not routing.joined or routing.escalation_id is None or message is None:
            return routing
        await self.posts.queue_thread(session, routing.escalation_id, message, client, upgraded=routing.upgraded)
        return replace(routing, queued_for_staff=True)

    async def queue_note(self, session: AsyncSession, routing: Routing, html: str, client_id: int) -> Routing:
        """Inside the routing's transaction: a note from the bot under the open case's card."""
        if routing.escalation_id is None:
            return routing
        await self.posts.queue_note(session, routing.escalation_id, html, client_id)
        return replace(routing, queued_for_staff=True)

    async def publish(
        self, routing: Routing, *, client: Client, enrolment: Enrolment | None, trigger: ConversationMessage | None
    ) -> None:
        """After the routing is committed: the new case's card (showing `trigger`, the message that opened it),
        the raised level, and whatever was queued for staff."""
        if routing.new_case is not None and routing.card_timer_id is not None:
            view = CardView(routing.new_case, client, enrolment, trigger, cards={})
            await self.posts.post_new_card(view, routing.card_timer_id)
        elif routing.upgraded and routing.escalation_id is not None:
            await self.posts.refresh_cards(routing.escalation_id)
        if routing.queued_for_staff:
            await self.outbox.deliver(*staff_destinations(self.svc))
