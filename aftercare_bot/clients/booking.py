"""Enrolments a booking system makes (over the API or by an import), known by the system's own id.

They are ordinary invites: the client still opens the link (or shares their phone at the front desk) and
agrees before anything is sent. The link's token is derived from the invite's random ref with a key only the
bot holds, so the same link can be given again when the system repeats a request, yet no token is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.clients import enrolment
from aftercare_bot.clients.enrol_command import MAX_FUTURE, MAX_NAME_LENGTH, MAX_PAST
from aftercare_bot.clients.phones import to_e164
from aftercare_bot.config import Settings
from aftercare_bot.db.models import (
    Client,
    EnrolmentState,
    ExternalEnrolment,
    Invite,
    InviteStatus,
)
from aftercare_bot.db.repositories import audit, deliveries, enrolments, external_enrolments, timers

API = "api"
IMPORT = "import"
PHONE_EXPIRY_TIMER = "invite_phone_expiry"
SUMMARY_TIMER = "enrolment_summary"  # the staff chat's daily summary: booking_digest.py
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_LANGUAGE = re.compile(r"[a-z]{2,3}")


@dataclass(frozen=True)
class Rules:
    """What a request is checked against: the plans there are, the clinic's zone and region, and now."""

    treatments: list[str]
    timezone: ZoneInfo
    region: str
    now: datetime

    @classmethod
    def of(cls, settings: Settings, treatments: list[str], now: datetime) -> Rules:
        return cls(treatments, settings.timezone, settings.clinic_region, now)


