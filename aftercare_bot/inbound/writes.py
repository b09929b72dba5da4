"""Client messages that find no open case (every red flag that opens one), written several to a transaction.

On SQLite one transaction writes at a time (db.write_turns), and under a burst of red flags each message's
transaction spent most of its turn waiting for a busy event loop between its statements. Messages that arrive
while a group is being written now wait for the next group, written in one read and five writes whatever their
number; each handler goes on once its own group is committed. Should a group fail, its messages are written
one by one, so that one message cannot take the others down with it. On PostgreSQL, which has no such turn,
each message keeps its own transaction, which holds its client's row lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Client, ConversationMessage, Enrolment, Escalation, OutboxMessage
from aftercare_bot.db.repositories import conversation as conversation_repo
from aftercare_bot.db.repositories import inserts, timers
from aftercare_bot.db.write_turns import write_turn
from aftercare_bot.delivery.outbox import URGENT_KINDS, Queued
from aftercare_bot.escalation.cards import KIND_MESSAGE
from aftercare_bot.escalation.cases import Routing, join_reasons, new_case, opened_event
from aftercare_bot.escalation.desk import EscalationDesk
from aftercare_bot.escalation.timers import CARD_TIMER
from aftercare_bot.services import Services
from aftercare_bot.texts.telegram_html import plain_text
from aftercare_bot.triage.classify import TriageLevel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arrival:
    """A client's message with no open case to join, and what it calls for: a case unless routine, and the
    answer to the client, if any, as (html, conversation kind)."""

    client: Client
    enrolment: Enrolment | None
    kind: str
    text: str | None
    file_id: str | None
    telegram_message_id: int
    level: TriageLevel
    reasons: tuple[str, ...]
    answer: tuple[str, str] | None
    at: datetime
    case_kind: str = KIND_MESSAGE  # a question about booking or products opens a case of kind "question"


@dataclass(frozen=True)
class Written:
    routing: Routing
    message: ConversationMessage  # the client's, as stored
    reply: Queued | None  # the answer, queued to be sent once committed


class InboundWrites:
    def __init__(self, services: Services, desk: EscalationDesk) -> None:
        self.svc = services
        self.desk = desk
        self._waiting: list[tuple[Arrival, asyncio.Future[Written]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write_in(self, session: AsyncSession, arrival: Arrival) -> Written:
        """PostgreSQL: the arrival written and committed in the caller's session, which holds the client's lock."""
        written = (await self.write_all(session, [arrival]))[0]
        await session.commit()
        return written

    async def write_grouped(self, arrival: Arrival) -> Written:
        """SQLite: returns once the arrival is committed, with others that arrived meanwhile. The caller holds no
        connection while it waits: the group's writer needs one."""
        done: asyncio.Future[Written] = asyncio.get_running_loop().create_future()
        self._waiting.append((arrival, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        return await asyncio.shield(done)  # a caller that gives up must not cancel the others' group

    async def _write_waiting(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                await self._write_group(group)
            finally:
                for _, done in group:  # cancelled (at shutdown, say): nobody may wait for ever
                    done.cancel()

    async def _write_group(self, group: list[tuple[Arrival, asyncio.Future[Written]]]) -> None:
        try:
            written = await self._commit([arrival for arrival, _ in group])
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0][1], exc)
                return
            log.exception("could not write %d client messages together; writing them one by one", len(group))
            for arrival, done in group:
                await self._commit_alone(arrival, done)
            return
        for (_, done), one in zip(group, written, strict=True):
            _settle(done, one)

    async def _commit_alone(self, arrival: Arrival, done: asyncio.Future[Written]) -> None:
        try:
            written = (await self._commit([arrival]))[0]
        except Exception as exc:
            _settle(done, exc)
        else:
            _settle(done, written)

    async def _commit(self, arrivals: list[Arrival]) -> list[Written]:
        async with self.svc.session_factory() as session, write_turn(session):
            written = await self.write_all(session, arrivals)
            await session.commit()
        return written

    async def write_all(self, session: AsyncSession, arrivals: Sequence[Arrival]) -> list[Written]:
        """Inside the caller's transaction, in one read and five writes: the new cases, their audit events, the
        messages and the answers' copies, the answers in the outbox, which of them may go at once (the oldest
        of its chat), and every timer (each case's card and re-alert, each answer's). One arrival per client."""
        cases: dict[int, Escalation] = {
            arrival.client.id: new_case(arrival.client, arrival.enrolment, arrival.level, arrival.reasons,
                                        arrival.case_kind, arrival.at)
            for arrival in arrivals if arrival.level != TriageLevel.ROUTINE
        }
        if cases:
            await inserts.add_together(session, list(cases.values()), key=("client_id",))
            await inserts.add_all(session, [opened_event(cases[arrival.client.id], arrival.reasons, arrival.at)
                                            for arrival in arrivals if arrival.client.id in cases])
        messages: list[ConversationMessage] = []
        copies: dict[int, ConversationMessage] = {}  # of the answers, by client id
        for arrival in arrivals:
            case = cases.get(arrival.client.id)
            enrolment_id = arrival.enrolment.id if arrival.enrolment else None
            messages.append(ConversationMessage(
                client_id=arrival.client.id, enrolment_id=enrolment_id, escalation_id=case.id if case else None,
                direction=conversation_repo.IN, kind=arrival.kind, text=arrival.text, file_id=arrival.file_id,
                telegram_message_id=arrival.telegram_message_id, triage_level=arrival.level,
                triage_reasons=join_reasons(arrival.reasons), at=arrival.at,
            ))
            if arrival.answer is not None:
                html, kind = arrival.answer
                copies[arrival.client.id] = ConversationMessage(
                    client_id=arrival.client.id, enrolment_id=enrolment_id, escalation_id=case.id if case else None,
                    direction=conversation_repo.OUT, kind=kind, text=plain_text(html), at=arrival.at,
                )
        await conversation_repo.add_together(session, [*messages, *copies.values()])
        answers = [
            OutboxMessage(chat_id=arrival.client.chat_id, client_id=arrival.client.id, html=arrival.answer[0],
                          conversation_id=copies[arrival.client.id].id,
                          escalation_id=copies[arrival.client.id].escalation_id,
                          urgent=arrival.answer[1] in URGENT_KINDS)
            for arrival in arrivals if arrival.answer is not None
        ]
        case_timers = [timer for case in cases.values() for timer in self.desk.cases.case_timers(case, case.created_at)]
        if answers:
            queued = await self.desk.outbox.queue_answers(session, answers, with_timers=case_timers)
            scheduled = queued[0].scheduled
        else:
            queued, scheduled = [], await timers.schedule_all(session, case_timers, now=self.svc.clock.now())
        replies = {reply.message.client_id: reply for reply in queued}
        written = []
        for arrival, message in zip(arrivals, messages, strict=True):
            case = cases.get(arrival.client.id)
            routing = (Routing(case.id, arrival.level, created=True, new_case=case,
                               card_timer_id=scheduled[CARD_TIMER, case.id])
                       if case is not None else Routing(None, arrival.level))
            written.append(Written(routing, message, replies.get(arrival.client.id)))
        return written


def _settle(done: asyncio.Future[Written], outcome: Written | BaseException) -> None:
    if done.done():
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
