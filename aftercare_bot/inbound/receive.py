"""What clients say to the bot: free messages and check-in answers are stored, triaged and routed.

Urgent: a safety message to the client at once and an urgent case for staff. Concern: a case, and the client
is told the team will reply. Routine: a kind acknowledgement now and then. Silence after a check-in earns one
reminder, then a "no response" case for staff. What the client is told is queued in the outbox in the same
transaction as their message, so a Telegram outage delays it but cannot lose it.
"""

from __future__ import annotations

import asyncio
import html
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import (
    Client,
    ClientStatus,
    ConversationMessage,
    Delivery,
    Enrolment,
    EnrolmentState,
    Escalation,
    OutboxMessage,
    Timer,
)
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import audit, timers
from aftercare_bot.db.repositories import conversation as conversation_repo
from aftercare_bot.db.repositories import escalations as escalation_repo
from aftercare_bot.db.repositories.conversation import Writer
from aftercare_bot.db.write_turns import write_turn
from aftercare_bot.delivery import quiet_hours
from aftercare_bot.delivery.compose import CHECKIN_ANSWERS, CHECKIN_NO_RESPONSE, CHECKIN_REMINDER, day_since_session
from aftercare_bot.delivery.outbox import Queued
from aftercare_bot.delivery.ports import Button, OutboundMessage, RecipientBlocked, SendRejected, SendRetryLater
from aftercare_bot.escalation.cards import KIND_MESSAGE, KIND_NO_RESPONSE, KIND_QUESTION
from aftercare_bot.escalation.cases import Routing, join_reasons
from aftercare_bot.escalation.desk import EscalationDesk
from aftercare_bot.inbound.writes import Arrival, InboundWrites
from aftercare_bot.services import Services
from aftercare_bot.texts import wording
from aftercare_bot.triage.classify import TriageLevel, TriageResult, TriageRules, triage
from aftercare_bot.triage.rules import NO_WARNING_SIGN, AskBack

log = logging.getLogger(__name__)

CHECKIN_TIMERS = (CHECKIN_REMINDER, CHECKIN_NO_RESPONSE)
# A routine message gets a kind acknowledgement, but a chatty client gets at most one per this interval.
ACK_INTERVAL = timedelta(minutes=30)
ACK_KIND = "ack"
ANSWER_LEVELS = {"ok": TriageLevel.ROUTINE, "worried": TriageLevel.CONCERN, "urgent": TriageLevel.URGENT}
# Media that triage should treat as "something to look at" (a photo is told apart by has_photo).
TRIAGE_MEDIA_KINDS = frozenset({"voice", "video", "video_note", "audio", "document", "animation"})
CLIENT_SAFETY_KEY = "esc_safety_urgent"
ASK_BACK_KIND = "ask_back"  # the conversation kind of the question about warning signs
ASK_BACK_PRESS = "ab"  # callback data: ab:<case RowRef>:<option id>
# For someone with no client record, for whom no case is opened; the client's safety text stands in until the
# texts have this one.
STRANGER_SAFETY_KEY = "esc_safety_stranger"
# What a check-in answer earns: (text key, conversation kind).
CHECKIN_REPLIES = {
    TriageLevel.URGENT: (CLIENT_SAFETY_KEY, "safety"),
    TriageLevel.CONCERN: ("checkin_worried", "notice"),
    TriageLevel.ROUTINE: ("checkin_thanks", "thanks"),
}


@dataclass(frozen=True)
class InboundMessage:
    """A message a person sent the bot in a private chat, as the domain needs it."""

    telegram_user_id: int
    chat_id: int
    message_id: int
    kind: str  # text, photo, voice, video, document, sticker, ... ; "edit" for an edited text
    text: str | None = None
    file_id: str | None = None
    language: str | None = None
    edited: bool = False


class Received(StrEnum):
    STRANGER = "stranger"
    DUPLICATE = "duplicate"  # the same message delivered again (e.g. after a restart): already handled
    ROUTINE = "routine"
    CONCERN = "concern"
    URGENT = "urgent"


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


