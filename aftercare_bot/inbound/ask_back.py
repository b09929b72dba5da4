"""Asking back: when a client writes about a symptom and the rules find no warning sign, they get one short
question with a button per warning sign (from the triage rules file of their language). A warning sign pressed
makes the case urgent at once, exactly as if the words had said it; "none of these" leaves it a concern, marked
as asked and answered on the card.
"""

from __future__ import annotations

import html
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.callbacks import Press
from aftercare_bot.db.models import Client, ConversationMessage, Enrolment, Escalation
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import audit
from aftercare_bot.db.repositories import conversation as conversation_repo
from aftercare_bot.db.repositories import escalations as escalation_repo
from aftercare_bot.delivery.outbox import Queued
from aftercare_bot.delivery.ports import Button
from aftercare_bot.escalation.cases import join_reasons
from aftercare_bot.escalation.desk import EscalationDesk
from aftercare_bot.inbound.checkins import CheckinResult, CheckinStatus
from aftercare_bot.inbound.message import CLIENT_SAFETY_KEY
from aftercare_bot.inbound.publish import publish
from aftercare_bot.inbound.turns import Turns
from aftercare_bot.services import Services
from aftercare_bot.triage.classify import TriageLevel, TriageRules
from aftercare_bot.triage.rules import NO_WARNING_SIGN, AskBack

ASK_BACK_KIND = "ask_back"  # the conversation kind of the question about warning signs


class AskBackAnswers:
    def __init__(self, services: Services, desk: EscalationDesk, rules: TriageRules, turns: Turns) -> None:
        self.svc = services
        self.desk = desk
        self.rules = rules
        self.turns = turns

    def _question(self, language: str | None) -> AskBack | None:
        lang = self.rules.for_language(language) or self.rules.for_language(self.svc.settings.default_language)
        return lang.ask_back if lang is not None else None

    async def ask(
        self, session: AsyncSession, client: Client, enrolment: Enrolment | None, case: Escalation, *, now: datetime
    ) -> Queued | None:
        """Queue the question about `case` in the caller's transaction; None when the rules have none."""
        ask = self._question(client.language)
        if ask is None:
            return None
        case.asked_back_at = now  # for the card posted after the commit
        await escalation_repo.mark_asked_back(session, case.id, now=now)
        question = f"{html.escape(ask.question)}\n\n{self.svc.text('ask_back_footer', client.language)}"
        ref = RowRef.of(case)
        buttons = tuple((Button(o.label, self.svc.signer.sign(Press.ASK_BACK, ref, o.id)),) for o in ask.options)
        return await self.desk.outbox.tell_client(
            session, client, question, kind=ASK_BACK_KIND, escalation_id=case.id,
            enrolment_id=enrolment.id if enrolment else None, send_after_commit=True, buttons=buttons,
        )

    async def answer(self, case: RowRef, option_id: str, telegram_user_id: int) -> CheckinResult:
        """A press on the question: `case` comes from the button, so only that case is touched."""
        async with self.turns.one_at_a_time(telegram_user_id):
            return await self._answer(case, option_id, telegram_user_id)

    async def _answer(self, ref: RowRef, option_id: str, telegram_user_id: int) -> CheckinResult:
        now = self.svc.clock.now()
        async with self.svc.session_factory.begin() as session:
            case = await escalation_repo.get(session, ref.id)
            if case is None or case.ref != ref.ref or case.asked_back_at is None:
                return CheckinResult(CheckinStatus.UNKNOWN)
            client = await session.get(Client, case.client_id)
            if client is None:
                return CheckinResult(CheckinStatus.UNKNOWN)
            if client.telegram_user_id != telegram_user_id:
                return CheckinResult(CheckinStatus.NOT_YOURS)
            ask = self._question(client.language)
            option = ask.option(option_id) if ask is not None else None
            if ask is None or option is None:
                return CheckinResult(CheckinStatus.UNKNOWN, language=client.language)
            # Conditional, so a double press (or a replayed one) records one answer only.
            if not await escalation_repo.record_ask_back_answer(session, case.id, option.id, now=now):
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
            key, kind = (CLIENT_SAFETY_KEY, conversation_repo.SAFETY) if warning else ("ask_back_none_reply", "notice")
            reply = await self.desk.outbox.tell_client(
                session, client, self.svc.text(key, client.language), kind=kind,
                escalation_id=routing.escalation_id, enrolment_id=case.enrolment_id, send_after_commit=True,
            )
            routing = await self.desk.cases.queue_for_staff(session, routing, stored, client)
        await publish(self.desk, routing, reply, client, enrolment, stored)
        if not routing.upgraded and routing.joined and routing.escalation_id is not None:
            await self.desk.posts.refresh_cards(routing.escalation_id)  # shows what was pressed
        return CheckinResult(CheckinStatus.ANSWERED, option.label, client.language)
