"""The durable timers of a case: its card until it is posted, then, for an urgent case nobody claims, a second
announcement naming the admins and finally the advice to the client to call the clinic directly.

Each is a row in the timers table with the escalation id as subject, so a restart loses none of them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Client, EscalationState, Role, StaffMember, Timer
from aftercare_bot.db.repositories import audit, timers
from aftercare_bot.db.repositories import conversation as conversation_repo
from aftercare_bot.db.repositories import escalations as repo
from aftercare_bot.db.repositories import staff as staff_repo
from aftercare_bot.delivery.outbox import Outbox, Outcome
from aftercare_bot.delivery.staff_notify import staff_destinations
from aftercare_bot.escalation.cards import CaseTexts
from aftercare_bot.escalation.posts import ROLE_REALERT, CasePosts
from aftercare_bot.services import Services

CARD_TIMER = "escalation_card"
REALERT_TIMER = "escalation_realert"
FINAL_TIMER = "escalation_final"
RESPONSE_TIMERS = (REALERT_TIMER, FINAL_TIMER)
FINAL_KIND = conversation_repo.FINAL


class ResponseTimers:
    """What happens when nobody claims an urgent case in time."""

    def __init__(self, services: Services, outbox: Outbox, posts: CasePosts, texts: CaseTexts) -> None:
        self.svc = services
        self.outbox = outbox
        self.posts = posts
        self.texts = texts

    async def realert(self, timer: Timer) -> datetime | None:
        """Nobody claimed an urgent case in time: announce it again, naming the admins."""
        escalation_id = timer.subject_id
        async with self.svc.session_factory.begin() as session:
            escalation = await repo.get(session, escalation_id)
            if escalation is None or escalation.state != EscalationState.OPEN:
                return None
            # The final timer is scheduled with the announcement: if it exists, this timer ran already (and its
            # end was not recorded), so announcing again would repeat it.
            if await timers.exists(session, kind=FINAL_TIMER, subject_id=escalation_id):
                return None
            client = await session.get(Client, escalation.client_id)
            admins = await self._admins(session)
            # From the original due time, so a staff chat outage cannot delay the client.
            await timers.schedule(session, kind=FINAL_TIMER, subject_id=escalation_id,
                                  due_at=timer.due_at + self.svc.settings.escalation_final_after,
                                  now=self.svc.clock.now())
            await audit.record(session, now=self.svc.clock.now(), action="escalation_realerted",
                               escalation_id=escalation_id, client_id=escalation.client_id)
            lines = [self.texts.t("esc_realert", number=escalation_id, name=client.name if client else "?",
                                  after=self.texts.duration(self.svc.settings.escalation_realert_after))]
            if admins:
                lines.append(", ".join(self.texts.t("esc_mention", user_id=user_id, name=name)
                                       for user_id, name in admins))
            await self.outbox.to_staff(session, "\n".join(lines), escalation_id=escalation_id, role=ROLE_REALERT,
                                       client_id=escalation.client_id)
        await self.outbox.deliver(*staff_destinations(self.svc))
        return None

    async def final_notice(self, timer: Timer) -> datetime | None:
        """Still unclaimed: the client is told to call the clinic directly or emergency services."""
        escalation_id = timer.subject_id
        async with self.svc.session_factory.begin() as session:
            escalation = await repo.get(session, escalation_id)
            if escalation is None or escalation.state != EscalationState.OPEN:
                return None
            client = await session.get(Client, escalation.client_id)
            if client is None:
                return None
            if await conversation_repo.has_out(session, escalation_id, FINAL_KIND):
                return None  # told already: this timer ran before and its end was not recorded
            queued = await self.outbox.tell_client(
                session, client, self.svc.text("esc_final_call_clinic", client.language), kind=FINAL_KIND,
                escalation_id=escalation_id, enrolment_id=escalation.enrolment_id, send_after_commit=True,
            )
        outcome = await self.outbox.send_queued(queued)
        # Waiting counts as told: it goes out as soon as Telegram takes it, as this note does.
        told = outcome in (Outcome.SENT, Outcome.WAITING)
        total = self.svc.settings.escalation_realert_after + self.svc.settings.escalation_final_after
        key = "esc_final_staff_note" if told else "esc_final_staff_unreachable"
        async with self.svc.session_factory.begin() as session:
            await audit.record(session, now=self.svc.clock.now(), action="escalation_final_notice",
                               escalation_id=escalation_id, client_id=client.id, detail={"told": told})
            await self.posts.queue_note(session, escalation_id, self.texts.t(
                key, number=escalation_id, name=client.name, after=self.texts.duration(total)), client.id)
        await self.outbox.deliver(*staff_destinations(self.svc))
        return None

    async def _admins(self, session: AsyncSession) -> list[tuple[int, str]]:
        names = {member.user_id: member.name for member in await staff_repo.all_members(session)
                 if member.role == Role.ADMIN}
        for user_id in self.svc.settings.admin_ids:
            member = await session.get(StaffMember, user_id)
            names.setdefault(user_id, member.name if member is not None else "")
        # An admin the bot knows no name for is still mentioned (by the link), under a word, not a bare number.
        unnamed = self.texts.plain("esc_admin_unnamed")
        return [(user_id, name or unnamed) for user_id, name in names.items()]

