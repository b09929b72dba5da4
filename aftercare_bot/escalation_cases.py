"""Opening cases: a worrying client message becomes a case for staff, or joins the client's open one.

A client has at most one unresolved case; later messages join it and are threaded under its card, and an
urgent one raises a concern case to urgent. Routing happens inside the transaction that stores the message;
what it made necessary is published once that is committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db import audit, timers
from aftercare_bot.db import escalations as repo
from aftercare_bot.db.models import Client, ConversationMessage, Enrolment, Escalation, EscalationState
from aftercare_bot.escalation_cards import KIND_MESSAGE
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
    card_timer_id: int | None = None


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

    async def queue_for_staff(
        self, session: AsyncSession, routing: Routing, message: ConversationMessage | None, client: Client
    ) -> None:
        """Inside the routing's transaction: a message joining an open case is queued under its card."""
        if not routing.joined or routing.escalation_id is None or message is None:
            return
        await self.posts.queue_thread(session, routing.escalation_id, message, client, upgraded=routing.upgraded)

    async def publish(self, routing: Routing) -> None:
        """After the routing is committed: the new card, the raised level, and whatever was queued for staff."""
        if routing.escalation_id is None:
            return
        if routing.created and routing.card_timer_id is not None:
            await self.posts.post_card_now(routing.card_timer_id, routing.escalation_id)
        elif routing.upgraded:
            await self.posts.refresh_cards(routing.escalation_id)
        await self.outbox.deliver(*staff_destinations(self.svc))
