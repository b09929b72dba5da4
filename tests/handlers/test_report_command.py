"""/report for admins only, and the weekly report: once a week, across a restart."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from PIL import Image

from aftercare_bot.clock import ManualClock
from aftercare_bot.db.models import AuditEvent, Timer
from aftercare_bot.reporting.weekly import REPORT_SENT, WEEKLY_REPORT_TIMER
from tests.conftest import ADMIN_ID
from tests.support.fast_rig import FastRig

# A Sunday evening in London (winter: clinic time is UTC); the weekly report is due Monday 09:00.
SUNDAY = datetime(2026, 1, 11, 18, tzinfo=UTC)
MONDAY_NINE = datetime(2026, 1, 12, 9, tzinfo=UTC)


def photos(rig: FastRig, chat: int) -> list[bytes]:
    found = []
    for message in rig.telegram.sent_messages(chat):
        if "photo" in message.data:
            found.append(rig.world.files[message.data["photo"][-1]["file_id"]].content)
    return found


async def test_an_admin_gets_the_chart_and_the_headline(make_settings) -> None:
    rig = await FastRig.start(make_settings(), ManualClock(SUNDAY))
    try:
        await rig.enrol(5001, "Ann Lee")
        await rig.command(rig.admin, "report")
        [png] = photos(rig, ADMIN_ID)
        assert Image.open(io.BytesIO(png)).size == (1600, 1800)
        caption = rig.last_bot_message(ADMIN_ID).data["caption"]
        assert "Links made: 1 · opened: 1 · agreed: 1" in caption
        assert "Ann" not in caption
        await rig.command(rig.admin, "report", "2026-01-01 2026-01-11")
        assert len(photos(rig, ADMIN_ID)) == 2
        rig.assert_healthy()
    finally:
        await rig.stop()


async def test_staff_and_strangers_are_refused_and_bad_periods_explained(make_settings) -> None:
    rig = await FastRig.start(make_settings(), ManualClock(SUNDAY))
    try:
        stranger = rig.world.user(4242, "Sam")
        await rig.command(rig.nurse, "report")
        await rig.command(stranger, "report", "month")
        assert "only the clinic's admins" in rig.telegram.sent_texts(rig.nurse)[-1]
        assert rig.telegram.sent_texts(stranger)[-1]
        assert photos(rig, rig.nurse.id) == photos(rig, stranger.id) == []
        await rig.command(rig.admin, "report", "2026-02-01 2026-01-01")
        assert "could not read that period" in rig.telegram.sent_texts(ADMIN_ID)[-1]
        assert photos(rig, ADMIN_ID) == []
        rig.assert_healthy()
    finally:
        await rig.stop()


async def test_the_weekly_report_goes_once_a_week_across_a_restart(make_settings) -> None:
    settings = make_settings()
    clock = ManualClock(SUNDAY)
    first = await FastRig.start(settings, clock)
    try:
        await first.run_due()  # schedules Monday's report
        clock.set(MONDAY_NINE + timedelta(minutes=1))
        await first.run_due()
        await first.run_due()
        assert len(photos(first, ADMIN_ID)) == 1
        assert "weekly aftercare report: 5 Jan 2026 – 12 Jan 2026" in first.last_bot_message(ADMIN_ID).data["caption"]
        first.assert_healthy()
    finally:
        await first.stop()
    second = await FastRig.start(settings, clock)  # the same database: a restart
    try:
        for _ in range(3):
            await second.run_due()
            clock.advance(timedelta(days=2))
        assert photos(second, ADMIN_ID) == []  # not again for the same week
        clock.set(MONDAY_NINE + timedelta(days=7, seconds=5))
        await second.run_due()
        assert len(photos(second, ADMIN_ID)) == 1  # the next week's
        async with second.services.session_factory() as session:
            from sqlalchemy import func, select

            sent = await session.scalar(select(func.count()).where(AuditEvent.action == REPORT_SENT))
            pending = await session.scalar(select(func.count()).where(
                Timer.kind == WEEKLY_REPORT_TIMER, Timer.state == "pending"))
        assert (sent, pending) == (2, 1)
        second.assert_healthy()
    finally:
        await second.stop()


async def test_no_weekly_report_when_the_schedule_is_empty(make_settings) -> None:
    clock = ManualClock(SUNDAY)
    rig = await FastRig.start(make_settings(report_schedule=""), clock)
    try:
        await rig.run_due()
        clock.set(MONDAY_NINE + timedelta(days=1))
        await rig.run_due()
        assert photos(rig, ADMIN_ID) == []
    finally:
        await rig.stop()
