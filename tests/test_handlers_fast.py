"""Fast handler tests: updates go straight into Application.process_update, answered by a recording request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from aftercare_bot.app import build_application, build_services
from aftercare_bot.clock import ManualClock
from aftercare_bot.db.models import Delivery, Invite
from tests.conftest import ADMIN_ID, STAFF_CHAT_ID, TOKEN
from tests.harness import START_LINK
from tests.recording_request import RecordingRequest, make_callback_update, make_command_update


@pytest.fixture
async def fast(make_settings) -> AsyncIterator[Any]:
    telegram = RecordingRequest(token=TOKEN, bot_username="glow_aftercare_bot")
    services = build_services(make_settings(), clock=ManualClock())
    application = build_application(services, request=telegram, updates_request=telegram)
    async with application:
        yield telegram, application
    await services.engine.dispose()
    assert telegram.spec_violations == []


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
