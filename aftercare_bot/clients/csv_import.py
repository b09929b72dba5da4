"""Enrolments from a CSV file (the command line, or an admin sending the file to the bot).

Every row is checked before anything is saved, and every problem is reported as `row:column: what is wrong`
(row 1 is the header, as in a spreadsheet). Nothing is imported unless all rows are good; a row's external_id
makes importing the same file again change nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aftercare_bot.clients import booking
from aftercare_bot.clients.booking import EnrolmentFields, Outcome, Rules
from aftercare_bot.config import Settings

COLUMNS = ("external_id", "name", "treatment", "session_start", "language", "phone")
REQUIRED = ("external_id", "name", "treatment", "session_start")
MAX_ROWS = 5000
MAX_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Link:
    external_id: str
    name: str
    token: str


@dataclass
class ImportReport:
    problems: list[str] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    links: list[Link] = field(default_factory=list)


class _Refused(Exception):
    """Rolls the import's transaction back."""


def check(text: str, rules: Rules) -> tuple[list[tuple[int, EnrolmentFields]], list[str]]:
    """The rows (by row number) and every problem found in the file."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    problems = [f"1:{name or '(blank)'}: not a column; the columns are {', '.join(COLUMNS)}"
                for name in header if name not in COLUMNS]
    problems += [f"1:{name}: column missing" for name in REQUIRED if name not in header]
    if problems:
        return [], problems
    reader.fieldnames = header
    rows: list[tuple[int, EnrolmentFields]] = []
    first_row: dict[str, int] = {}
    for index, raw in enumerate(reader, start=2):
        if index - 1 > MAX_ROWS:
            return [], [f"{index}:external_id: more than {MAX_ROWS} rows; split the file"]
        if None in raw:  # more cells than columns
            problems.append(f"{index}:{COLUMNS[-1]}: more cells than there are columns")
            continue
        values = {name: (value or "").strip() for name, value in raw.items() if name is not None}
        if not any(values.values()):
            continue  # a blank line
        data = {name: value for name, value in values.items() if value or name in REQUIRED}
        parsed = booking.parse_fields(data, rules)
        if isinstance(parsed, list):
            problems += [f"{index}:{problem.field}: {problem.problem}" for problem in parsed]
            continue
        if (earlier := first_row.setdefault(parsed.external_id, index)) != index:
            problems.append(f"{index}:external_id: {parsed.external_id} is also on row {earlier}")
            continue
        rows.append((index, parsed))
    return rows, problems


async def import_csv(
    session_factory: async_sessionmaker[AsyncSession],
    text: str,
    *,
    rules: Rules,
    actor_id: int | None,
    now: datetime,
    settings: Settings,
) -> ImportReport:
    rows, problems = check(text, rules)
    report = ImportReport(problems=problems)
    if problems:
        return report
    try:
        async with session_factory.begin() as session:
            for index, fields in rows:
                saved = await booking.save(session, fields, source=booking.IMPORT, api_key_id=None,
                                           actor_id=actor_id, now=now, settings=settings)
                if saved.outcome == Outcome.CONFLICT:
                    report.problems.append(f"{index}:external_id: {fields.external_id} cannot change: {saved.conflict}")
                    continue
                setattr(report, saved.outcome.value, getattr(report, saved.outcome.value) + 1)
                assert saved.token is not None
                report.links.append(Link(fields.external_id, fields.name, saved.token))
            if report.problems:
                raise _Refused
    except _Refused:
        return ImportReport(problems=report.problems)
    return report


def links_csv(report: ImportReport, bot_username: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["external_id", "name", "link"])
    for link in report.links:
        writer.writerow([link.external_id, link.name, booking.invite_link(bot_username, link.token)])
    return out.getvalue()
