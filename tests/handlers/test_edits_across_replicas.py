"""Edits on a deployment of several replicas: an edit goes on wherever the admin's next message lands, survives a
restart, and once the admin sees "Saved" no replica composes the old text."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from aftercare_bot.clock import ManualClock
from aftercare_bot.config import Settings
from aftercare_bot.sandbox.emulator.models import StoredMessage
from tests.support.admin_helpers import button_data
from tests.support.fast_rig import FastRig

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NEW_TEXT = "Sun cream every morning, <b>{first_name}</b>."


@pytest.fixture
async def replicas(make_settings: Callable[..., Settings]) -> AsyncIterator[list[FastRig]]:
    clock = ManualClock(START)
    rigs = [await FastRig.start(make_settings(), clock), await FastRig.start(make_settings(), clock)]
    yield rigs
    for rig in rigs:
        rig.assert_healthy()
        await rig.stop()


async def press(rig: FastRig, message: StoredMessage, label: str) -> StoredMessage:
    await rig.press(rig.admin, message, button_data(message, label))
    return rig.last_bot_message(rig.admin)


async def start_text_edit(rig: FastRig, step: str = "day2_sun") -> StoredMessage:
    await rig.command(rig.admin, "templates")
    plan = await press(rig, rig.last_bot_message(rig.admin), "Micro-needling")
    card = await press(rig, plan, step)
    return await press(rig, card, "Edit text")


async def type_text(rig: FastRig, text: str) -> StoredMessage:
    await rig.text(rig.admin, text)
    return rig.last_bot_message(rig.admin)


async def test_an_edit_started_on_one_replica_is_finished_on_another(replicas: list[FastRig]) -> None:
    one, two = replicas
    prompt = await start_text_edit(one)
    assert "Send the new text" in (prompt.plain_text or "")
    offer = await type_text(two, NEW_TEXT)
    assert "Sun cream every morning, Anna." in (offer.plain_text or ""), "the second replica took the answer"
    assert two.telegram.sent_texts(two.admin)[:-1] == [], "and said nothing else, no stranger greeting"
    saved = await press(two, offer, "Save")
    assert "Saved" in (saved.plain_text or "")
    assert "nothing to stop" in (await type_text(one, "/cancel")).plain_text, "the edit ended everywhere"


async def test_no_replica_sends_the_old_text_once_saved(replicas: list[FastRig]) -> None:
    one, two = replicas
    ann = await one.enrol(5001, "Ann Smith")
    one.clock.set(START + timedelta(days=2, hours=1, minutes=1))  # day2_sun is due (10:00 in London)
    await start_text_edit(two)
    offer = await type_text(two, NEW_TEXT)
    await press(two, offer, "Save")
    # The first replica looked for new revisions a moment ago: its periodic refresh would not look again for
    # seconds. Composing looks anyway.
    one.services.catalog.refreshed_at = time.monotonic()
    assert one.services.catalog.revision("microneedling") is None
    await one.run_due()
    assert one.telegram.sent_texts(ann)[-1] == "Sun cream every morning, Ann."


async def test_an_edit_goes_on_after_a_restart(make_settings: Callable[..., Settings]) -> None:
    clock = ManualClock(START)
    before = await FastRig.start(make_settings(), clock)
    await start_text_edit(before)
    await before.stop()
    after = await FastRig.start(make_settings(), clock)
    try:
        offer = await type_text(after, NEW_TEXT)
        assert "Sun cream every morning, Anna." in (offer.plain_text or "")
        assert any("Save" in label for label in offer.button_texts)
        after.assert_healthy()
    finally:
        await after.stop()


async def test_an_edit_left_too_long_ends_kindly_and_the_next_message_is_free(replicas: list[FastRig]) -> None:
    one, two = replicas
    await start_text_edit(one)
    one.clock.advance(timedelta(minutes=16))
    assert "left unfinished" in (await type_text(two, NEW_TEXT)).plain_text
    assert "nothing to stop" in (await type_text(one, "/cancel")).plain_text


async def test_a_client_message_is_not_looked_up_as_an_edit(replicas: list[FastRig], monkeypatch) -> None:
    one, _two = replicas
    ann = await one.enrol(5001, "Ann Smith")
    from aftercare_bot.plans import typed_edits

    looked: list[int] = []
    real = typed_edits.current

    async def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        looked.append(kwargs["user_id"])
        return await real(*args, **kwargs)

    monkeypatch.setattr(typed_edits, "current", counting)
    await one.text(ann, "My skin is a bit red")
    await one.text(one.admin, "hello")
    assert looked == [one.admin.id]


async def test_compositions_share_their_look_at_the_database(replicas: list[FastRig]) -> None:
    one, _two = replicas
    fresh = one.services.composer.plans_in_force
    before = fresh.looks
    await asyncio.gather(*(fresh.ensure() for _ in range(50)))
    assert 1 <= fresh.looks - before <= 2
