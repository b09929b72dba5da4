"""How cases look to staff: the card, the posts threaded under it, and the list of open cases.

Every piece is a text from messages/texts (values escaped there); this module only puts them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.callbacks import Press
from aftercare_bot.db.models import Client, ConversationMessage, Enrolment, Escalation, EscalationState
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import conversation as conversation_repo
from aftercare_bot.db.repositories import escalations as repo
from aftercare_bot.delivery.compose import day_since_session
from aftercare_bot.delivery.ports import Button
from aftercare_bot.services import Services
from aftercare_bot.texts import wording
from aftercare_bot.texts.catalog import MAX_MESSAGE_LENGTH
from aftercare_bot.texts.telegram_html import pack_lines
from aftercare_bot.triage.classify import TriageLevel
from aftercare_bot.triage.rules import NO_WARNING_SIGN

KIND_MESSAGE = "message"
KIND_NO_RESPONSE = "no_response"
KIND_QUESTION = "question"  # about booking, products or the aftercare: for staff, not a clinical concern
# Message kinds whose content is passed on to staff as it is (a photo by file id, the rest copied).
MEDIA_KINDS = frozenset(
    {"photo", "voice", "video", "video_note", "audio", "document", "sticker", "animation", "location", "contact"}
)
QUOTE_LIMIT = 1500  # characters of a client message quoted on a card; a card must stay under 4096

Buttons = tuple[tuple[Button, ...], ...]


@dataclass
class CardView:
    escalation: Escalation
    client: Client
    enrolment: Enrolment | None
    trigger: ConversationMessage | None  # the client message that opened the case
    cards: dict[int, int]  # staff chat id -> message id of the card there


class CaseTexts:
    def __init__(self, services: Services) -> None:
        self.svc = services

    @property
    def language(self) -> str:
        return self.svc.staff_language

    def t(self, key: str, **values: object) -> str:
        return self.svc.text(key, self.language, **values)

    def plain(self, key: str, **values: object) -> str:
        """Plain text, for a piece that goes into another text as a value (and is escaped there, once)."""
        return self.svc.label(key, self.language, **values)

    def time(self, moment: datetime) -> str:
        return wording.moment(self.svc, moment, self.language, with_year=False)

    async def view(self, session: AsyncSession, escalation_id: int) -> CardView | None:
        escalation = await repo.get(session, escalation_id)
        if escalation is None:
            return None
        client = await session.get(Client, escalation.client_id)
        if client is None:
            return None
        enrolment = await session.get(Enrolment, escalation.enrolment_id) if escalation.enrolment_id else None
        trigger = await conversation_repo.first_of_escalation(session, escalation_id)
        return CardView(escalation, client, enrolment, trigger, await repo.cards(session, escalation_id))

    def card(self, view: CardView) -> str:
        escalation, client, enrolment = view.escalation, view.client, view.enrolment
        if escalation.kind == KIND_NO_RESPONSE:
            header = "esc_card_header_no_response"
        elif escalation.level == TriageLevel.URGENT:
            header = "esc_card_header_urgent"
        elif escalation.kind == KIND_QUESTION:
            header = "esc_card_header_question"
        else:
            header = "esc_card_header_concern"
        lines = [self.t(header, number=escalation.id)]
        if enrolment is not None:
            day = day_since_session(enrolment.session_at, escalation.created_at, self.svc.settings)
            lines.append(self.t("esc_card_client", name=client.name, treatment=self.treatment(enrolment), day=day))
        else:
            lines.append(self.t("esc_card_client_no_plan", name=client.name))
        if client.language != self.language:  # the quote below is as the client wrote it
            lines.append(self.t("esc_card_language", language=client.language))
        if view.trigger is not None:
            lines += self.content(view.trigger)
        reasons = [reason for reason in escalation.reasons.split("\n") if reason.strip()]
        if reasons:
            lines.append(self.t("esc_card_reasons"))
            lines += [self.t("esc_card_reason", reason=reason) for reason in reasons]
        if escalation.asked_back_at is not None:
            lines.append(self.asked_back(view))
        trigger_level = view.trigger.triage_level if view.trigger is not None else None
        # A warning sign pressed when asked is told by the line above; only a later message raises it otherwise.
        pressed = escalation.ask_back_answer not in (None, NO_WARNING_SIGN)
        if escalation.level == TriageLevel.URGENT and trigger_level not in (None, TriageLevel.URGENT) and not pressed:
            lines.append(self.t("esc_card_upgraded"))
        if escalation.claimed_at is not None:
            lines.append(self.t("esc_card_claimed", name=escalation.claimed_by_name or escalation.claimed_by,
                                time=self.time(escalation.claimed_at)))
        if escalation.state == EscalationState.RESOLVED and escalation.resolved_at is not None:
            lines.append(self.t("esc_card_resolved", name=escalation.resolved_by_name or escalation.resolved_by,
                                time=self.time(escalation.resolved_at)))
        else:
            lines.append(self.t("esc_card_hint"))
        return "\n".join(lines)

    def asked_back(self, view: CardView) -> str:
        """What the client was asked about warning signs, and what they pressed (if anything yet)."""
        escalation = view.escalation
        answer = escalation.ask_back_answer
        if answer is None:
            return self.t("esc_card_asked_back_waiting", time=self.time(escalation.asked_back_at))
        label = self.svc.ask_back_label(self.language, answer, or_in=view.client.language)
        key = "esc_card_asked_back_none" if answer == NO_WARNING_SIGN else "esc_card_asked_back_sign"
        return self.t(key, time=self.time(escalation.asked_back_at), answer=label,
                      answered=self.time(escalation.ask_back_answered_at or escalation.asked_back_at))

    def buttons(self, escalation: Escalation) -> Buttons:
        """Claim and Resolve while open; Resolve once claimed; none when resolved."""
        sign, label = self.svc.signer.sign, self.svc.label
        case = RowRef.of(escalation)
        resolve = Button(label("esc_button_resolve", self.language), sign(Press.CASE, case, "resolve"))
        if escalation.state == EscalationState.OPEN:
            claim = Button(label("esc_button_claim", self.language), sign(Press.CASE, case, "claim"))
            return ((claim, resolve),)
        if escalation.state == EscalationState.CLAIMED:
            return ((resolve,),)
        return ()

    def thread(self, message: ConversationMessage, client: Client, *, upgraded: bool) -> str:
        """A later client message, posted under the card."""
        level = self.plain(f"esc_level_{message.triage_level or TriageLevel.ROUTINE}")
        lines = [self.t("esc_thread_message", name=client.name, level=level), *self.content(message)]
        if upgraded:
            lines.append(self.t("esc_thread_upgraded"))
        return "\n".join(lines)

    def content(self, message: ConversationMessage) -> list[str]:
        lines = []
        if message.text and message.text.strip():
            text = message.text if len(message.text) <= QUOTE_LIMIT else message.text[:QUOTE_LIMIT] + "…"
            lines.append(self.t("esc_card_quote", text=text))
        if message.kind in MEDIA_KINDS:
            lines.append(self.t("esc_card_media", kind=self.kind(message.kind)))
        return lines

    def kind(self, kind: str) -> str:
        key = f"esc_kind_{kind}"
        return self.svc.label(key if self.svc.texts.has(key, self.language) else "esc_kind_other", self.language)

    def treatment(self, enrolment: Enrolment) -> str:
        plan = self.svc.catalog.get(enrolment.treatment)
        if plan is None:
            return enrolment.treatment
        return plan.title_for(self.language, self.svc.settings.default_language)

    async def open_cases(self, session: AsyncSession, now: datetime) -> list[str]:
        """Open cases, oldest first, with their age and who holds them: as many messages as it takes."""
        open_cases = await repo.all_open(session)
        lines = [self.t("esc_open_title" if open_cases else "esc_open_none")]
        for escalation in open_cases:
            client = await session.get(Client, escalation.client_id)
            if escalation.state == EscalationState.CLAIMED:
                holder = self.plain("esc_open_held", name=escalation.claimed_by_name or escalation.claimed_by)
            else:
                holder = self.plain("esc_open_unclaimed")
            lines.append(self.t(
                "esc_open_line", number=escalation.id, level=self.plain(f"esc_level_{escalation.level}"),
                name=client.name if client else "?", age=self.age(now - escalation.created_at), holder=holder,
            ))
        return pack_lines(lines, MAX_MESSAGE_LENGTH)

    def duration(self, delta: timedelta) -> str:
        """A setting's length as people say it: "45 s" under a minute (not "0 min"), else like an age."""
        seconds = max(0, round(delta.total_seconds()))
        if seconds < 60:
            return self.plain("esc_age_seconds", seconds=seconds)
        return self.age(delta)

    def age(self, delta: timedelta) -> str:
        minutes = max(0, int(delta.total_seconds() // 60))
        if minutes < 60:
            return self.plain("esc_age_minutes", minutes=minutes)
        hours, minutes = divmod(minutes, 60)
        if hours < 24:
            return self.plain("esc_age_hours", hours=hours, minutes=minutes)
        days, hours = divmod(hours, 24)
        return self.plain("esc_age_days", days=days, hours=hours)