class ClientConversation:
    def __init__(self, services: Services, desk: EscalationDesk, rules: TriageRules | None = None) -> None:
        self.svc = services
        self.desk = desk
        self.rules = rules or services.triage_rules
        # One message of a client at a time, so that two quick messages cannot open two cases.
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self.writes = InboundWrites(services, desk)
        # On SQLite, messages that find no open case are written in groups (see inbound_writes).
        self._grouped = services.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def _one_at_a_time(self, telegram_user_id: int) -> AsyncIterator[None]:
        lock = self._locks.get(telegram_user_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[telegram_user_id] = lock
        async with lock:
            yield

    def exclusive(self, telegram_user_id: int) -> AbstractAsyncContextManager[None]:
        """Hold this person's messages and check-in answers back meanwhile (e.g. while their data is erased)."""
        return self._one_at_a_time(telegram_user_id)

    # -- free messages -------------------------------------------------------------------------------------

    async def receive(self, inbound: InboundMessage) -> Received:
        async with self._one_at_a_time(inbound.telegram_user_id):
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
            if self._triage_stranger(inbound) == TriageLevel.URGENT:
                await self._warn_stranger(inbound)
            await self._answer_stranger(inbound)
            return Received.STRANGER
        if arrival is not None and self._grouped:
            # Its session is closed by now: the group's writer needs a connection, and the pool may be small.
            written = await self.writes.write_grouped(arrival)
            routing, stored, reply = written.routing, written.message, written.reply
        await self._publish(routing, reply, client, enrolment, stored)
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
        ask = self._ask_back_for(client.language) if result.ask_back else None
        if ask is not None and case is not None and case.asked_back_at is None and routing.level == TriageLevel.CONCERN:
            # Instead of "passed on": one short question, a button per warning sign, answered at once.
            case.asked_back_at = now  # for the card posted after the commit; the row is written here
            await session.execute(update(Escalation).where(Escalation.id == case.id).values(asked_back_at=now))
            reply = await self.desk.outbox.tell_client(
                session, client, self._ask_back_html(ask, client.language), kind=ASK_BACK_KIND,
                escalation_id=case.id, enrolment_id=enrolment.id if enrolment else None, send_after_commit=True,
                buttons=self._ask_back_buttons(ask, case),
            )
            answer = None
        if answer is not None:
            key, kind = answer
            reply = await self.desk.outbox.tell_client(
                session, client, self.svc.text(key, client.language), kind=kind,
                escalation_id=routing.escalation_id, enrolment_id=enrolment.id if enrolment else None,
                send_after_commit=True,
            )
        routing = await self.desk.cases.queue_for_staff(session, routing, stored, client)
        return routing, stored, reply

    async def _publish(
        self, routing: Routing, reply: Queued | None, client: Client, enrolment: Enrolment | None,
        message: ConversationMessage,
    ) -> None:
        """Once committed: the answer to the client and the card (or the post under it) for staff, side by side,
        since they go to different chats. Whatever cannot go now stays queued for the timer runner."""
        sends = [self.desk.cases.publish(routing, client=client, enrolment=enrolment, trigger=message)]
        if reply is not None:
            sends.append(self.desk.outbox.send_queued(reply))
        await asyncio.gather(*sends)

    # -- asking back which warning sign applies ---------------------------------------------------------------

    def _ask_back_for(self, language: str | None) -> AskBack | None:
        lang = self.rules.for_language(language) or self.rules.for_language(self.svc.settings.default_language)
        return lang.ask_back if lang is not None else None

    def _ask_back_html(self, ask: AskBack, language: str | None) -> str:
        return f"{html.escape(ask.question)}\n\n{self.svc.text('ask_back_footer', language)}"

    def _ask_back_buttons(self, ask: AskBack, case: Escalation) -> tuple[tuple[Button, ...], ...]:
        ref = RowRef.of(case)
        return tuple((Button(o.label, self.svc.signer.sign(ASK_BACK_PRESS, ref, o.id)),) for o in ask.options)

    async def answer_ask_back(self, case: RowRef, option_id: str, telegram_user_id: int) -> CheckinResult:
        """A press on the warning-sign question: `case` comes from the button, so only that case is touched."""
        async with self._one_at_a_time(telegram_user_id):
            return await self._answer_ask_back(case, option_id, telegram_user_id)

    async def _answer_ask_back(self, ref: RowRef, option_id: str, telegram_user_id: int) -> CheckinResult:
        now = self.svc.clock.now()
        async with self.svc.session_factory.begin() as session:
            case = await session.get(Escalation, ref.id)
            if case is None or case.ref != ref.ref or case.asked_back_at is None:
                return CheckinResult(CheckinStatus.UNKNOWN)
            client = await session.get(Client, case.client_id)
            if client is None:
                return CheckinResult(CheckinStatus.UNKNOWN)
            if client.telegram_user_id != telegram_user_id:
                return CheckinResult(CheckinStatus.NOT_YOURS)
            ask = self._ask_back_for(client.language)
            option = ask.option(option_id) if ask is not None else None
            if ask is None or option is None:
                return CheckinResult(CheckinStatus.UNKNOWN, language=client.language)
            # Conditional, so a double press (or a replayed one) records one answer only.
            done = await session.execute(
                update(Escalation).where(Escalation.id == case.id, Escalation.ask_back_answer.is_(None))
                .values(ask_back_answer=option.id, ask_back_answered_at=now)
            )
            if not done.rowcount:
                return CheckinResult(CheckinStatus.ALREADY, language=client.language)
            await session.refresh(case)
            enrolment = await session.get(Enrolment, case.enrolment_id) if case.enrolment_id else None
            warning = option.id != NO_WARNING_SIGN
            level = TriageLevel.URGENT if warning else TriageLevel.CONCERN
            lang = self.rules.for_language(client.language)
            label = lang.labels[level] if lang is not None else level.value
            template = ask.reason if warning else ask.none_reason
            reasons = (f"{label}: {template.format(option=option.label)}",)
            # Exactly as if the client had written it: the open case (this one, unless resolved since) is raised.
            routing = await self.desk.cases.route(
                session, client=client, enrolment=enrolment,
                open_case=await escalation_repo.open_for_client(session, client.id), level=level, reasons=reasons,
                now=now,
            )
            stored = await conversation_repo.add(session, ConversationMessage(
                client_id=client.id, enrolment_id=case.enrolment_id, escalation_id=routing.escalation_id,
                direction=conversation_repo.IN, kind="button", text=option.label, triage_level=level,
                triage_reasons=join_reasons(reasons), at=now,
            ))
            await audit.record(session, now=now, action="ask_back_answered", actor_id=telegram_user_id,
                               client_id=client.id, escalation_id=case.id, detail={"answer": option.id})
            key, kind = (CLIENT_SAFETY_KEY, "safety") if warning else ("ask_back_none_reply", "notice")
            reply = await self.desk.outbox.tell_client(
                session, client, self.svc.text(key, client.language), kind=kind,
                escalation_id=routing.escalation_id, enrolment_id=case.enrolment_id, send_after_commit=True,
            )
            routing = await self.desk.cases.queue_for_staff(session, routing, stored, client)
        await self._publish(routing, reply, client, enrolment, stored)
        if not routing.upgraded and routing.joined and routing.escalation_id is not None:
            await self.desk.posts.refresh_cards(routing.escalation_id)  # shows what was pressed
        return CheckinResult(CheckinStatus.ANSWERED, option.label, client.language)

    @staticmethod
    def _answer(routing: Routing, level: TriageLevel, acknowledge: bool) -> tuple[str, str] | None:
        """What the client hears back, as (text key, kind): safety first, otherwise a short word that someone is
        listening."""
        if level == TriageLevel.URGENT:
            return "esc_safety_urgent", "safety"
        if routing.created:
            return "esc_concern_received", "notice"
        if not acknowledge:
            return None
        return ("esc_joined_ack" if routing.joined else "esc_routine_ack"), ACK_KIND

    def _triage_stranger(self, inbound: InboundMessage) -> TriageLevel:
        """Someone with no client record (not joined yet, declined, or erased) may still describe a warning sign."""
        result = triage(
            self.rules, inbound.text, language=inbound.language or self.svc.settings.default_language,
            day_since_session=None, has_photo=inbound.kind == "photo",
            has_media=inbound.kind in TRIAGE_MEDIA_KINDS,
        )
        return result.level

    async def _warn_stranger(self, inbound: InboundMessage) -> None:
        """The safety advice, through the outbox (by chat alone), so an outage delays it but cannot lose it.
        No case is opened: staff have no record of this person to act on."""
        has_own_text = self.svc.texts.has(STRANGER_SAFETY_KEY, self.svc.settings.default_language)
        html = self.svc.text(STRANGER_SAFETY_KEY if has_own_text else CLIENT_SAFETY_KEY, inbound.language)
        log.warning("an unknown person in chat %s wrote what looks like a warning sign; safety advice sent",
                    inbound.chat_id)
        try:
            async with self.svc.session_factory.begin() as session:
                await self.desk.outbox.add(session, OutboxMessage(chat_id=inbound.chat_id, html=html))
        except Exception:
            log.exception("could not queue safety advice for chat %s; sending it directly", inbound.chat_id)
            await self._send_stranger(inbound, html)
            return
        await self.desk.outbox.deliver(inbound.chat_id)

    async def _answer_stranger(self, inbound: InboundMessage) -> None:
        await self._send_stranger(inbound, self.svc.text("start_no_token", inbound.language))

    async def _send_stranger(self, inbound: InboundMessage, html: str) -> None:
        try:
            await self.desk.messenger.send(OutboundMessage(inbound.chat_id, html))
        except (SendRetryLater, RecipientBlocked, SendRejected):
            log.exception("could not answer an unknown person in chat %s", inbound.chat_id)

    # -- check-in buttons ----------------------------------------------------------------------------------

    async def answer_checkin(self, checkin: RowRef, answer: str, telegram_user_id: int) -> CheckinResult:
        """`checkin` comes from the button: only the message it was made for is answered."""
        if answer not in CHECKIN_ANSWERS:
            return CheckinResult(CheckinStatus.UNKNOWN)
        async with self._one_at_a_time(telegram_user_id):
            return await self._answer_checkin(checkin, answer, telegram_user_id)

    async def _answer_checkin(self, checkin: RowRef, answer: str, telegram_user_id: int) -> CheckinResult:
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
            result = await session.execute(
                update(Delivery).where(Delivery.id == delivery_id, Delivery.answer.is_(None))
                .values(answer=answer, answered_at=now)
            )
            if not result.rowcount:
                return CheckinResult(CheckinStatus.ALREADY, language=client.language)
            await timers.cancel(session, subject_id=delivery_id, kinds=CHECKIN_TIMERS)
            enrolment = await session.get(Enrolment, delivery.enrolment_id)
            # Reasons are stored as plain text: the card escapes them when it shows them.
            reasons = (self.svc.label("esc_reason_checkin", self.svc.settings.default_language,
                                     answer=self.svc.label(f"checkin_button_{answer}")),)
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
        await self._publish(routing, reply, client, enrolment, stored)
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

    async def remind_checkin(self, timer: Timer) -> datetime | None:
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

    async def checkin_silence(self, timer: Timer) -> datetime | None:
        """Still no answer after the reminder: staff get a "no response" case (or a note on the open one)."""
        now = self.svc.clock.now()
        async with self._one_at_a_time_for_delivery(timer.subject_id) as found:
            if found is None:
                return None
            delivery, client, enrolment = found
            language = self.svc.settings.default_language
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
        async with self._one_at_a_time(found[1].telegram_user_id):
            async with self.svc.session_factory() as session:
                found = await self._unanswered(session, delivery_id)  # again: the client may just have answered
            yield found
