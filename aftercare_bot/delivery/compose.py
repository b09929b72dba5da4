"""Turns a scheduled step into the message a client receives."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.callbacks import CallbackSigner, Press
from aftercare_bot.clock import Clock
from aftercare_bot.config import Settings
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import timers
from aftercare_bot.delivery.ports import Button, OutboundMessage
from aftercare_bot.plans.catalog import PlanCatalog
from aftercare_bot.plans.editing import PlansInForce
from aftercare_bot.plans.model import Plan, Step
from aftercare_bot.texts.catalog import FALLBACK_LANGUAGE, Texts
from aftercare_bot.texts.rendering import clinic_values, render

CHECKIN_ANSWERS = ("ok", "worried", "urgent")
# The timers of an unanswered check-in (subject: the Delivery id): a reminder, then a "no response" case.
CHECKIN_REMINDER = "checkin_reminder"
CHECKIN_NO_RESPONSE = "checkin_no_response"
CHECKIN_TIMER_KINDS = (CHECKIN_REMINDER, CHECKIN_NO_RESPONSE)


@dataclass(frozen=True)
class ComposedMessage:
    message: OutboundMessage
    plan_revision: int | None


class ScheduledStep(Protocol):
    """A scheduled plan message: a Delivery, or a row claimed for sending."""

    @property
    def id(self) -> int: ...
    @property
    def ref(self) -> str | None: ...
    @property
    def chat_id(self) -> int: ...
    @property
    def step_key(self) -> str: ...


class ClientNames(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def first_name(self) -> str: ...


class PlanEnrolment(Protocol):
    """An Enrolment with its client, or the lighter copy the dispatcher loads."""

    @property
    def treatment(self) -> str: ...
    @property
    def language(self) -> str: ...
    @property
    def session_at(self) -> datetime: ...
    @property
    def client(self) -> ClientNames: ...


@dataclass(frozen=True)
class _StepTemplate:
    """What composing a step needs that is the same for every client with the same plan, step and language."""

    plan: Plan
    revision: int | None
    template: str
    fixed_values: dict[str, str]
    checkin_labels: tuple[tuple[str, str], ...]  # (answer, button label)


def choose_language(plan: Plan, wanted: str | None, clinic_language: str) -> str:
    """The client's language when the plan has it, else the clinic's (DEFAULT_LANGUAGE), else English."""
    languages = plan.languages
    if wanted and wanted in languages:
        return wanted
    if wanted and wanted.split("-")[0] in languages:
        return wanted.split("-")[0]
    return clinic_language if clinic_language in languages else FALLBACK_LANGUAGE


def day_since_session(session_at: datetime, now: datetime, settings: Settings) -> int:
    """Calendar days in clinic time: 0 on the day of the session."""
    tz = settings.timezone
    return (now.astimezone(tz).date() - session_at.astimezone(tz).date()).days


class PlanMessageComposer:
    def __init__(
        self, *, settings: Settings, catalog: PlanCatalog, texts: Texts, signer: CallbackSigner, clock: Clock,
        plans_in_force: PlansInForce,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        # Asked before each message is composed: a plan saved on any replica is in force here by then.
        self.plans_in_force = plans_in_force
        self.texts = texts
        self.signer = signer
        self.clock = clock
        # By (treatment, step, client's language); an entry is used only while its plan is the one in force.
        self._templates: dict[tuple[str, str, str], _StepTemplate] = {}

    def compose(self, delivery: ScheduledStep, enrolment: PlanEnrolment) -> ComposedMessage | None:
        """The message for one scheduled step, or None when the step was removed or turned off."""
        template = self._template(enrolment.treatment, delivery.step_key, enrolment.language)
        if template is None:
            return None
        html = render(template.template, {**template.fixed_values, **self._client_values(enrolment.client, enrolment)})
        buttons: tuple[tuple[Button, ...], ...] = tuple(
            (Button(label, self.signer.sign(Press.CHECKIN, RowRef.of(delivery), answer)),)
            for answer, label in template.checkin_labels
        )
        message = OutboundMessage(chat_id=delivery.chat_id, html=html, buttons=buttons)
        return ComposedMessage(message, template.revision)

    async def after_checkins_sent(self, session: AsyncSession, delivery_ids: Sequence[int]) -> None:
        """A check-in left unanswered earns one reminder; the silence timers live in the database."""
        now = self.clock.now()
        await timers.schedule_many(
            session, kind=CHECKIN_REMINDER, subject_ids=delivery_ids,
            due_at=now + self.settings.checkin_reminder_after, now=now,
        )

    def _template(self, treatment: str, step_key: str, wanted_language: str | None) -> _StepTemplate | None:
        """Everything about a step that does not depend on the client, worked out once per plan revision."""
        plan = self.catalog.get(treatment)
        if plan is None:
            return None
        key = (treatment, step_key, wanted_language or "")
        cached = self._templates.get(key)
        if cached is not None and cached.plan is plan and cached.revision == self.catalog.revision(treatment):
            return cached
        step = next((s for s in plan.steps if s.key == step_key), None)
        if step is None or not step.enabled:
            return None  # not cached: rare, and a plan edit may bring the step back
        template = self._templates[key] = self._make_template(plan, step, wanted_language)
        return template

    def _make_template(self, plan: Plan, step: Step, wanted_language: str | None) -> _StepTemplate:
        language = choose_language(plan, wanted_language, self.settings.default_language)
        # The buttons are the bot's own texts: in the client's language even where the plan has no text in it yet.
        buttons_language = wanted_language or language
        labels = tuple(
            (answer, self.texts.label(f"checkin_button_{answer}", buttons_language)) for answer in CHECKIN_ANSWERS
        ) if step.checkin else ()
        return _StepTemplate(
            plan=plan, revision=self.catalog.revision(plan.treatment), template=step.text(language),
            fixed_values=self._fixed_values(plan, language), checkin_labels=labels,
        )

    def _fixed_values(self, plan: Plan, language: str) -> dict[str, str]:
        return {
            **clinic_values(self.settings),
            "treatment": plan.title_for(language, self.settings.default_language),
        }

    def _client_values(self, client: ClientNames, enrolment: PlanEnrolment) -> dict[str, str]:
        return {
            "first_name": client.first_name or client.name,
            "client_name": client.name,
            "day": str(day_since_session(enrolment.session_at, self.clock.now(), self.settings)),
        }
