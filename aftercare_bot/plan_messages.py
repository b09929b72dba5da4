"""Turns a scheduled step into the message a client receives."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.callbacks import CallbackSigner
from aftercare_bot.clock import Clock
from aftercare_bot.config import Settings
from aftercare_bot.db import timers
from aftercare_bot.db.models import Client, Delivery, Enrolment
from aftercare_bot.outbound import Button, OutboundMessage
from aftercare_bot.plan import Plan
from aftercare_bot.plan_catalog import PlanCatalog
from aftercare_bot.rendering import render
from aftercare_bot.texts import Texts

CHECKIN_ANSWERS = ("ok", "worried", "urgent")
CHECKIN_REMINDER = "checkin_reminder"
CHECKIN_NO_RESPONSE = "checkin_no_response"


@dataclass(frozen=True)
class ComposedMessage:
    message: OutboundMessage
    plan_revision: int | None


def choose_language(plan: Plan, wanted: str | None, default: str) -> str:
    languages = plan.languages
    if wanted and wanted in languages:
        return wanted
    if wanted and wanted.split("-")[0] in languages:
        return wanted.split("-")[0]
    return default if default in languages else "en"


def day_since_session(session_at: datetime, now: datetime, settings: Settings) -> int:
    """Calendar days in clinic time: 0 on the day of the session."""
    tz = settings.timezone
    return (now.astimezone(tz).date() - session_at.astimezone(tz).date()).days


class PlanMessageComposer:
    def __init__(
        self, *, settings: Settings, catalog: PlanCatalog, texts: Texts, signer: CallbackSigner, clock: Clock
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.texts = texts
        self.signer = signer
        self.clock = clock

    def placeholder_values(self, client: Client, enrolment: Enrolment, plan: Plan, language: str) -> dict[str, str]:
        return {
            "first_name": client.first_name or client.name,
            "client_name": client.name,
            "clinic_name": self.settings.clinic_name,
            "clinic_phone": self.settings.clinic_phone,
            "treatment": plan.title.get(language) or plan.title.get("en") or plan.treatment,
            "day": str(day_since_session(enrolment.session_at, self.clock.now(), self.settings)),
        }

    def compose(self, delivery: Delivery, enrolment: Enrolment) -> ComposedMessage | None:
        plan = self.catalog.get(enrolment.treatment)
        step = next((s for s in plan.steps if s.key == delivery.step_key), None) if plan else None
        if plan is None or step is None or not step.enabled:
            return None
        language = choose_language(plan, enrolment.language, self.settings.default_language)
        html = render(step.text(language), self.placeholder_values(enrolment.client, enrolment, plan, language))
        buttons: tuple[tuple[Button, ...], ...] = ()
        if step.checkin:
            buttons = tuple(
                (Button(self.texts.label(f"checkin_button_{answer}", language),
                        self.signer.sign("ci", delivery.id, answer)),)
                for answer in CHECKIN_ANSWERS
            )
        message = OutboundMessage(chat_id=delivery.chat_id, html=html, buttons=buttons)
        return ComposedMessage(message, self.catalog.revision(enrolment.treatment))

    async def after_checkins_sent(self, session: AsyncSession, checkins: Sequence[Delivery]) -> None:
        """A check-in left unanswered earns one reminder; the silence timers live in the database."""
        now = self.clock.now()
        await timers.schedule_many(
            session, kind=CHECKIN_REMINDER, subject_ids=[delivery.id for delivery in checkins],
            due_at=now + self.settings.checkin_reminder_after, now=now,
        )
