"""The manager's report: aggregate figures for a period, computed in the database.

Every figure is a GROUP BY over the period's rows: no client's row is loaded into Python, and what comes back
is a few dozen numbers, or for the times (to answer, claim, resolve) a histogram of whole minutes, a few hundred
rows, from which the medians and 90th percentiles are read (nearest rank). Nothing here writes.

Periods are half-open, [start, end), in UTC. Events (links made, /stop, re-alerts ...) count from the audit
trail, which keeps its counts after clients are erased; plan messages count by when they fell due, cases by
when they were opened, check-in answers by the check-in's due time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from aftercare_bot.db.models import (
    AuditEvent,
    Delivery,
    DeliveryState,
    Enrolment,
    EnrolmentState,
    Escalation,
)

# Audit actions the funnel and the case figures count (written by clients/, delivery/, escalation/).
FUNNEL_ACTIONS = {
    "links_made": "invite_created",
    "opened": "invite_opened",
    "agreed": "enrolled",
    "declined": "invite_declined",
    "stopped": "client_stopped",
    "blocked": "client_unreachable",
}
CASE_ACTIONS = {
    "realerts": "escalation_realerted",
    "final_notices": "escalation_final_notice",
    "reminders": "checkin_reminded",
    "no_response": "checkin_no_response",
}
ALL = "all"  # the group of a spread over everything
CAUSE_MESSAGE, CAUSE_CHECKIN, CAUSE_NO_RESPONSE = "message", "checkin", "no_response"
WAITING_STATES = (DeliveryState.PENDING, DeliveryState.SENDING)
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-/]+")


# -- portable SQL for time differences ----------------------------------------------------------------------


class seconds_between(FunctionElement[float]):
    """Seconds from the second timestamp to the first."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


@compiles(seconds_between)
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


class whole_minutes(FunctionElement[int]):
    """Whole minutes in a number of seconds, rounded down once the seconds are whole (SQLite's julianday() is a
    few microseconds off; CAST truncates on SQLite and rounds on PostgreSQL, hence FLOOR there)."""

    type = Integer()
    inherit_cache = True
    name = "whole_minutes"


