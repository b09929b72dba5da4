"""A report for a period: the figures from the database, the chart, the headline lines and the CSV."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from html import escape

from aftercare_bot.db.repositories import report as repo
from aftercare_bot.db.repositories.report import ALL, ReportFigures, Spread
from aftercare_bot.reporting import charts
from aftercare_bot.reporting.period import Period
from aftercare_bot.services import Services
from aftercare_bot.texts import cldr, wording
from aftercare_bot.texts.telegram_html import plain_text, visible_length

MAX_CAPTION_LENGTH = 1024  # Telegram's limit for a photo's caption, counted after HTML parsing
CSV_COLUMNS = ("period_start", "period_end", "section", "item", "detail", "value")
CHECKIN_REASON_KEY = "esc_reason_checkin"  # how the reasons of a case opened by a check-in answer begin


@dataclass(frozen=True)
class Report:
    figures: ReportFigures
    title: str  # plain text
    headline: list[str]  # HTML lines
    png: bytes


def telegram_messages(report: Report) -> tuple[str, str | None]:
    """The picture's caption, and the headline lines as a message of their own when they do not fit in it."""
    title = f"<b>{escape(report.title)}</b>"
    lines = "\n".join(report.headline)
    caption = f"{title}\n\n{lines}"
    if visible_length(caption) <= MAX_CAPTION_LENGTH:
        return caption, None
    return title, lines


async def figures(svc: Services, period: Period) -> ReportFigures:
    tz = svc.settings.timezone
    offset = period.end.astimezone(tz).utcoffset()
    prefix = svc.texts.raw(CHECKIN_REASON_KEY, svc.staff_language).split("{", 1)[0]
    async with svc.session_factory() as session:
        return await repo.figures(
            session, start=period.start, end=period.end, now=svc.clock.now(), zone=svc.settings.clinic_timezone,
            zone_offset=int(offset.total_seconds()) if offset else 0, checkin_reason_prefix=prefix,
        )


async def make_report(svc: Services, period: Period, language: str, *, title_key: str = "report_title") -> Report:
    found = await figures(svc, period)
    words = Words(svc, language)
    title = plain_text(svc.text(title_key, language, start=words.date(period.start),
                                end=words.day(period.last_day(svc.settings.timezone))))
    labels = charts.Labels.from_texts(lambda key, **values: svc.label(key, language, **values), step_names(svc))
    # Drawing takes a fraction of a second of CPU: off the event loop, so no update waits for it.
    png = await asyncio.to_thread(charts.draw, found, title, labels, words.duration)
    return Report(found, title, headline(found, words), png)


def step_names(svc: Services) -> dict[str, str]:
    """A step's key with its timing from the plan it is in ("day1 checkin · day 1 at 10:00")."""
    names: dict[str, str] = {}
    for treatment in svc.catalog.treatments():
        plan = svc.catalog.get(treatment)
        for step in plan.steps if plan else ():
            names.setdefault(step.key, f"{step.key.replace('_', ' ')} · {step.due.describe()}")
    return names


class Words:
    """Numbers, dates and durations as the admin reads them, worded by the texts files."""

    def __init__(self, svc: Services, language: str) -> None:
        self.svc, self.language = svc, language

    def t(self, key: str, **values: object) -> str:
        return self.svc.text(key, self.language, **values)

    def date(self, moment: datetime) -> str:
        return self.day(moment.astimezone(self.svc.settings.timezone).date())

    def day(self, day: date) -> str:
        return cldr.day(day, wording.date_locale(self.svc, self.language))

    def duration(self, seconds: float | None) -> str:
        if seconds is None:
            return self.svc.label("report_none", self.language)
        minutes = seconds / 60
        if minutes < 120:
            return self.svc.label("report_minutes", self.language, n=max(round(minutes), 0))
        hours = minutes / 60
        if hours < 48:
            return self.svc.label("report_hours", self.language, n=_short(hours))
        return self.svc.label("report_days", self.language, n=_short(hours / 24))


def _short(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value < 10 else str(round(value))


def percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)} %" if whole else "–"


def headline(found: ReportFigures, words: Words) -> list[str]:
    funnel = found.funnel
    lines = [words.t("report_line_funnel", **funnel), words.t("report_line_exits", **funnel)]
    checkins = found.checkin_steps
    sent = sum(step.sent for step in checkins)
    if sent:
        answered = sum(step.answered for step in checkins)
        within = sum(step.answered_within_hour for step in checkins)
        lines.append(words.t(
            "report_line_replies", rate=percent(answered, sent), answered=answered, sent=sent,
            median=words.duration(found.reply_times.get(ALL, Spread()).median), within_hour=percent(within, answered),
        ))
    else:
        lines.append(words.t("report_line_no_checkins"))
    if found.cases_opened:
        claim, resolve = found.claim_times.get(ALL, Spread()), found.resolve_times.get(ALL, Spread())
        urgent = sum(count for (level, _cause), count in found.cases.items() if level == "urgent")
        lines.append(words.t(
            "report_line_cases", cases=found.cases_opened, urgent=urgent,
            claim_median=words.duration(claim.median), claim_p90=words.duration(claim.p90),
            resolve_median=words.duration(resolve.median), resolve_p90=words.duration(resolve.p90),
        ))
    else:
        lines.append(words.t("report_line_no_cases"))
    lines.append(words.t("report_line_safety", **found.case_events))
    lines.append(words.t("report_line_messages", sent=found.total("sent"), skipped=found.total("skipped"),
                         quiet_held=found.total("quiet_held"), failed=found.total("failed")))
    return lines


def to_csv(found: ReportFigures) -> str:
    """Every figure of the report, one per row (the columns are CSV_COLUMNS; see docs/clinic-guide.md)."""
    rows: list[tuple[str, str, str, object]] = []
    rows += [("funnel", name, "", value) for name, value in found.funnel.items()]
    for step in found.steps:
        for detail in ("due", "sent", "skipped", "quiet_held", "failed", "cancelled", "waiting"):
            rows.append(("plan_messages", step.step_key, detail, getattr(step, detail)))
        if step.checkin:
            rows.append(("checkin_replies", step.step_key, "answered", step.answered))
            rows.append(("checkin_replies", step.step_key, "answered_within_hour", step.answered_within_hour))
    for name, spreads in (("reply_seconds", found.reply_times), ("claim_seconds", found.claim_times),
                          ("resolve_seconds", found.resolve_times)):
        for group, spread in sorted(spreads.items()):
            rows += [(name, group, "count", spread.count), (name, group, "median", _number(spread.median)),
                     (name, group, "p90", _number(spread.p90))]
    for day, answers in found.answers_by_day.items():
        rows += [("checkin_answers_by_day", str(day), answer, count) for answer, count in sorted(answers.items())]
    rows += [("cases", level, cause, count) for (level, cause), count in sorted(found.cases.items())]
    rows += [("case_events", name, "", value) for name, value in found.case_events.items()]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    start, end = found.start.isoformat(), found.end.isoformat()
    writer.writerows((start, end, *row) for row in rows)
    return out.getvalue()


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"