# Validated with parse_fields, which supplies the Rules; the docstring is the public schema's description.
class EnrolmentFields(BaseModel):
    """One client to enrol after a treatment session."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: str = Field(
        min_length=1, max_length=128, pattern=EXTERNAL_ID.pattern,
        description="The booking system's own id for this appointment; repeating it never enrols twice.",
        examples=["apt-2026-11-20-0042"],
    )
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, description="The client's name, as staff know it.",
                      examples=["Ann Smith"])
    treatment: str = Field(description="The plan to follow, one of the clinic's treatments.",
                           examples=["microneedling"])
    session_start: datetime = Field(
        description="When the treatment session starts (ISO 8601); without an offset it is clinic time.",
        examples=["2026-11-20T14:30:00+00:00"],
    )
    language: str | None = Field(default=None, description="Two or three letters such as en; default: the "
                                 "client's Telegram language.", examples=["en"])
    phone: str | None = Field(default=None, description="The client's phone, so they can join at the front desk "
                              "by sharing theirs; read in the clinic's country unless it starts with +.",
                              examples=["+44 7700 900123"])

    @field_validator("treatment")
    @classmethod
    def _known_treatment(cls, value: str, info: ValidationInfo) -> str:
        value = value.lower()
        rules = _rules(info)
        if rules is not None and value not in rules.treatments:
            raise ValueError(f"there is no plan called '{value}'; plans: {', '.join(rules.treatments)}")
        return value

    @field_validator("session_start")
    @classmethod
    def _sensible_time(cls, value: datetime, info: ValidationInfo) -> datetime:
        rules = _rules(info)
        if rules is None:
            return value
        if value.tzinfo is None:
            value = value.replace(tzinfo=rules.timezone)
        if not rules.now - MAX_PAST <= value <= rules.now + MAX_FUTURE:
            raise ValueError(f"must be within {MAX_PAST.days} days before and {MAX_FUTURE.days} days after now")
        return value

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not _LANGUAGE.fullmatch(value.lower()):
            raise ValueError("must be a language code of two or three letters, such as en")
        return value.lower()

    @field_validator("phone")
    @classmethod
    def _phone_number(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value in (None, ""):
            return None
        rules = _rules(info)
        if rules is None:
            return value
        number = to_e164(value, rules.region)
        if number is None:
            raise ValueError(f"is not a valid phone number (numbers without +country code are read as {rules.region})")
        return number


def _rules(info: ValidationInfo) -> Rules | None:
    return info.context.get("rules") if isinstance(info.context, dict) else None


@dataclass(frozen=True)
class FieldProblem:
    field: str
    problem: str


def parse_fields(data: Any, rules: Rules) -> EnrolmentFields | list[FieldProblem]:
    """The checked fields, or every problem found (all of them, not only the first)."""
    try:
        return EnrolmentFields.model_validate(data, context={"rules": rules})
    except ValidationError as exc:
        return field_problems(exc)


def field_problems(exc: ValidationError) -> list[FieldProblem]:
    problems = []
    for item in exc.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "body"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing" or (item["type"] == "string_too_short" and item["ctx"]["min_length"] == 1):
            message = "is required"
        elif item["type"] == "string_too_long":
            message = f"is too long (at most {item['ctx']['max_length']} characters)"
        elif item["type"] == "extra_forbidden":
            message = "is not a field of an enrolment"
        elif item["type"] == "string_pattern_mismatch":
            message = "may only hold letters, digits and . _ : - (at most 128)"
        elif item["type"].startswith("datetime"):
            message = "must be a date and time such as 2026-11-20T14:30:00+00:00"
        problems.append(FieldProblem(field, message))
    return problems


# -- links --------------------------------------------------------------------------------------------------


def link_key(settings: Settings) -> bytes:
    return hashlib.sha256(b"invite-link:" + settings.telegram_bot_token.get_secret_value().encode()).digest()


def link_token(key: bytes, invite_ref: str) -> str:
    digest = hmac.new(key, invite_ref.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[: len(enrolment.new_token())]


def invite_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username}?start={token}"


# -- saving -------------------------------------------------------------------------------------------------


class Outcome(StrEnum):
    CREATED = "created"
    UNCHANGED = "unchanged"
    UPDATED = "updated"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class Saved:
    outcome: Outcome
    record: ExternalEnrolment
    invite: Invite | None
    token: str | None = None
    conflict: str | None = None  # why a conflicting request was refused


def _differs(invite: Invite, fields: EnrolmentFields) -> bool:
    return (invite.client_name, invite.treatment, invite.session_at, invite.language, invite.phone) != (
        fields.name, fields.treatment, fields.session_start, fields.language, fields.phone
    )


async def save(
    session: AsyncSession,
    fields: EnrolmentFields,
    *,
    source: str,
    api_key_id: int | None,
    actor_id: int | None,
    now: datetime,
    settings: Settings,
) -> Saved:
    """Enrol, or answer the enrolment made for this external id before: the same details change nothing; new
    details update a link nobody has agreed to yet and are refused after that."""
    key = link_key(settings)
    record = await external_enrolments.by_external_id(session, fields.external_id, for_update=True)
    if record is None:
        invite = await _new_invite(session, fields, actor_id=actor_id, now=now, settings=settings, key=key)
        record = ExternalEnrolment(
            external_id=fields.external_id, source=source, api_key_id=api_key_id, invite_id=invite.id,
            invite_ref=invite.ref, created_at=now, updated_at=now,
        )
        session.add(record)
        await session.flush()
        await schedule_summary(session, now=now, settings=settings)
        return Saved(Outcome.CREATED, record, invite, link_token(key, invite.ref or ""))
    invite = await external_enrolments.invite_of(session, record)
    if invite is None:
        return Saved(Outcome.CONFLICT, record, None, conflict="the client's data was erased")
    token = link_token(key, invite.ref or "")
    if record.cancelled_at is not None:
        return Saved(Outcome.CONFLICT, record, invite, token, conflict="the enrolment was cancelled")
    if not _differs(invite, fields):
        return Saved(Outcome.UNCHANGED, record, invite, token)
    if invite.status != InviteStatus.PENDING:
        return Saved(Outcome.CONFLICT, record, invite, token,
                     conflict="the client has already answered; make a new enrolment for a new session")
    invite.client_name, invite.treatment, invite.language = fields.name, fields.treatment, fields.language
    invite.session_at, invite.phone, invite.expires_at = fields.session_start, fields.phone, now + settings.invite_ttl
    record.updated_at = now
    await _watch_phone(session, invite, now)
    await audit.record(session, now=now, action="invite_updated", actor_id=actor_id,
                       detail={"invite_id": invite.id, "external_id": record.external_id, "source": source})
    return Saved(Outcome.UPDATED, record, invite, token)


def next_summary_at(settings: Settings, after: datetime) -> datetime:
    """The next ENROLMENT_SUMMARY_AT in clinic time, strictly after `after`."""
    tz, at = settings.timezone, settings.enrolment_summary_at
    local = after.astimezone(tz)
    moment = datetime.combine(local.date(), at, tzinfo=tz)
    while moment <= local:
        moment = datetime.combine(moment.date() + timedelta(days=1), at, tzinfo=tz)
    return moment.astimezone(after.tzinfo)


async def schedule_summary(session: AsyncSession, *, now: datetime, settings: Settings) -> None:
    """A summary is due at the next summary time, unless one is already waiting (the first enrolment of the day
    schedules it, so no timer waits on days without any)."""
    if not await timers.live(session, kind=SUMMARY_TIMER):
        await timers.schedule(session, kind=SUMMARY_TIMER, subject_id=0, due_at=next_summary_at(settings, now),
                              now=now)


async def _new_invite(
    session: AsyncSession, fields: EnrolmentFields, *, actor_id: int | None, now: datetime, settings: Settings,
    key: bytes,
) -> Invite:
    invite, _ = await enrolment.create_invite(
        session, client_name=fields.name, treatment=fields.treatment, session_at=fields.session_start,
        language=fields.language, created_by=actor_id or 0, now=now, settings=settings,
        token_for=lambda ref: link_token(key, ref), phone=fields.phone,
    )
    await _watch_phone(session, invite, now)
    return invite


async def _watch_phone(session: AsyncSession, invite: Invite, now: datetime) -> None:
    """A phone number is kept no longer than its link is valid."""
    if invite.phone is not None:
        await timers.schedule(session, kind=PHONE_EXPIRY_TIMER, subject_id=invite.id, due_at=invite.expires_at,
                              now=now)


# -- status and cancelling ----------------------------------------------------------------------------------


class Status(StrEnum):
    LINK_MADE = "link_made"
    OPENED = "opened"
    AGREED = "agreed"
    DECLINED = "declined"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    STOPPED = "stopped"
    FINISHED = "finished"
    ERASED = "erased"


@dataclass(frozen=True)
class StatusReport:
    status: Status
    link_expires_at: datetime | None = None
    opened_at: datetime | None = None
    agreed_at: datetime | None = None
    messages_sent: int = 0
    messages_planned: int = 0


async def status_of(session: AsyncSession, record: ExternalEnrolment, *, now: datetime) -> StatusReport:
    invite = await external_enrolments.invite_of(session, record)
    if invite is None:
        return StatusReport(Status.ERASED)
    base = {"link_expires_at": invite.expires_at, "opened_at": invite.opened_at}
    if invite.status == InviteStatus.DECLINED:
        return StatusReport(Status.DECLINED, **base)
    if invite.status == InviteStatus.CANCELLED:
        return StatusReport(Status.CANCELLED, **base)
    if invite.status == InviteStatus.PENDING:
        if now >= invite.expires_at:
            return StatusReport(Status.EXPIRED, **base)
        return StatusReport(Status.OPENED if invite.opened_at else Status.LINK_MADE, **base)
    plan = await external_enrolments.enrolment_of(session, invite)
    if plan is None:  # joined through another link made for the same session
        return StatusReport(Status.AGREED, **base, agreed_at=invite.used_at)
    sent, planned = await external_enrolments.progress(session, plan.id)
    if record.cancelled_at is not None:
        status = Status.CANCELLED
    elif plan.state == EnrolmentState.ACTIVE:
        status = Status.FINISHED if planned and sent >= planned else Status.AGREED
    else:
        status = Status.STOPPED
    return StatusReport(status, **base, agreed_at=invite.used_at, messages_sent=sent, messages_planned=planned)


@dataclass(frozen=True)
class Cancelled:
    client: Client | None  # the client whose plan was stopped, to be told; None when no plan was running
    enrolment_id: int | None = None


async def cancel(session: AsyncSession, record: ExternalEnrolment, *, actor_id: int | None, now: datetime) -> Cancelled:
    """The appointment was cancelled: the link dies, and a plan already running stops. Cancelling twice is fine."""
    if record.cancelled_at is not None:
        return Cancelled(None)
    record.cancelled_at = record.updated_at = now
    invite = await external_enrolments.invite_of(session, record)
    if invite is None:
        return Cancelled(None)
    invite.phone = None
    stopped: Cancelled = Cancelled(None)
    if invite.status == InviteStatus.PENDING:
        invite.status = InviteStatus.CANCELLED
    elif (plan := await external_enrolments.enrolment_of(session, invite)) and plan.state == EnrolmentState.ACTIVE:
        plan.state, plan.ended_at = EnrolmentState.STOPPED, now
        await deliveries.cancel_pending_for_enrolment(session, plan.id, "the appointment was cancelled")
        await enrolment.cancel_checkin_timers(session, [plan.id])
        still_active = await enrolments.active_for_client(session, plan.client_id)
        stopped = Cancelled(plan.client if not still_active else None, plan.id)
    await audit.record(session, now=now, action="enrolment_cancelled", actor_id=actor_id,
                       detail={"invite_id": invite.id, "external_id": record.external_id})
    return stopped