@compiles(whole_minutes, "sqlite")
def _minutes_sqlite(element: whole_minutes, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(ROUND({compiler.process(next(iter(element.clauses)), **kw)}) / 60 AS INTEGER)"


@compiles(whole_minutes)
def _minutes_postgresql(element: whole_minutes, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(FLOOR(ROUND({compiler.process(next(iter(element.clauses)), **kw)}) / 60) AS INTEGER)"


class local_days_between(FunctionElement[int]):
    """Calendar days in the clinic's time zone from the second timestamp to the first (0 = the same day).

    PostgreSQL knows the zone; SQLite does not, so there the zone's offset at the end of the period stands
    in for it (a day boundary may be an hour off around a clock change)."""

    type = Integer()
    inherit_cache = False  # the zone is not a bound parameter

    def __init__(self, later: ColumnElement[Any], earlier: ColumnElement[Any], *, zone: str, offset: int) -> None:
        if not _ZONE_NAME.fullmatch(zone):
            raise ValueError(f"not a time zone name: {zone!r}")
        self.zone, self.offset = zone, int(offset)
        super().__init__(later, earlier)


@compiles(local_days_between, "sqlite")
def _days_sqlite(element: local_days_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    shift = f"'{element.offset:+d} seconds'"
    return (f"CAST(ROUND(julianday({later}, {shift}, 'start of day') - "
            f"julianday({earlier}, {shift}, 'start of day')) AS INTEGER)")


@compiles(local_days_between)
def _days_postgresql(element: local_days_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    zone = f"'{element.zone}'"
    return f"(CAST(({later} AT TIME ZONE {zone}) AS DATE) - CAST(({earlier} AT TIME ZONE {zone}) AS DATE))"


# -- what the report holds ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """How long something took, in seconds: how many, the median and the 90th percentile (nearest rank)."""

    count: int = 0
    median: float | None = None
    p90: float | None = None


@dataclass(frozen=True)
class StepFigures:
    """One plan step's messages that fell due in the period (all treatments with a step of that name)."""

    step_key: str
    checkin: bool
    due: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    cancelled: int = 0
    waiting: int = 0
    quiet_held: int = 0
    answered: int = 0
    answered_within_hour: int = 0
    first_due: datetime | None = None


@dataclass
class ReportFigures:
    start: datetime
    end: datetime
    funnel: dict[str, int] = field(default_factory=dict)  # FUNNEL_ACTIONS' names, and finished, unreachable
    steps: list[StepFigures] = field(default_factory=list)
    reply_times: dict[str, Spread] = field(default_factory=dict)  # by check-in step, and ALL
    answers_by_day: dict[int, dict[str, int]] = field(default_factory=dict)  # day since treatment -> answer -> n
    cases: dict[tuple[str, str], int] = field(default_factory=dict)  # (level, cause) -> cases opened
    claim_times: dict[str, Spread] = field(default_factory=dict)  # by level, and ALL
    resolve_times: dict[str, Spread] = field(default_factory=dict)
    case_events: dict[str, int] = field(default_factory=dict)  # CASE_ACTIONS' names

    def total(self, name: str) -> int:
        """A plan message figure added up over the steps (due, sent, skipped, quiet_held ...)."""
        return sum(getattr(step, name) for step in self.steps)

    @property
    def checkin_steps(self) -> list[StepFigures]:
        return [step for step in self.steps if step.checkin]

    @property
    def cases_opened(self) -> int:
        return sum(self.cases.values())


# -- the queries ---------------------------------------------------------------------------------------------


async def figures(
    session: AsyncSession, *, start: datetime, end: datetime, now: datetime, zone: str, zone_offset: int,
    checkin_reason_prefix: str,
) -> ReportFigures:
    """Everything the report shows for [start, end). `checkin_reason_prefix` is how the reasons of a case opened
    by a check-in answer begin (they are stored as text, in the clinic's default language)."""
    report = ReportFigures(start, end)
    events = await _audit_counts(session, start, end, [*FUNNEL_ACTIONS.values(), *CASE_ACTIONS.values()])
    report.funnel = {name: events.get(action, 0) for name, action in FUNNEL_ACTIONS.items()}
    report.funnel["finished"] = await _finished_plans(session, start, min(end, now))
    report.funnel["unreachable"] = await _clients_with_failed_messages(session, start, end)
    report.case_events = {name: events.get(action, 0) for name, action in CASE_ACTIONS.items()}
    replies, report.answers_by_day = await _checkin_answers(session, start, end, zone, zone_offset)
    report.reply_times = {name: _spread(histogram) for name, histogram in replies.items()}
    report.steps = [replace(step, answered_within_hour=_within_hour(replies.get(step.step_key, {})))
                    for step in await _steps(session, start, end)]
    report.cases = await _cases(session, start, end, checkin_reason_prefix)
    in_period = (Escalation.created_at >= start, Escalation.created_at < end)
    report.claim_times = await _spreads(
        session, seconds_between(Escalation.claimed_at, Escalation.created_at), Escalation.level,
        (*in_period, Escalation.claimed_at.is_not(None)),
    )
    report.resolve_times = await _spreads(
        session, seconds_between(Escalation.resolved_at, Escalation.created_at), Escalation.level,
        (*in_period, Escalation.resolved_at.is_not(None)),
    )
    return report


def _people(column: ColumnElement[Any]) -> ColumnElement[int]:
    """How many different people: distinct ids, and each event whose person was erased (NULL) counts alone."""
    return func.count(func.distinct(column)) + func.sum(case((column.is_(None), 1), else_=0))


async def _audit_counts(
    session: AsyncSession, start: datetime, end: datetime, actions: Sequence[str]
) -> dict[str, int]:
    """Events by action; for what people do (/stop, blocking), each person counts once."""
    per_person = {FUNNEL_ACTIONS["stopped"], FUNNEL_ACTIONS["blocked"]}
    rows = await session.execute(
        select(AuditEvent.action, func.count(), _people(AuditEvent.client_id))
        .where(AuditEvent.at >= start, AuditEvent.at < end, AuditEvent.action.in_(actions))
        .group_by(AuditEvent.action)
    )
    return {action: int(people if action in per_person else count) for action, count, people in rows}


async def _finished_plans(session: AsyncSession, start: datetime, end: datetime) -> int:
    """Plans whose last message fell due in the period while the client was still enrolled (not stopped,
    blocked or moved to a newer plan first). Each plan's last message comes from the (enrolment_id, due_at)
    index alone."""
    if end <= start:
        return 0
    last = (
        select(Delivery.enrolment_id.label("enrolment_id"), func.max(Delivery.due_at).label("last_due"))
        .group_by(Delivery.enrolment_id)
        .having(func.max(Delivery.due_at) >= start, func.max(Delivery.due_at) < end)
        .subquery()
    )
    still_enrolled = or_(
        Enrolment.state == EnrolmentState.ACTIVE,
        and_(Enrolment.state == EnrolmentState.SUPERSEDED, Enrolment.ended_at >= last.c.last_due),
    )
    return await session.scalar(
        select(func.count()).select_from(last).join(Enrolment, Enrolment.id == last.c.enrolment_id)
        .where(still_enrolled)
    ) or 0


async def _clients_with_failed_messages(session: AsyncSession, start: datetime, end: datetime) -> int:
    """Clients a plan message could not reach for good (Telegram refused it) in the period."""
    return await session.scalar(
        select(func.count(func.distinct(Delivery.client_id))).where(
            Delivery.state == DeliveryState.FAILED, Delivery.due_at >= start, Delivery.due_at < end,
        )
    ) or 0


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


async def _steps(session: AsyncSession, start: datetime, end: datetime) -> list[StepFigures]:
    """One row per step, state and quiet-hours mark, read from one covering index in its order (no sort, no
    table rows: ix_deliveries_report); added up per step here, from a few dozen rows."""
    rows = await session.execute(
        select(Delivery.step_key, Delivery.checkin, Delivery.state, Delivery.quiet_held, func.count(),
               _count_if(Delivery.answer.is_not(None)), func.min(Delivery.due_at))
        .where(Delivery.due_at >= start, Delivery.due_at < end)
        .group_by(Delivery.step_key, Delivery.checkin, Delivery.state, Delivery.quiet_held)
    )
    steps: dict[tuple[str, bool], dict[str, Any]] = {}
    for key, checkin, state, quiet_held, count, answered, first_due in rows:
        step = steps.setdefault((key, bool(checkin)), {"due": 0, "answered": 0, "quiet_held": 0, "first_due": None})
        step["due"] += count
        step["answered"] += int(answered or 0)
        step["quiet_held"] += count if quiet_held else 0
        name = "waiting" if state in WAITING_STATES else state
        if name in ("sent", "skipped", "failed", "cancelled", "waiting"):
            step[name] = step.get(name, 0) + count
        if step["first_due"] is None or first_due < step["first_due"]:
            step["first_due"] = first_due
    found = [StepFigures(key, checkin, **values) for (key, checkin), values in steps.items()]
    # In plan order, as far as the period shows it: by when each step first fell due.
    return sorted(found, key=lambda step: (step.first_due or start, step.step_key))


async def _checkin_answers(
    session: AsyncSession, start: datetime, end: datetime, zone: str, offset: int
) -> tuple[dict[str, dict[int, int]], dict[int, dict[str, int]]]:
    """In one pass over the answered check-ins: how long each step's answers took (histograms of whole
    minutes, by step and ALL), and the answers by day since the treatment."""
    minute = whole_minutes(seconds_between(Delivery.answered_at, Delivery.sent_at)).label("minute")
    day = local_days_between(Delivery.answered_at, Enrolment.session_at, zone=zone, offset=offset).label("day")
    rows = await session.execute(
        select(Delivery.step_key, minute, day, Delivery.answer, func.count())
        .join(Enrolment, Enrolment.id == Delivery.enrolment_id)
        .where(Delivery.checkin.is_(True), Delivery.answered_at.is_not(None), Delivery.sent_at.is_not(None),
               Delivery.due_at >= start, Delivery.due_at < end)
        .group_by(Delivery.step_key, minute, day, Delivery.answer)
    )
    histograms: dict[str, dict[int, int]] = {}
    by_day: dict[int, dict[str, int]] = {}
    for step_key, minutes, number, answer, count in rows:
        for name in (step_key, ALL):
            histogram = histograms.setdefault(name, {})
            histogram[int(minutes)] = histogram.get(int(minutes), 0) + int(count)
        answers = by_day.setdefault(int(number), {})
        answers[answer] = answers.get(answer, 0) + int(count)
    return histograms, dict(sorted(by_day.items()))


async def _cases(
    session: AsyncSession, start: datetime, end: datetime, checkin_prefix: str
) -> dict[tuple[str, str], int]:
    cause = case(
        (Escalation.kind == CAUSE_NO_RESPONSE, literal(CAUSE_NO_RESPONSE)),
        (Escalation.reasons.startswith(checkin_prefix, autoescape=True), literal(CAUSE_CHECKIN)),
        else_=literal(CAUSE_MESSAGE),
    ).label("cause")
    rows = await session.execute(
        select(Escalation.level, cause, func.count())
        .where(Escalation.created_at >= start, Escalation.created_at < end)
        .group_by(Escalation.level, cause)
    )
    return {(level, reason): int(count) for level, reason, count in rows}


async def _spreads(
    session: AsyncSession, took: ColumnElement[float], group: ColumnElement[Any], where: Sequence[ColumnElement[bool]]
) -> dict[str, Spread]:
    """The count, median and 90th percentile of `took` for each value of `group`, and for ALL of them together.

    The database returns a histogram in whole minutes (a few hundred rows at most, however many values);
    the percentiles are its nearest ranks, the value at rank ceil(p * n), to the minute."""
    histograms = await _histograms(session, took, group, where)
    return {name: _spread(histogram) for name, histogram in histograms.items()}


async def _histograms(
    session: AsyncSession, took: ColumnElement[float], group: ColumnElement[Any], where: Sequence[ColumnElement[bool]]
) -> dict[str, dict[int, int]]:
    """How many values of `took` fell in each whole minute, by group and for ALL."""
    minute = whole_minutes(took).label("minute")
    rows = await session.execute(select(group, minute, func.count()).where(*where).group_by(group, minute))
    histograms: dict[str, dict[int, int]] = {}
    for grp, minutes, count in rows:
        for name in (str(grp), ALL):
            histogram = histograms.setdefault(name, {})
            histogram[int(minutes)] = histogram.get(int(minutes), 0) + int(count)
    return histograms


def _spread(histogram: dict[int, int]) -> Spread:
    total = sum(histogram.values())
    ranks = {"median": (total + 1) // 2, "p90": (9 * total + 9) // 10}
    found: dict[str, float] = {}
    seen = 0
    for minutes in sorted(histogram):
        seen += histogram[minutes]
        for name, rank in ranks.items():
            if name not in found and seen >= rank:
                found[name] = float(minutes * 60)
    return Spread(total, found.get("median"), found.get("p90"))


def _within_hour(histogram: dict[int, int]) -> int:
    return sum(count for minutes, count in histogram.items() if minutes < 60)
