"""The enrolment API end to end: real HTTP to the bot's web server, the real bot polling the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from aftercare_bot.bot.runner import Mode
from aftercare_bot.db.models import AuditEvent, Delivery, DeliveryState, Invite
from tests.e2e.test_webhook import start_bot  # noqa: F401 (the running bot, in either mode)
from tests.support.api_client import ApiRig, session_start
from tests.support.harness import START_LINK


def enrolment(external_id: str = "apt-1", **changes: Any) -> dict[str, Any]:
    return {"external_id": external_id, "name": "Ann Smith", "treatment": "microneedling",
            "session_start": session_start(), **changes}


@pytest.fixture
async def api(bot_factory: Callable[..., Any]) -> AsyncIterator[ApiRig]:
    bot = await bot_factory(api_rate_limit=1000)
    rig = await ApiRig(bot).start()
    yield rig
    await rig.stop()


async def api_calls(rig: ApiRig) -> list[dict[str, Any]]:
    async with rig.bot.services.session_factory() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.action == "api_call").order_by(AuditEvent.id))
        return [row.detail for row in rows]


async def test_keys_missing_wrong_and_revoked_are_refused_and_every_call_is_audited(api: ApiRig) -> None:
    missing = await api.call("GET", "/enrolments/apt-1", key=None)
    wrong = await api.call("GET", "/enrolments/apt-1", key="ak_not-a-real-key")
    assert (missing.status, missing.body["error"]) == (401, "unauthorized")
    assert (wrong.status, wrong.body["error"]) == (401, "unauthorized")
    assert missing.headers["WWW-Authenticate"] == "Bearer"

    # An admin makes a key in Telegram (shown once, in the private chat), then revokes it there.
    bot = api.bot
    since = bot.telegram.last_message_id(bot.admin)
    bot.telegram.send_command(bot.admin, "apikeys", "new Zenoti")
    made = await bot.telegram.wait_for_message(bot.admin, since=since)
    secret = next(word for word in made.plain_text.split() if word.startswith("ak_"))
    assert (await api.call("POST", "/enrolments", enrolment(), key=secret)).status == 201
    since = bot.telegram.last_message_id(bot.admin)
    bot.telegram.send_command(bot.admin, "apikeys")
    listing = await bot.telegram.wait_for_message(bot.admin, since=since)
    assert "Zenoti" in listing.plain_text and secret not in listing.plain_text
    button = next(data for label, data in zip(listing.button_texts, listing.callback_data, strict=True)
                  if "Zenoti" in label)
    since = bot.telegram.last_message_id(bot.admin)
    bot.telegram.press_button(bot.admin, listing, button)
    assert "Revoked" in (await bot.telegram.wait_for_message(bot.admin, since=since)).plain_text
    revoked = await api.call("GET", "/enrolments/apt-1", key=secret)
    assert (revoked.status, revoked.body["error"]) == (403, "forbidden")
    assert (await api.call("GET", "/enrolments/apt-1")).status == 200  # the other key still works

    calls = await api_calls(api)
    assert [(c["method"], c["status"]) for c in calls] == [
        ("GET", 401), ("GET", 401), ("POST", 201), ("GET", 403), ("GET", 200)
    ]
    assert calls[2]["external_id"] == "apt-1" and calls[2]["api_key_id"] is not None
    assert calls[0]["api_key_id"] is None


async def test_apikeys_is_for_admins_in_a_private_chat(api: ApiRig) -> None:
    bot = api.bot
    refused = await bot.staff_command("/apikeys new Leaky", user=bot.nurse)
    assert "only for" in refused.plain_text.lower() or "admin" in refused.plain_text.lower()
    in_group = await bot.staff_command("/apikeys new Leaky", user=bot.admin)
    assert "private chat" in in_group.plain_text and "ak_" not in in_group.plain_text
    async with bot.services.session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEvent)
                                    .where(AuditEvent.action == "api_key_created")) == 1  # the rig's own


async def test_the_same_request_twice_enrols_once_and_changes_apply_until_the_client_agrees(api: ApiRig) -> None:
    request = enrolment()  # once: its session time is taken from the clock, which may tick between two calls
    first = await api.call("POST", "/enrolments", request)
    assert first.status == 201, first.body
    assert first.body["status"] == "link_made" and START_LINK.match(first.body["link"])
    again = await api.call("POST", "/enrolments", request)
    assert again.status == 200 and again.body == first.body
    later = session_start(hours=2)
    moved = await api.call("POST", "/enrolments", enrolment(session_start=later))
    assert moved.status == 200 and moved.body["link"] == first.body["link"]
    async with api.bot.services.session_factory() as session:
        invites = (await session.scalars(select(Invite))).all()
    assert len(invites) == 1 and invites[0].session_at.isoformat() == later

    qr = await api.call("GET", "/enrolments/apt-1/qr.png")
    assert qr.status == 200 and qr.headers["Content-Type"] == "image/png" and qr.body.startswith(b"\x89PNG")

    # The client opens the link: opened; agrees: agreed, with progress.
    bot, token = api.bot, START_LINK.match(first.body["link"]).group(1)
    ann = bot.telegram.user(5001, "Ann")
    bot.telegram.send_command(ann, "start", token)
    consent = await bot.telegram.wait_for_message(ann, since=0)
    assert (await api.call("GET", "/enrolments/apt-1")).body["status"] == "opened"
    since = bot.telegram.last_message_id(ann)
    bot.telegram.press_button(ann, consent, consent.callback_data[0])
    await bot.telegram.wait_for_message(ann, since=since)
    status = (await api.call("GET", "/enrolments/apt-1")).body
    assert status["status"] == "agreed" and status["progress"]["messages_planned"] > 0
    assert set(status) == {"external_id", "status", "link_expires_at", "opened_at", "agreed_at", "progress"}

    assert (await api.call("POST", "/enrolments", enrolment(session_start=later))).status == 200  # the same
    late = await api.call("POST", "/enrolments", enrolment(session_start=later, name="Ann Jones"))
    assert (late.status, late.body["error"]) == (409, "conflict") and "already answered" in late.body["message"]


async def test_cancelling_kills_the_link_or_stops_the_plan(api: ApiRig) -> None:
    bot = api.bot
    pending = await api.call("POST", "/enrolments", enrolment("apt-pending"))
    cancelled = await api.call("DELETE", "/enrolments/apt-pending")
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled"
    assert (await api.call("DELETE", "/enrolments/apt-pending")).status == 200  # twice is fine
    bob = bot.telegram.user(5002, "Bob")
    bot.telegram.send_command(bob, "start", START_LINK.match(pending.body["link"]).group(1))
    answer = await bot.telegram.wait_for_message(bob, since=0)
    assert "cancelled" in answer.plain_text and not answer.buttons
    assert (await api.call("POST", "/enrolments", enrolment("apt-pending"))).status == 409
    assert (await api.call("GET", "/enrolments/apt-pending/qr.png")).status == 409

    running = await api.call("POST", "/enrolments", enrolment("apt-running"))
    cat = bot.telegram.user(5003, "Cat")
    bot.telegram.send_command(cat, "start", START_LINK.match(running.body["link"]).group(1))
    consent = await bot.telegram.wait_for_message(cat, since=0)
    since = bot.telegram.last_message_id(cat)
    bot.telegram.press_button(cat, consent, consent.callback_data[0])
    await bot.telegram.wait_for_message(cat, since=since)
    since = bot.telegram.last_message_id(cat)
    stopped = await api.call("DELETE", "/enrolments/apt-running")
    assert stopped.body["status"] == "cancelled"
    told = await bot.telegram.wait_for_message(cat, since=since)
    assert "cancelled" in told.plain_text and "+44 20 7946 0000" in told.plain_text
    async with bot.services.session_factory() as session:
        waiting = await session.scalar(select(func.count()).select_from(Delivery)
                                       .where(Delivery.state == DeliveryState.PENDING))
    assert waiting == 0
    before = len(bot.telegram.messages(cat))
    await bot.jump(timedelta(days=3))
    assert len(bot.telegram.messages(cat)) == before  # nothing more of the plan

    missing = await api.call("DELETE", "/enrolments/no-such")
    assert (missing.status, missing.body["error"]) == (404, "not_found")


async def test_every_wrong_field_is_named(api: ApiRig) -> None:
    answer = await api.call("POST", "/enrolments", {
        "external_id": "has spaces", "treatment": "botox", "session_start": "next tuesday",
        "phone": "12", "language": "english!", "colour": "blue",
    })
    assert answer.status == 422 and answer.body["error"] == "validation_failed"
    named = {item["field"]: item["problem"] for item in answer.body["fields"]}
    assert set(named) == {"external_id", "name", "treatment", "session_start", "phone", "language", "colour"}
    assert named["name"] == "is required" and "microneedling" in named["treatment"]
    far = await api.call("POST", "/enrolments", enrolment(session_start=session_start(hours=24 * 90)))
    assert far.status == 422 and [f["field"] for f in far.body["fields"]] == ["session_start"]
    not_json = await api.call("POST", "/enrolments", raw="{not json")
    assert (not_json.status, not_json.body["error"]) == (400, "bad_request")
    listed = await api.call("POST", "/enrolments", ["a list"])
    assert listed.status == 422 and listed.body["fields"][0]["field"] == "body"
    async with api.bot.services.session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Invite)) == 0


async def test_an_erased_client_reads_erased(api: ApiRig) -> None:
    bot = api.bot
    made = await api.call("POST", "/enrolments", enrolment("apt-erase"))
    dan = bot.telegram.user(5004, "Dan")
    bot.telegram.send_command(dan, "start", START_LINK.match(made.body["link"]).group(1))
    consent = await bot.telegram.wait_for_message(dan, since=0)
    since = bot.telegram.last_message_id(dan)
    bot.telegram.press_button(dan, consent, consent.callback_data[0])
    await bot.telegram.wait_for_message(dan, since=since)
    since = bot.telegram.last_message_id(dan)
    bot.telegram.send_command(dan, "forget")
    question = await bot.telegram.wait_for_message(dan, since=since)
    since = bot.telegram.last_message_id(dan)
    bot.telegram.press_button(dan, question, question.callback_data[0])
    await bot.telegram.wait_for_message(dan, since=since)
    assert (await api.call("GET", "/enrolments/apt-erase")).body["status"] == "erased"
    again = await api.call("POST", "/enrolments", enrolment("apt-erase"))
    assert again.status == 409 and "erased" in again.body["message"]


async def test_a_key_sending_too_fast_is_told_to_wait(bot_factory: Callable[..., Any]) -> None:
    bot = await bot_factory(api_rate_limit=3)
    rig = await ApiRig(bot).start()
    try:
        answers = [await rig.call("GET", "/enrolments/x") for _ in range(4)]
        assert [a.status for a in answers] == [404, 404, 404, 429]
        assert answers[3].body["error"] == "too_many_requests" and int(answers[3].headers["Retry-After"]) >= 1
        other = await rig.new_key("Zapier")
        assert (await rig.call("GET", "/enrolments/x", key=other)).status == 404  # each key has its own rate
    finally:
        await rig.stop()


async def test_the_openapi_document_describes_the_api_without_a_key(api: ApiRig) -> None:
    answer = await api.call("GET", "/openapi.json", key=None)
    assert answer.status == 200 and answer.body["openapi"].startswith("3.1")
    assert set(answer.body["paths"]) == {"/enrolments", "/enrolments/{external_id}",
                                         "/enrolments/{external_id}/qr.png"}
    fields = answer.body["components"]["schemas"]["EnrolmentFields"]
    assert set(fields["required"]) == {"external_id", "name", "treatment", "session_start"}
    assert set(answer.body["paths"]["/enrolments"]["post"]["responses"]) >= {"201", "200", "401", "403", "409",
                                                                             "422", "429"}


@pytest.mark.parametrize("mode", [Mode.WEBHOOK, Mode.POLLING])
async def test_the_running_bot_serves_the_api_in_either_mode(start_bot, mode: Mode) -> None:  # noqa: F811
    running = await start_bot(mode)
    base = f"http://127.0.0.1:{running.port}/api/v1"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/openapi.json") as answer:
            assert answer.status == 200 and (await answer.json())["info"]["version"] == "1"
        async with session.get(f"{base}/enrolments/x") as answer:
            assert answer.status == 401
    off = await start_bot(mode, api_enabled=False)
    async with aiohttp.ClientSession() as session, session.get(
        f"http://127.0.0.1:{off.port}/api/v1/openapi.json"
    ) as answer:
        assert answer.status == 404
