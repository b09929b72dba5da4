"""What clients write to the bot, one way through: receive → classify (triage/) → store and route, in one
transaction (inbound/writes.py, escalation/cases.py) → publish (inbound/publish.py).

Urgent: a safety message to the client at once and an urgent case for staff. Concern: a case, and the client
is told the team will reply. Routine: a kind acknowledgement now and then. What the client is told is queued in
the outbox in the same transaction as their message, so a Telegram outage delays it but cannot lose it. People
who are not clients take their own short path (inbound/strangers.py); check-in answers and the silence after a
check-in are in inbound/checkins.py; the question asked back when a symptom names no warning sign, and its
answers, in inbound/ask_back.py.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import ConversationMessage
from aftercare_bot.db.repositories import conversation as conversation_repo
from aftercare_bot.db.repositories.conversation import Writer
from aftercare_bot.db.write_turns import write_turn
from aftercare_bot.delivery.compose import day_since_session
from aftercare_bot.delivery.outbox import Queued
from aftercare_bot.escalation.cards import KIND_MESSAGE, KIND_QUESTION
from aftercare_bot.escalation.cases import Routing, join_reasons
from aftercare_bot.escalation.desk import EscalationDesk
from aftercare_bot.inbound.ask_back import AskBackAnswers
from aftercare_bot.inbound.checkins import Checkins
from aftercare_bot.inbound.message import CLIENT_SAFETY_KEY, TRIAGE_MEDIA_KINDS, InboundMessage
from aftercare_bot.inbound.publish import publish
from aftercare_bot.inbound.strangers import Strangers
from aftercare_bot.inbound.turns import Turns
from aftercare_bot.inbound.writes import Arrival, InboundWrites
from aftercare_bot.services import Services
from aftercare_bot.triage.classify import TriageLevel, TriageResult, TriageRules, triage

log = logging.getLogger(__name__)

# A routine message gets a kind acknowledgement, but a chatty client gets at most one per this interval.
ACK_INTERVAL = timedelta(minutes=30)
ACK_KIND = "ack"

class Received(StrEnum):
    STRANGER = "stranger"
    DUPLICATE = "duplicate"  # the same message delivered again (e.g. after a restart): already handled
    ROUTINE = "routine"
    CONCERN = "concern"
    URGENT = "urgent"


class ClientConversation:
    def __init__(self, services: Services, desk: EscalationDesk, rules: TriageRules | None = None) -> None:
        self.svc = services
        self.desk = desk
        self.rules = rules or services.triage_rules
        self.turns = Turns()
        self.strangers = Strangers(services, desk, self.rules)
        self.checkins = Checkins(services, desk, self.turns)
        self.ask_back = AskBackAnswers(services, desk, self.rules, self.turns)
        self.writes = InboundWrites(services, desk)
        # On SQLite, messages that find no open case are written in groups (see inbound_writes).
        self._grouped = services.engine.dialect.name == "sqlite"

    def exclusive(self, telegram_user_id: int) -> AbstractAsyncContextManager[None]:
        """Hold this person's messages and check-in answers back meanwhile (e.g. while their data is erased)."""
        return self.turns.one_at_a_time(telegram_user_id)

    # -- free messages -------------------------------------------------------------------------------------

    async def receive(self, inbound: InboundMessage) -> Received:
        async with self.turns.one_at_a_time(inbound.telegram_user_id):
            return await self._receive(inbound)

    async def _receive(self, inbound: InboundMessage) -> Received:
        now = self.svc.clock.now()
        # Everything the message makes necessary is written in this one transaction: the message, its case, the
        # card's and the re-alert's timers, the answer to the client in the outbox, posts for staff, the audit.
        async with self.svc.session_factory() as session:
            writer = await conversation_repo.writer(
                session, inbound.telegram_user_id, telegram_message_id=inbound.message_id, kind=inbound.kind,
                text=inbound.text, out_kinds=(ACK_KIND,),
            )
            if writer is not None and writer.already_received:
                log.info("message %s of client %s arrived again; already handled", inbound.message_id,
                         writer.client.id)
                return Received.DUPLICATE
            if writer is not None:
                client, enrolment = writer.client, writer.enrolment
                day = day_since_session(enrolment.session_at, now, self.svc.settings) if enrolment else None
                result = triage(
                    self.rules, inbound.text, language=client.language, day_since_session=day,
                    has_photo=inbound.kind == "photo", has_media=inbound.kind in TRIAGE_MEDIA_KINDS,
                    reasons_in=self.svc.staff_language,  # the card's reasons; the client's words stay as written
                )
                # A message to ask back about is written on its own: the question's buttons name its case.
                alone = writer.open_case is not None or result.ask_back
                arrival = None if alone else self._arrival(inbound, writer, result, now)
                if arrival is None:
                    async with write_turn(session):
                        routing, stored, reply = await self._store(session, inbound, writer, result, now)
                        await session.commit()
                elif not self._grouped:
                    written = await self.writes.write_in(session, arrival)
                    routing, stored, reply = written.routing, written.message, written.reply
        if writer is None:
            await self.strangers.handle(inbound)
            return Received.STRANGER
        if arrival is not None and self._grouped:
            # Its session is closed by now: the group's writer needs a connection, and the pool may be small.
            written = await self.writes.write_grouped(arrival)
            routing, stored, reply = written.routing, written.message, written.reply
        await publish(self.desk, routing, reply, client, enrolment, stored)
        return Received(result.level)

    def _arrival(self, inbound: InboundMessage, writer: Writer, result: TriageResult, now: datetime) -> Arrival:
        """A message of a client with no open case, and what it calls for (see inbound_writes)."""
        acknowledge = writer.last_out_at is None or now - writer.last_out_at >= ACK_INTERVAL
        routing = Routing(None, result.level, created=result.level != TriageLevel.ROUTINE)
        answer = self._answer(routing, result.level, acknowledge and result.level != TriageLevel.URGENT)
        return Arrival(
            client=writer.client, enrolment=writer.enrolment, kind=inbound.kind, text=inbound.text,
            file_id=inbound.file_id, telegram_message_id=inbound.message_id, level=result.level,
            reasons=tuple(result.reasons), at=now,
            answer=(self.svc.text(answer[0], writer.client.language), answer[1]) if answer is not None else None,
            case_kind=KIND_QUESTION if result.is_question else KIND_MESSAGE,
        )

    async def _store(
        self, session: AsyncSession, inbound: InboundMessage, writer: Writer, result: TriageResult, now: datetime
    ) -> tuple[Routing, ConversationMessage, Queued | None]:
        """The message, where it goes, and the answer to the client, queued to be sent once committed."""
        client, enrolment = writer.client, writer.enrolment
        routing = await self.desk.cases.route(
            session, client=client, enrolment=enrolment, open_case=writer.open_case, level=result.level,
            reasons=result.reasons, now=now, kind=KIND_QUESTION if result.is_question else KIND_MESSAGE,
        )
        stored = await conversation_repo.add(session, ConversationMessage(
            client_id=client.id, enrolment_id=enrolment.id if enrolment else None,
            escalation_id=routing.escalation_id, direction=conversation_repo.IN, kind=inbound.kind,
            text=inbound.text, file_id=inbound.file_id, telegram_message_id=inbound.message_id,
            triage_level=result.level, triage_reasons=join_reasons(result.reasons), at=now,
        ))
        acknowledge = result.level != TriageLevel.URGENT and (
            writer.last_out_at is None or now - writer.last_out_at >= ACK_INTERVAL)
        answer = self._answer(routing, result.level, acknowledge)
        reply = None
        case = routing.new_case or writer.open_case
        if result.ask_back and case is not None and case.asked_back_at is None and routing.level == TriageLevel.CONCERN:
            # Instead of "passed on": one short question, a button per warning sign, answered at once.
            reply = await self.ask_back.ask(session, client, enrolment, case, now=now)
            answer = None if reply is not None else answer
        if answer is not None:
            key, kind = answer
            reply = await self.desk.outbox.tell_client(
                session, client, self.svc.text(key, client.language), kind=kind,
                escalation_id=routing.escalation_id, enrolment_id=enrolment.id if enrolment else None,
                send_after_commit=True,
            )
        routing = await self.desk.cases.queue_for_staff(session, routing, stored, client)
        return routing, stored, reply

    @staticmethod
    def _answer(routing: Routing, level: TriageLevel, acknowledge: bool) -> tuple[str, str] | None:
        """What the client hears back, as (text key, kind): safety first, otherwise a short word that someone is
        listening."""
        if level == TriageLevel.URGENT:
            return CLIENT_SAFETY_KEY, conversation_repo.SAFETY
        if routing.created:
            return "esc_concern_received", "notice"
        if not acknowledge:
            return None
        return ("esc_joined_ack" if routing.joined else "esc_routine_ack"), ACK_KIND

