"""The manager's report: every figure checked against a week of known events, on each database backend."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from aftercare_bot.config import WeeklySchedule
from aftercare_bot.db.repositories.report import ALL, Spread
from aftercare_bot.reporting import charts
from aftercare_bot.reporting.build import CSV_COLUMNS, figures, make_report, telegram_messages, to_csv
from aftercare_bot.reporting.period import Period, PeriodError, between, from_words
from tests.support.report_seed import T0, WEEK, seed_week

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def rig(make_settings, rigs):
    return rigs(make_settings(), T0 + 5 * WEEK)


async def test_every_figure_of_a_known_week(rig) -> None:
    await seed_week(rig.services.session_factory)
    found = await figures(rig.services, Period(T0, T0 + WEEK))

    assert found.funnel == {"links_made": 3, "opened": 2, "agreed": 2, "declined": 1, "stopped": 1, "blocked": 1,
                            "finished": 1, "unreachable": 1}
    steps = {step.step_key: step for step in found.steps}
    assert [step.step_key for step in found.steps] == ["same_evening", "mid", "day1_checkin", "final", "day3_checkin"]
    assert (steps["day1_checkin"].sent, steps["day1_checkin"].answered, steps["day1_checkin"].answered_within_hour) \
        == (2, 1, 1)
    assert (steps["day3_checkin"].sent, steps["day3_checkin"].cancelled, steps["day3_checkin"].quiet_held) == (1, 1, 1)
    assert [found.total(name) for name in ("due", "sent", "skipped", "quiet_held", "failed", "cancelled", "waiting")] \
        == [8, 5, 1, 1, 1, 1, 0]
    assert found.reply_times == {"day1_checkin": Spread(1, 1800, 1800), "day3_checkin": Spread(1, 10800, 10800),
                                 ALL: Spread(2, 1800, 10800)}
    assert found.answers_by_day == {1: {"ok": 1}, 3: {"worried": 1}}
    assert found.cases == {("urgent", "message"): 1, ("concern", "checkin"): 1, ("concern", "no_response"): 1}
    assert found.claim_times == {"urgent": Spread(1, 300, 300), "concern": Spread(1, 1200, 1200),
                                 ALL: Spread(2, 300, 1200)}
    assert found.resolve_times == {"urgent": Spread(1, 3900, 3900), ALL: Spread(1, 3900, 3900)}
    assert found.case_events == {"realerts": 1, "final_notices": 1, "reminders": 0, "no_response": 0}


async def test_percentiles_are_nearest_rank_over_many_values(rig) -> None:
    """Ten claims taking 1..10 minutes: the median is the 5th, the 90th percentile the 9th."""
    from aftercare_bot.db.models import Client, Escalation

    async with rig.services.session_factory.begin() as session:
        client = Client(telegram_user_id=1, chat_id=1, name="X", language="en", created_at=T0, updated_at=T0)
        session.add(client)
        await session.flush()
        session.add_all(Escalation(client_id=client.id, level="concern", kind="message", reasons="", state="claimed",
                                   created_at=T0 + timedelta(hours=n), claimed_at=T0 + timedelta(hours=n, minutes=n))
                        for n in range(1, 11))
    found = await figures(rig.services, Period(T0, T0 + WEEK))
    assert found.claim_times[ALL] == Spread(10, 300, 540)


async def test_an_empty_period_has_only_zeros_and_still_draws(rig) -> None:
    await seed_week(rig.services.session_factory)
    report = await make_report(rig.services, Period(T0 + 3 * WEEK, T0 + 4 * WEEK), "en")
    found = report.figures
    assert set(found.funnel.values()) == {0} and found.steps == [] and found.cases == {}
    assert found.reply_times == found.claim_times == found.resolve_times == {} and found.answers_by_day == {}
    assert "No check-in fell due" in "\n".join(report.headline)
    assert Image.open(io.BytesIO(report.png)).size == (charts.WIDTH_PX, charts.HEIGHT_PX)


async def test_a_clinic_with_no_cases(rig) -> None:
    await seed_week(rig.services.session_factory, cases=False)
    report = await make_report(rig.services, Period(T0, T0 + WEEK), "en")
    assert report.figures.cases == {} and report.figures.claim_times == {} and report.figures.resolve_times == {}
    assert report.figures.funnel["agreed"] == 2
    assert any("No case was opened" in line for line in report.headline)


async def test_the_chart_decodes_at_its_size_and_names_nobody(rig) -> None:
    await seed_week(rig.services.session_factory)
    report = await make_report(rig.services, Period(T0, T0 + WEEK), "en")
    image = Image.open(io.BytesIO(report.png))
    assert (image.format, image.size) == ("PNG", (1600, 1800))
    image.verify()
    caption, rest = telegram_messages(report)
    assert rest is None and "Links made: <b>3</b>" in caption and "Cases opened: <b>3</b> (1 urgent)" in caption
    assert "median 5 min, 9 in 10 within 20 min" in caption
    everything = caption + to_csv(report.figures)
    assert "Client 1" not in everything and "bleeding" not in everything


async def test_the_csv_has_the_documented_columns(rig) -> None:
    await seed_week(rig.services.session_factory)
    rows = list(csv.DictReader(io.StringIO(to_csv((await make_report(rig.services, Period(T0, T0 + WEEK),
                                                                      "en")).figures))))
    assert tuple(rows[0]) == CSV_COLUMNS == ("period_start", "period_end", "section", "item", "detail", "value")
    value = {(row["section"], row["item"], row["detail"]): row["value"] for row in rows}
    assert value["funnel", "links_made", ""] == "3"
    assert value["plan_messages", "day3_checkin", "quiet_held"] == "1"
    assert value["reply_seconds", ALL, "p90"] == "10800"
    assert value["checkin_answers_by_day", "3", "worried"] == "1"
    assert value["cases", "concern", "no_response"] == "1"
    assert value["case_events", "final_notices", ""] == "1"
    assert {row["period_start"] for row in rows} == {T0.isoformat()}


def test_periods_from_words_and_dates() -> None:
    now = datetime(2026, 7, 10, 12, tzinfo=UTC)
    assert from_words([], now=now, tz=LONDON) == Period(now - WEEK, now)
    assert from_words(["Month"], now=now, tz=LONDON) == Period(now - timedelta(days=30), now)
    # Summer time: London's days start at 23:00 UTC.
    assert from_words(["2026-07-01", "2026-07-02"], now=now, tz=LONDON) == Period(
        datetime(2026, 6, 30, 23, tzinfo=UTC), datetime(2026, 7, 2, 23, tzinfo=UTC))
    for words in (["2026-07-02", "2026-07-01"], ["yesterday"], ["2026-13-01", "2026-07-01"], ["a", "b", "c"]):
        with pytest.raises(PeriodError):
            from_words(words, now=now, tz=LONDON)
    with pytest.raises(PeriodError):
        between(date(2020, 1, 1), date(2026, 1, 1), LONDON)


def test_the_weekly_moment_in_clinic_time_across_a_clock_change() -> None:
    monday_nine = WeeklySchedule(0, datetime(2026, 1, 1, 9).time())
    # Sunday 29 March 2026 the clocks go forward: Monday 09:00 is 08:00 UTC, the Monday before 09:00 UTC.
    assert monday_nine.latest(datetime(2026, 3, 30, 8, tzinfo=UTC), LONDON) == datetime(2026, 3, 30, 8, tzinfo=UTC)
    assert monday_nine.latest(datetime(2026, 3, 30, 7, 59, tzinfo=UTC), LONDON) == datetime(2026, 3, 23, 9,
                                                                                           tzinfo=UTC)
    assert monday_nine.following(datetime(2026, 3, 23, 9, tzinfo=UTC), LONDON) == datetime(2026, 3, 30, 8,
                                                                                          tzinfo=UTC)


def test_report_schedule_setting(make_settings) -> None:
    assert repr(make_settings().report_schedule) == "mon 09:00"
    assert repr(make_settings(report_schedule="Friday 17:30").report_schedule) == "fri 17:30"
    assert make_settings(report_schedule="").report_schedule is None
    for wrong in ("someday 09:00", "mon 25:00", "09:00"):
        with pytest.raises(ValueError, match=r"day and time|impossible"):
            make_settings(report_schedule=wrong)
