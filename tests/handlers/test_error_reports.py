"""Unexpected errors reach the admins in Telegram: once per kind of error and 10 minutes, counted when held back,
and without anything a client wrote."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from aftercare_bot.bot import error_reports, jobs
from aftercare_bot.bot.error_reports import HOURLY_CAP, WINDOW, ErrorReports
from aftercare_bot.clock import ManualClock
from aftercare_bot.config import Settings
from aftercare_bot.delivery.ports import OutboundMessage, SendRetryLater
from aftercare_bot.inbound import receive
from tests.support.fast_rig import FastRig

ANN_ID = 5001
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
WORDS = "Ann Smith here, my lip is swollen"


@pytest.fixture
async def rig(make_settings: Callable[..., Settings]) -> AsyncIterator[FastRig]:
    rig = await FastRig.start(make_settings(), ManualClock(START))
    yield rig
    await rig.stop()


def reports_of(rig: FastRig) -> ErrorReports:
    return rig.services.runtime.error_reports


def admin_reports(rig: FastRig) -> list[str]:
    return [text or "" for text in rig.telegram.sent_texts(rig.admin) if "failed inside the bot" in (text or "")]


def triage_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading a client's message fails, with the message in the exception, as a careless library might."""

    def failing(rules: Any, text: str | None, **_: Any) -> Any:
        raise ValueError(f"cannot read {text!r}")

    monkeypatch.setattr(receive, "triage", failing)


async def test_an_error_in_a_handler_reaches_the_admins_once_without_client_text(
    rig: FastRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = await rig.enrol(ANN_ID, "Ann Smith")
    client_id = await _client_number(rig)
    triage_fails(monkeypatch)

    await rig.text(ann, WORDS)
    await reports_of(rig).drain()

    assert len(rig.handler_errors) == 1
    (report,) = admin_reports(rig)
    assert "ValueError in aftercare_bot.inbound.receive." in report
    assert f"client #{client_id}" in report
    for private in ("Ann", "Smith", "swollen", "lip", "cannot read"):
        assert private not in report
    # The admins are told privately; the staff chat gets no report.
    assert not any("failed inside the bot" in (text or "") for text in rig.telegram.sent_texts(rig.staff_chat))
    assert rig.telegram.spec_violations == []


async def test_a_burst_of_one_error_gives_one_report_then_the_count(
    rig: FastRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = await rig.enrol(ANN_ID, "Ann Smith")
    triage_fails(monkeypatch)

    for number in range(5):
        await rig.text(ann, f"{WORDS} {number}")
        rig.clock.advance(timedelta(seconds=20))
    await reports_of(rig).drain()
    assert len(admin_reports(rig)) == 1

    await rig.run_due()  # the held-back four wait for the end of the window
    await reports_of(rig).drain()
    assert len(admin_reports(rig)) == 1

    rig.clock.advance(WINDOW)
    await rig.run_due()
    await reports_of(rig).drain()
    first, second = admin_reports(rig)
    assert "Times" not in first
    assert "Times since the last report: 4" in second
    assert "swollen" not in second

    rig.clock.advance(WINDOW)
    await rig.run_due()
    await reports_of(rig).drain()
    assert len(admin_reports(rig)) == 2, "nothing more happened, so nothing more is said"


async def test_a_failed_background_pass_is_reported(rig: FastRig, monkeypatch: pytest.MonkeyPatch) -> None:
    async def fails() -> None:
        raise RuntimeError("the database said no")

    monkeypatch.setattr(rig.services.runtime.dispatcher, "run_due", fails)

    await jobs._tick(SimpleNamespace(application=rig.app))  # type: ignore[arg-type]
    await rig.services.runtime.lanes.stop(5)
    await reports_of(rig).drain()

    (report,) = admin_reports(rig)
    assert "RuntimeError in aftercare_bot.bot.jobs.run_plans" in report
    assert "said no" not in report
    rig.forget_problems()  # the error was logged, as it should be


async def test_numbers_passed_with_a_logged_error_are_named(rig: FastRig) -> None:
    try:
        raise KeyError("Ann Smith")
    except KeyError:
        logging.getLogger("aftercare_bot.delivery.due_timers").exception(
            "timer failed", extra={"timer_id": 31, "case_id": 7, "client_name": "Ann"}
        )
    await reports_of(rig).drain()
    (report,) = admin_reports(rig)
    assert "case #7" in report and "timer #31" in report
    assert "Ann" not in report
    assert "aftercare_bot.delivery.due_timers" in report  # raised in the test: the place that logged it
    rig.forget_problems()


class RecordingSender:
    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[OutboundMessage] = []
        self.fail = fail

    async def send(self, message: OutboundMessage) -> int:
        if self.fail:
            raise RuntimeError("Telegram is down")
        self.sent.append(message)
        return len(self.sent)


def raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


async def test_every_kind_of_error_is_reported_at_most_a_few_times_an_hour(rig: FastRig) -> None:
    sender = RecordingSender()
    reports = ErrorReports(rig.services, sender)
    for place in range(HOURLY_CAP + 3):
        reports.capture(raised(ValueError("x")), where=f"somewhere.{place}")
    await reports.drain()
    assert len(sender.sent) == HOURLY_CAP * len(rig.services.settings.admin_ids)

    rig.clock.advance(timedelta(hours=1))
    reports.flush()
    await reports.drain()
    assert len(sender.sent) == (HOURLY_CAP + 3) * len(rig.services.settings.admin_ids)


async def test_expected_failures_are_not_reported(rig: FastRig) -> None:
    sender = RecordingSender()
    reports = ErrorReports(rig.services, sender)
    reports.capture(raised(SendRetryLater("flood control")))
    await reports.drain()
    assert sender.sent == []


async def test_a_failure_to_report_never_raises(rig: FastRig, monkeypatch: pytest.MonkeyPatch) -> None:
    reports = ErrorReports(rig.services, RecordingSender(fail=True))
    reports.capture(raised(ValueError("x")), where="a")
    await reports.drain()  # the send failed, quietly

    def no_texts(*_: Any, **__: Any) -> str:
        raise KeyError("error_report")

    monkeypatch.setattr(rig.services, "text", no_texts)
    reports.capture(raised(ValueError("x")), where="b")
    reports.flush()
    monkeypatch.setattr(error_reports, "where_raised", None)  # not even callable
    reports.capture(raised(ValueError("x")), where="c")
    await reports.drain()


async def _client_number(rig: FastRig) -> int:
    from sqlalchemy import select

    from aftercare_bot.db.models import Client

    async with rig.services.session_factory() as session:
        return (await session.scalars(select(Client.id).where(Client.telegram_user_id == ANN_ID))).one()
