"""Opening cases: a worrying client message becomes a case for staff, or joins the client's open one.

A client has at most one unresolved case; later messages join it and are threaded under its card, and an
urgent one raises a concern case to urgent. Routing happens inside the transaction that stores the message;
what it made necessary is published once that is committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import AuditEvent, Client, ConversationMessage, Enrolment, Escalation, EscalationState
from aftercare_bot.db.repositories import audit, inserts, timers
from aftercare_bot.db.repositories.timers import NewTimer
from aftercare_bot.delivery.outbox import Outbox
from aftercare_bot.delivery.staff_notify import staff_destinations
from aftercare_bot.escalation.cards import KIND_MESSAGE, CardView
from aftercare_bot.escalation.posts import CasePosts
from aftercare_bot.escalation.timers import CARD_TIMER, REALERT_TIMER
from aftercare_bot.services import Services
from aftercare_bot.triage.classify import TriageLevel


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


def new_case(
    client: Client, enrolment: Enrolment | None, level: TriageLevel, reasons: Sequence[str], kind: str, now: datetime
) -> Escalation:
    return Escalation(client_id=client.id, enrolment_id=enrolment.id if enrolment else None, level=level, kind=kind,
                      state=EscalationState.OPEN, reasons=join_reasons(reasons), created_at=now)


def opened_event(escalation: Escalation, reasons: Sequence[str], now: datetime) -> AuditEvent:
    return AuditEvent(at=now, action="escalation_opened", actor_id=None, client_id=escalation.client_id,
                      escalation_id=escalation.id,
                      detail={"level": escalation.level, "kind": escalation.kind, "reasons": list(reasons)})


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
    ) -> Routing:
        """Open a case for a worrying message, or add the message to the client's open case (`open_case`, read
        by the caller in this transaction)."""
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
        escalation = await inserts.add(session, new_case(client, enrolment, level, reasons, kind, now))
        scheduled = await timers.schedule_all(session, self.case_timers(escalation, now), now=now)
        await inserts.add_all(session, [opened_event(escalation, reasons, now)])
        return Routing(escalation.id, level, created=True, new_case=escalation,
                       card_timer_id=scheduled[CARD_TIMER, escalation.id])

    def case_timers(self, escalation: Escalation, now: datetime) -> list[NewTimer]:
        """A new case's timers: its card's, claimed to be posted right after the commit, and for an urgent case
        the re-alert's."""
        new_timers = [NewTimer(CARD_TIMER, escalation.id, now, claimed=True)]
        if escalation.level == TriageLevel.URGENT:
            new_timers.append(NewTimer(REALERT_TIMER, escalation.id, now + self.svc.settings.escalation_realert_after))
        return new_timers

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
