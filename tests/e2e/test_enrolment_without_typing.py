"""Joining at the front desk by sharing one's phone number, CSV imports, and the daily summary to staff."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from aftercare_bot.cli import main
from aftercare_bot.db.models import ExternalEnrolment, Invite
from tests.conftest import ADMIN_ID, TOKEN
from tests.support.api_client import ApiRig, session_start

PHONE_AS_BOOKED = "07400 123456"  # a UK mobile as a booking system keeps it
PHONE_FROM_TELEGRAM = "447400123456"  # the same as Telegram sends it


@pytest.fixture
async def api(bot_factory: Callable[..., Any]) -> AsyncIterator[ApiRig]:
    rig = await ApiRig(await bot_factory(clinic_region="GB")).start()
    yield rig
    await rig.stop()


async def phones(rig: ApiRig) -> list[str | None]:
    async with rig.bot.services.session_factory() as session:
        return list(await session.scalars(select(Invite.phone).order_by(Invite.id)))


async def test_front_desk_own_contact_joins_others_and_unknown_numbers_do_not(api: ApiRig) -> None:
    bot, telegram = api.bot, api.bot.telegram
    made = await api.call("POST", "/enrolments", {"external_id": "fd-1", "name": "Ann Smith",
                                                  "treatment": "microneedling", "session_start": session_start(),
                                                  "phone": PHONE_AS_BOOKED})
    assert made.status == 201 and await phones(api) == ["+447400123456"]
    ann = telegram.user(5101, "Ann")
    telegram.send_command(ann, "start", "frontdesk")
    welcome = await telegram.wait_for_message(ann, since=0)
    assert welcome.keyboard["keyboard"][0][0]["request_contact"] is True

    # Someone else's contact card counts for nothing, even with the right number.
    since = telegram.last_message_id(ann)
    telegram.send_contact(ann, PHONE_FROM_TELEGRAM, first_name="Ann's friend")
    assert "someone else" in (await telegram.wait_for_message(ann, since=since)).plain_text
    assert await phones(api) == ["+447400123456"]

    since = telegram.last_message_id(ann)
    telegram.send_contact(ann, PHONE_FROM_TELEGRAM)
    found = await telegram.wait_for_message(ann, since=since)
    consent = await telegram.wait_for_message(ann, since=found.message_id)
    assert "found your appointment" in found.plain_text and consent.buttons
    assert await phones(api) == [None]  # erased once matched
    assert (await api.call("GET", "/enrolments/fd-1")).body["status"] == "opened"
    since = telegram.last_message_id(ann)
    telegram.press_button(ann, consent, consent.callback_data[0])
    await telegram.wait_for_message(ann, since=since)
    assert (await api.call("GET", "/enrolments/fd-1")).body["status"] == "agreed"

    # The same number again: used already. Ann hears she is enrolled; a stranger with it finds nothing.
    since = telegram.last_message_id(ann)
    telegram.send_contact(ann, PHONE_FROM_TELEGRAM)
    assert "already receiving" in (await telegram.wait_for_message(ann, since=since)).plain_text
    eve = telegram.user(5102, "Eve")
    staff_since = telegram.last_message_id(bot.staff_chat)
    telegram.send_contact(eve, PHONE_FROM_TELEGRAM)
    answer = await telegram.wait_for_message(eve, since=0)
    assert "couldn't find an appointment" in answer.plain_text
    notice = await telegram.wait_for_message(bot.staff_chat, since=staff_since)
    assert "Eve" in notice.plain_text and "456" in notice.plain_text and "7400" not in notice.plain_text


async def test_phone_numbers_are_erased_when_the_link_expires_or_is_cancelled(api: ApiRig) -> None:
    for external_id, phone in (("fd-exp", "07400 100001"), ("fd-cancel", "07400 100002")):
        await api.call("POST", "/enrolments", {"external_id": external_id, "name": "Bo", "treatment": "microneedling",
                                               "session_start": session_start(), "phone": phone})
    await api.call("DELETE", "/enrolments/fd-cancel")
    assert await phones(api) == ["+447400100001", None]
    await api.bot.jump(api.bot.settings.invite_ttl + timedelta(minutes=1))
    assert await phones(api) == [None, None]


def csv_text(*rows: str) -> bytes:
    return "\n".join(["external_id,name,treatment,session_start,phone", *rows]).encode()


async def test_csv_from_an_admin_is_checked_whole_and_imported_once(api: ApiRig) -> None:
    bot, telegram = api.bot, api.bot.telegram
    when = session_start()
    bad = csv_text(f"c-1,Ann Smith,microneedling,{when},07400 123456", f"c-2,,botox,{when},",
                   "c-3,Cat,microneedling,soon,12", f"c-1,Ann Again,microneedling,{when},")
    since = telegram.last_message_id(bot.admin)
    telegram.send_document(bot.admin, "bookings.csv", bad, "text/csv")
    report = (await telegram.wait_for_message(bot.admin, since=since)).plain_text
    assert "Nothing was imported" in report
    for line in ("3:name: is required", "3:treatment:", "4:session_start:", "4:phone:",
                 "5:external_id: c-1 is also on row 2"):
        assert line in report, report
    async with bot.services.session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Invite)) == 0

    good = csv_text(f"c-1,Ann Smith,microneedling,{when},07400 123456", f"c-2,Bob Brown,microneedling,{when},")
    for expected in ("2 new, 0 updated, 0 already", "0 new, 0 updated, 2 already"):
        since = telegram.last_message_id(bot.admin)
        telegram.send_document(bot.admin, "bookings.csv", good, "text/csv")
        answer = await telegram.wait_for_message(bot.admin, since=since)
        assert expected in answer.plain_text, answer.plain_text
        links = await telegram.wait_for_message(bot.admin, since=answer.message_id)
        assert links.data["document"]["file_name"] == "enrolment-links.csv"
    async with bot.services.session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Invite)) == 2
    # A client's CSV file is a message for the clinic, not an import.
    ann = telegram.user(5201, "Ann")
    telegram.send_document(ann, "bookings.csv", good, "text/csv")
    await asyncio.sleep(0.3)
    assert not any("Imported" in (m.plain_text or "") for m in telegram.messages(ann))


async def test_the_command_line_imports_a_csv_all_or_nothing(
    make_settings: Callable[..., Any], database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
) -> None:
    for name, value in {"TELEGRAM_BOT_TOKEN": TOKEN, "CLINIC_PHONE": "+44 20 7946 0000", "ADMIN_IDS": str(ADMIN_ID),
                        "DATABASE_URL": database_url, "CLINIC_TIMEZONE": "Europe/London"}.items():
        monkeypatch.setenv(name, value)
    make_settings()  # clears the developer's own settings from the environment
    for name, value in {"TELEGRAM_BOT_TOKEN": TOKEN, "CLINIC_PHONE": "+44 20 7946 0000", "ADMIN_IDS": str(ADMIN_ID),
                        "DATABASE_URL": database_url}.items():
        monkeypatch.setenv(name, value)
    when = session_start()
    path = tmp_path / "day.csv"
    path.write_bytes(csv_text(f"k-1,Ann,microneedling,{when},", f"k-2,Bob,peel,{when},"))
    assert await asyncio.to_thread(main, ["enrol", "--csv", str(path)]) == 1
    assert "3:treatment: there is no plan called 'peel'" in capsys.readouterr().out
    path.write_bytes(csv_text(f"k-1,Ann,microneedling,{when},", f"k-2,Bob,microneedling,{when},"))
    links = tmp_path / "links.csv"
    args = ["enrol", "--csv", str(path), "--links", str(links), "--bot-username", "glow_aftercare_bot"]
    assert await asyncio.to_thread(main, args) == 0
    assert "2 new" in capsys.readouterr().out
    assert links.read_text().count("https://t.me/glow_aftercare_bot?start=") == 2
    first = links.read_text()
    assert await asyncio.to_thread(main, args) == 0
    assert "0 new, 0 updated, 2 unchanged" in capsys.readouterr().out
    assert links.read_text() == first  # the same links: nothing was made again

    assert await asyncio.to_thread(main, ["apikey", "create", "Zapier"]) == 0
    printed = capsys.readouterr().out
    secret = next(word for word in printed.split() if word.startswith("ak_"))
    assert await asyncio.to_thread(main, ["apikey", "list"]) == 0
    listed = capsys.readouterr().out
    assert "Zapier" in listed and secret not in listed and "in use" in listed
    assert await asyncio.to_thread(main, ["apikey", "revoke", secret[:10]]) == 0
    assert "revoked" in capsys.readouterr().out
    qr = tmp_path / "qr.png"
    args = ["frontdesk-qr", "--out", str(qr), "--bot-username", "glow_aftercare_bot"]
    assert await asyncio.to_thread(main, args) == 0
    assert qr.read_bytes().startswith(b"\x89PNG") and "start=frontdesk" in capsys.readouterr().out


async def test_staff_hear_of_the_day_s_enrolments_once_in_one_message(api: ApiRig) -> None:
    bot, telegram = api.bot, api.bot.telegram
    for n in range(3):
        await api.call("POST", "/enrolments", {"external_id": f"d-{n}", "name": f"Client {n}",
                                               "treatment": "microneedling", "session_start": session_start()})
    await api.call("DELETE", "/enrolments/d-2")
    since = telegram.last_message_id(bot.staff_chat)
    await bot.jump(timedelta(days=1))
    summaries = [m for m in telegram.messages(bot.staff_chat)
                 if m.message_id > since and "booking system" in (m.plain_text or "")]
    assert len(summaries) == 1, [m.plain_text for m in telegram.messages(bot.staff_chat)]
    text = summaries[0].plain_text
    assert ": 3" in text and "3 made by the booking system" in text and "appointment cancelled: 1" in text
    await bot.jump(timedelta(days=1))
    await bot.jump(timedelta(days=1))
    again = [m for m in telegram.messages(bot.staff_chat) if m.message_id > since and "booking system" in
             (m.plain_text or "")]
    assert len(again) == 1  # told once; nothing new since
    async with bot.services.session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(ExternalEnrolment)
                                    .where(ExternalEnrolment.reported_at.is_(None))) == 0
