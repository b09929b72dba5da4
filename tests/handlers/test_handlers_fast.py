"""Fast handler tests: updates go straight into Application.process_update, answered by a recording request."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from telegram.ext import Application

from aftercare_bot.app import build_application, build_services
from aftercare_bot.clock import ManualClock
from aftercare_bot.config import Settings
from aftercare_bot.db.models import Client, Delivery, Invite
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import clients
from tests.conftest import ADMIN_ID, STAFF_CHAT_ID, TOKEN
from tests.support.harness import START_LINK
from tests.support.recording_request import RecordingRequest, make_callback_update, make_command_update


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[RecordingRequest, Application]]:
    telegram = RecordingRequest(token=TOKEN, bot_username="glow_aftercare_bot")
    services = build_services(settings, clock=ManualClock())
    application = build_application(services, request=telegram, updates_request=telegram)
    async with application:
        yield telegram, application
    await services.engine.dispose()
    assert telegram.spec_violations == []


@pytest.fixture
async def fast(make_settings) -> AsyncIterator[Any]:
    async with running(make_settings()) as pair:
        yield pair


async def test_start_without_a_link_explains_how_to_join(fast) -> None:
    telegram, app = fast
    sam = telegram.world.user(7001, "Sam")
    await app.process_update(make_command_update(telegram, app.bot, sam, "start"))
    assert "personal link" in telegram.sent_texts(sam)[-1]


async def test_enrol_link_is_single_use_and_only_its_hash_is_stored(fast) -> None:
    telegram, app = fast
    world = telegram.world
    admin, ann = world.user(ADMIN_ID, "Alex"), world.user(5001, "Ann")
    await app.process_update(make_command_update(telegram, app.bot, admin, "enrol", "Ann Smith at=now"))
    caption = telegram.sent_messages(admin)[-1].plain_text
    token = START_LINK.search(caption).group(1)
    assert len(token) >= 22  # at least 128 bits in URL-safe base64
    services = app.bot_data["services"]
    async with services.session_factory() as session:
        invite = await session.scalar(select(Invite))
    assert token not in invite.token_hash and len(invite.token_hash) == 64

    await app.process_update(make_command_update(telegram, app.bot, ann, "start", token))
    consent = telegram.sent_messages(ann)[-1]
    assert len(consent.buttons) == 2
    await app.process_update(make_callback_update(telegram, app.bot, ann, consent, consent.callback_data[0]))
    async with services.session_factory() as session:
        assert len((await session.scalars(select(Delivery))).all()) == 6
    assert "all set" in telegram.sent_texts(ann)[-1]


async def test_strangers_are_refused_staff_commands_in_any_chat(fast) -> None:
    telegram, app = fast
    world = telegram.world
    eve = world.user(6666, "Eve")
    world.group(STAFF_CHAT_ID, "Clinic team")  # Eve is not a member: getChatMember says "left"
    group = world.group(-4242, "Eve's friends")
    world.add_member(group, eve)
    await app.process_update(make_command_update(telegram, app.bot, eve, "enrol", "Someone"))
    await app.process_update(make_command_update(telegram, app.bot, eve, "enrol", "Someone", chat=group))
    assert all("only for the clinic team" in text for text in telegram.sent_texts(eve))
    assert telegram.calls_to("sendPhoto") == []


async def test_enrol_options_are_validated_kindly(fast) -> None:
    telegram, app = fast
    admin = telegram.world.user(ADMIN_ID, "Alex")
    cases = {
        "": "To enrol a client",
        "Ann treatment=laser": "don't have a plan called",
        "Ann at=25:99": "couldn't read the session time",
        "Ann at=2020-01-01 10:00": "too far in the past",
        "Ann lang=english": "not a language code",
    }
    for args, expected in cases.items():
        await app.process_update(make_command_update(telegram, app.bot, admin, "enrol", args or None))
        assert expected in telegram.sent_texts(admin)[-1], args
    assert telegram.calls_to("sendPhoto") == []


async def test_unknown_commands_get_a_polite_answer_in_private_only(fast) -> None:
    telegram, app = fast
    world = telegram.world
    sam = world.user(7001, "Sam")
    await app.process_update(make_command_update(telegram, app.bot, sam, "frobnicate"))
    assert "don't know that command" in telegram.sent_texts(sam)[-1]
    group = world.group(-5, "Some group")
    world.add_member(group, sam)
    before = len(telegram.calls_to("sendMessage"))
    await app.process_update(make_command_update(telegram, app.bot, sam, "frobnicate", chat=group))
    assert len(telegram.calls_to("sendMessage")) == before


async def agree(telegram: RecordingRequest, app: Application, client: Any) -> None:
    """The client opens the link of the last enrolment and agrees."""
    admin_chat = telegram.sent_messages(ADMIN_ID)[-1]
    await app.process_update(make_command_update(telegram, app.bot, client, "start",
                                                 START_LINK.search(admin_chat.plain_text).group(1)))
    consent = telegram.sent_messages(client)[-1]
    await app.process_update(make_callback_update(telegram, app.bot, client, consent, consent.callback_data[0]))


async def test_staff_views_write_dates_as_the_language_does_in_clinic_time_and_states_as_labels(
    make_settings, tmp_path: Path
) -> None:
    # The team reads German (STAFF_LANGUAGE), which has no texts here: its dates still follow German conventions
    # (CLDR), the texts fall back to English; the admin's own Telegram language does not matter.
    settings = make_settings(clinic_timezone="Asia/Tokyo", staff_language="de")
    async with running(settings) as (telegram, app):
        app.bot_data["services"].clock.set(datetime(2026, 11, 20, 6, 0, tzinfo=UTC))  # 15:00 in Tokyo
        admin = telegram.world.user(ADMIN_ID, "Alex", language_code="en")
        ann = telegram.world.user(5001, "Ann")
        await app.process_update(make_command_update(telegram, app.bot, admin, "enrol", "Ann Smith at=14:30"))
        caption = telegram.sent_messages(admin)[-1].plain_text
        assert "session 20. Nov. 2026, 14:30" in caption and "expires on 27. Nov. 2026, 15:00" in caption
        await agree(telegram, app, ann)

        await app.process_update(make_command_update(telegram, app.bot, admin, "client", "ann"))
        summary = telegram.sent_texts(admin)[-1]
        assert "status: active" in summary
        assert "Plan: Micro-needling, session 20. Nov. 2026, 14:30 — in progress" in summary
        assert "• same_evening — 20. Nov., 18:30" in summary, "4 hours after the session, Tokyo time"

        await app.process_update(make_command_update(telegram, app.bot, ann, "stop"))
        confirm = telegram.sent_messages(ann)[-1]
        await app.process_update(make_callback_update(telegram, app.bot, ann, confirm, confirm.callback_data[0]))
        french_nurse = telegram.world.user(ADMIN_ID, "Alex", language_code="fr")
        await app.process_update(make_command_update(telegram, app.bot, french_nurse, "client", "ann"))
        summary = telegram.sent_texts(french_nurse)[-1]
        assert "status: stopped the messages with /stop" in summary
        assert "Plan: Micro-needling, session 20. Nov. 2026, 14:30 — stopped by the client" in summary
        assert "same_evening" not in summary and "microneedling" not in summary


async def add_clients(app: Application, *names: str) -> None:
    services = app.bot_data["services"]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with services.session_factory.begin() as session:
        for number, name in enumerate(names):
            at = start + timedelta(minutes=number)  # the later added, the more recently changed
            session.add(Client(telegram_user_id=900_000 + number, chat_id=900_000 + number, name=name,
                               first_name=name.split()[0], language="en", created_at=at, updated_at=at))


async def test_client_lookup_counts_every_match_and_says_how_to_narrow_it(fast) -> None:
    telegram, app = fast
    admin = telegram.world.user(ADMIN_ID, "Alex")
    await add_clients(app, *(f"Ann Lee {number}" for number in range(1, 26)), "Annabel Stone")
    await app.process_update(make_command_update(telegram, app.bot, admin, "client", "ann"))
    summaries, more = telegram.sent_texts(admin)[-4:-1], telegram.sent_texts(admin)[-1]
    assert [text.split(" (")[0] for text in summaries] == ["Annabel Stone", "Ann Lee 25", "Ann Lee 24"]
    assert more.startswith("23 more match in all; the most recently changed: Ann Lee 23, Ann Lee 22,")
    assert "Ann Lee 17, …" in more and "Ann Lee 16" not in more
    assert "send more of the name" in more and "/client Ann Lee 23" in more

    await app.process_update(make_command_update(telegram, app.bot, admin, "client", "ann lee 2"))
    more = telegram.sent_texts(admin)[-1]  # Ann Lee 2, 20 to 25: seven, all named
    assert more.startswith("4 more match: Ann Lee 22, Ann Lee 21, Ann Lee 20, Ann Lee 2.")


async def test_client_lookup_takes_percent_and_underscore_literally(fast) -> None:
    telegram, app = fast
    await add_clients(app, "Bo_b 100%", "Boxb 1000", "Ann Smith")
    services = app.bot_data["services"]
    async with services.session_factory() as session:
        for query, expected in {"100%": ["Bo_b 100%"], "o_b": ["Bo_b 100%"], "%": ["Bo_b 100%"], "_": ["Bo_b 100%"],
                                "b 10": ["Boxb 1000", "Bo_b 100%"]}.items():
            assert [c.name for c in await clients.search(session, query)] == expected, query
            assert await clients.count_matching(session, query) == len(expected), query
    admin = telegram.world.user(ADMIN_ID, "Alex")
    await app.process_update(make_command_update(telegram, app.bot, admin, "client", "x_b"))
    assert telegram.sent_texts(admin)[-1] == (
        'No client matches "x_b", and nobody enrolled under that name is waiting to join.'
    )


async def test_client_lookup_ignores_the_case_of_letters_beyond_ascii(fast) -> None:
    telegram, app = fast
    admin = telegram.world.user(ADMIN_ID, "Alex")
    await add_clients(app, "Éva Kovács", "Eva Smith")
    await app.process_update(make_command_update(telegram, app.bot, admin, "enrol", "Ödön Nagy"))

    async def look_up(query: str) -> str:
        await app.process_update(make_command_update(telegram, app.bot, admin, "client", query))
        return telegram.sent_texts(admin)[-1] or ""

    assert (await look_up("éva")).startswith("Éva Kovács")
    assert (await look_up("KOVÁCS")).startswith("Éva Kovács")
    assert "• Ödön Nagy — not yet joined" in await look_up("ödön")


async def test_client_lookup_finds_enrolments_not_yet_joined_and_how_to_give_a_new_link(fast) -> None:
    telegram, app = fast
    services = app.bot_data["services"]
    services.clock.set(datetime(2026, 11, 20, 15, 0, tzinfo=UTC))  # London is on UTC in November
    admin, ann = telegram.world.user(ADMIN_ID, "Alex"), telegram.world.user(5001, "Ann")

    async def look_up(query: str) -> list[str]:
        before = len(telegram.sent_messages(admin))
        await app.process_update(make_command_update(telegram, app.bot, admin, "client", query))
        return [text or "" for text in telegram.sent_texts(admin)[before:]]

    await app.process_update(make_command_update(telegram, app.bot, admin, "enrol", "Ann Smith at=14:30 lang=de"))
    [pending] = await look_up("smith")
    async with services.session_factory() as session:
        first_ref = str(RowRef.of(await session.scalar(select(Invite))))
    assert pending.splitlines() == [
        "Enrolled, not yet joined — they have not opened their link and agreed yet:",
        "• Ann Smith — not yet joined; Micro-needling, session 20 Nov 2026, 14:30. Their link works until"
        " 27 Nov 2026, 15:00. If they lost it, a new link: /enrol Ann Smith treatment=microneedling"
        f" at=2026-11-20 14:30 lang=de renew={first_ref}",
    ]

    # The command shown makes a new link for the same session; both are listed until one is used.
    services.clock.set(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    command = pending.rsplit(": ", 1)[1]
    await app.process_update(make_command_update(telegram, app.bot, admin, "enrol", command.removeprefix("/enrol ")))
    new_link = START_LINK.search(telegram.sent_messages(admin)[-1].plain_text).group(1)
    [pending] = await look_up("ann smith")
    newer, older = pending.splitlines()[1:]
    assert "Their link works until 5 Dec 2026, 09:00." in newer and "session 20 Nov 2026, 14:30" in newer
    assert "Their link expired on 27 Nov 2026, 15:00. A new link: /enrol Ann Smith" in older
    async with services.session_factory() as session:
        first, second = (await session.scalars(select(Invite).order_by(Invite.id))).all()
    assert (second.session_at, second.treatment, second.language) == (first.session_at, "microneedling", "de")
    assert first.renewed_by_id == second.id

    # Once the client has joined through one link, they are a client: neither link is listed any more.
    await app.process_update(make_command_update(telegram, app.bot, ann, "start", new_link))
    consent = telegram.sent_messages(ann)[-1]
    await app.process_update(make_callback_update(telegram, app.bot, ann, consent, consent.callback_data[0]))
    [summary] = await look_up("ann smith")
    assert summary.startswith("Ann Smith (Telegram name: Ann) — status: active")


async def test_client_lookup_counts_enrolments_not_yet_joined_beyond_those_listed(fast) -> None:
    telegram, app = fast
    admin, bo = telegram.world.user(ADMIN_ID, "Alex"), telegram.world.user(5002, "Bo")
    for number in range(1, 8):
        await app.process_update(make_command_update(telegram, app.bot, admin, "enrol", f"Bo_b {number}"))
    await app.process_update(make_command_update(telegram, app.bot, admin, "enrol", "Boxb 8"))
    last_link = telegram.sent_messages(admin)[-1]
    # A declined link is not waiting for anyone any more.
    await app.process_update(make_command_update(telegram, app.bot, bo, "start",
                                                 START_LINK.search(last_link.plain_text).group(1)))
    consent = telegram.sent_messages(bo)[-1]
    await app.process_update(make_callback_update(telegram, app.bot, bo, consent, consent.callback_data[1]))
    await app.process_update(make_command_update(telegram, app.bot, admin, "client", "b"))
    lines = (telegram.sent_texts(admin)[-1] or "").splitlines()
    assert [line.split(" — ")[0] for line in lines[1:-1]] == [f"• Bo_b {n}" for n in (7, 6, 5, 4, 3)]
    assert lines[-1] == "… and 2 more not yet joined. To narrow the search, send more of the name."
    await app.process_update(make_command_update(telegram, app.bot, admin, "client", "o_b"))
    assert "Boxb" not in (telegram.sent_texts(admin)[-1] or ""), "_ is a plain character here too"
    await app.process_update(make_command_update(telegram, app.bot, admin, "client", "boxb"))
    assert telegram.sent_texts(admin)[-1].startswith('No client matches "boxb"')
