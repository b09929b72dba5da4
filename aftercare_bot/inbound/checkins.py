"""Check-ins: a client's answer on the buttons of a check-in message, and the silence when there is none (one
gentle reminder, then a "no response" case for staff). Both run as timers or button presses, one at a time per
client with their messages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import (
    Client,
    ClientStatus,
    ConversationMessage,
    Delivery,
    Enrolment,
    EnrolmentState,
    Timer,
)
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import audit, deliveries, timers
from aftercare_bot.db.repositories import conversation as conversation_repo
from aftercare_bot.db.repositories import escalations as escalation_repo
from aftercare_bot.delivery import quiet_hours
from aftercare_bot.delivery.compose import CHECKIN_ANSWERS, CHECKIN_NO_RESPONSE, CHECKIN_TIMER_KINDS
from aftercare_bot.escalation.cards import KIND_NO_RESPONSE
from aftercare_bot.escalation.cases import join_reasons
from aftercare_bot.escalation.desk import EscalationDesk
from aftercare_bot.inbound.message import CLIENT_SAFETY_KEY
from aftercare_bot.inbound.publish import publish
from aftercare_bot.inbound.turns import Turns
from aftercare_bot.services import Services
from aftercare_bot.texts import wording
from aftercare_bot.triage.classify import TriageLevel

ANSWER_LEVELS = {"ok": TriageLevel.ROUTINE, "worried": TriageLevel.CONCERN, "urgent": TriageLevel.URGENT}
# What a check-in answer earns: (text key, conversation kind).
CHECKIN_REPLIES = {
    TriageLevel.URGENT: (CLIENT_SAFETY_KEY, conversation_repo.SAFETY),
    TriageLevel.CONCERN: ("checkin_worried", "notice"),
    TriageLevel.ROUTINE: ("checkin_thanks", "thanks"),
}


class CheckinStatus(StrEnum):
    ANSWERED = "answered"
    ALREADY = "already"
    NOT_YOURS = "not_yours"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CheckinResult:
    status: CheckinStatus
    answer_label: str | None = None
    language: str | None = None


class Checkins:
    def __init__(self, services: Services, desk: EscalationDesk, turns: Turns) -> None:
        self.svc = services
        self.desk = desk
        self.turns = turns

    # -- check-in buttons ----------------------------------------------------------------------------------

    async def answer(self, checkin: RowRef, answer: str, telegram_user_id: int) -> CheckinResult:
        """`checkin` comes from the button: only the message it was made for is answered."""
        if answer not in CHECKIN_ANSWERS:
            return CheckinResult(CheckinStatus.UNKNOWN)
        async with self.turns.one_at_a_time(telegram_user_id):
            return await self._answer(checkin, answer, telegram_user_id)

    async def _answer(self, checkin: RowRef, answer: str, telegram_user_id: int) -> CheckinResult:
        now, delivery_id = self.svc.clock.now(), checkin.id
        level = ANSWER_LEVELS[answer]
        async with self.svc.session_factory.begin() as session:
            delivery = await session.get(Delivery, delivery_id)
            if delivery is not None and delivery.ref != checkin.ref:
                delivery = None
            client = await session.get(Client, delivery.client_id) if delivery else None
            if delivery is None or client is None:
                return CheckinResult(CheckinStatus.UNKNOWN)
            if client.telegram_user_id != telegram_user_id:
                return CheckinResult(CheckinStatus.NOT_YOURS)
            label = self.svc.label(f"checkin_button_{answer}", client.language)
            # Conditional, so a double press (or two replicas) records one answer only.
            if not await deliveries.record_answer(session, delivery_id, answer, now=now):
                return CheckinResult(CheckinStatus.ALREADY, language=client.language)
            await timers.cancel(session, subject_id=delivery_id, kinds=CHECKIN_TIMER_KINDS)
            enrolment = await session.get(Enrolment, delivery.enrolment_id)
            # Reasons are stored as plain text: the card escapes them when it shows them.
            staff = self.svc.staff_language  # reasons are read by the team
            reasons = (self.svc.label("esc_reason_checkin", staff,
                                     answer=self.svc.label(f"checkin_button_{answer}", staff)),)
            routing = await self.desk.cases.route(
                session, client=client, enrolment=enrolment, open_case=await escalation_repo.open_for_client(
                    session, client.id), level=level, reasons=reasons, now=now,
            )
            stored = await conversation_repo.add(session, ConversationMessage(
                client_id=client.id, enrolment_id=delivery.enrolment_id, escalation_id=routing.escalation_id,
                direction=conversation_repo.IN, kind="button", text=label, triage_level=level,
                triage_reasons=join_reasons(reasons), at=now,
            ))
            await audit.record(session, now=now, action="checkin_answered", actor_id=telegram_user_id,
                               client_id=client.id, detail={"delivery_id": delivery_id, "answer": answer})
            key, kind = CHECKIN_REPLIES[level]
            reply = await self.desk.outbox.tell_client(
                session, client, self.svc.text(key, client.language), kind=kind,
                escalation_id=routing.escalation_id, enrolment_id=delivery.enrolment_id, send_after_commit=True,
            )
            routing = await self.desk.cases.queue_for_staff(session, routing, stored, client)
        await publish(self.desk, routing, reply, client, enrolment, stored)
        return CheckinResult(CheckinStatus.ANSWERED, label, client.language)

    # -- silence after a check-in (timers) -------------------------------------------------------------------

    async def _unanswered(
        self, session: AsyncSession, delivery_id: int
    ) -> tuple[Delivery, Client, Enrolment] | None:
        delivery = await session.get(Delivery, delivery_id)
        if delivery is None or delivery.answer is not None:
            return None
        client = await session.get(Client, delivery.client_id)
        enrolment = await session.get(Enrolment, delivery.enrolment_id)
        if client is None or enrolment is None:
            return None
        if client.status != ClientStatus.ACTIVE or enrolment.state != EnrolmentState.ACTIVE:
            return None
        # Writing to us after the check-in is an answer too, even without pressing a button.
        wrote_at = await conversation_repo.last_in_at(session, client.id)
        if wrote_at is not None and delivery.sent_at is not None and wrote_at >= delivery.sent_at:
            return None
        return delivery, client, enrolment

    async def remind(self, timer: Timer) -> datetime | None:
        """One gentle reminder under the unanswered check-in; then wait for the no-response deadline."""
        now = self.svc.clock.now()
        async with self.svc.session_factory() as session:
            found = await self._unanswered(session, timer.subject_id)
        if found is None:
            return None
        delivery, client, enrolment = found
        resume = quiet_hours.next_allowed(now, self.svc.settings.quiet_hours, self.svc.settings.timezone)
        if resume > now:
            return resume  # not at night; the timer waits for the morning
        async with self.svc.session_factory.begin() as session:
            # The no-response timer comes with the reminder: if it exists, this timer ran already.
            if await timers.exists(session, kind=CHECKIN_NO_RESPONSE, subject_id=delivery.id):
                return None
            reminder = await self.desk.outbox.tell_client(
                session, client, self.svc.text("checkin_reminder", client.language), kind="reminder",
                enrolment_id=enrolment.id, reply_to=delivery.telegram_message_id, send_after_commit=True,
            )
            await timers.schedule(session, kind=CHECKIN_NO_RESPONSE, subject_id=delivery.id,
                                  due_at=now + self.svc.settings.checkin_no_response_after, now=now)
            await audit.record(session, now=now, action="checkin_reminded", client_id=client.id,
                               detail={"delivery_id": delivery.id})
        await self.desk.outbox.send_queued(reminder)
        return None

    async def silence(self, timer: Timer) -> datetime | None:
        """Still no answer after the reminder: staff get a "no response" case (or a note on the open one)."""
        now = self.svc.clock.now()
        async with self._one_at_a_time_for_delivery(timer.subject_id) as found:
            if found is None:
                return None
            delivery, client, enrolment = found
            language = self.svc.staff_language
            sent_at = delivery.sent_at or delivery.send_at
            reason = self.svc.label("esc_reason_no_response", language, step=delivery.step_key,
                                   sent_at=wording.moment(self.svc, sent_at, language, with_year=False))
            async with self.svc.session_factory.begin() as session:
                routing = await self.desk.cases.route(
                    session, client=client, enrolment=enrolment,
                    open_case=await escalation_repo.open_for_client(session, client.id), level=TriageLevel.CONCERN,
                    reasons=(reason,), now=now, kind=KIND_NO_RESPONSE,
                )
                await audit.record(session, now=now, action="checkin_no_response", client_id=client.id,
                                   escalation_id=routing.escalation_id, detail={"delivery_id": delivery.id})
                if not routing.created:
                    routing = await self.desk.cases.queue_note(session, routing, self.svc.text(
                        "esc_thread_no_response", language, name=client.name, step=delivery.step_key), client.id)
            await self.desk.cases.publish(routing, client=client, enrolment=enrolment, trigger=None)
        return None

    @asynccontextmanager
    async def _one_at_a_time_for_delivery(
        self, delivery_id: int
    ) -> AsyncIterator[tuple[Delivery, Client, Enrolment] | None]:
        async with self.svc.session_factory() as session:
            found = await self._unanswered(session, delivery_id)
        if found is None:
            yield None
            return
        async with self.turns.one_at_a_time(found[1].telegram_user_id):
            async with self.svc.session_factory() as session:
                found = await self._unanswered(session, delivery_id)  # again: the client may just have answered
            yield found
