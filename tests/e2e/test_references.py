"""Buttons and links reach only the object they were made for: after erasure, retention purges and ids given
again to new rows (SQLite does that by itself; on PostgreSQL a restore or a TRUNCATE does, simulated here)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from aftercare_bot.clock import ManualClock
from aftercare_bot.config import Settings
from aftercare_bot.db.models import Base, Client, Escalation, EscalationState, Invite, InviteStatus, Timer, TimerState
from tests.support.fast_rig import FastRig
from tests.support.harness import START_LINK

DORA, ERIN, XAVI, YARA, MALLORY = 5101, 5102, 5103, 5104, 6666
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
URGENT = "It is bleeding a lot and will not stop"


@pytest.fixture
async def rig(make_settings: Callable[..., Settings]) -> AsyncIterator[FastRig]:
    rig = await FastRig.start(make_settings(), ManualClock(START))
    yield rig
    await rig.stop()


async def give_ids_again(rig: FastRig) -> None:
    """Make the next row of every table take the lowest id above those left, as SQLite does after a delete
    and as PostgreSQL does after a restore or TRUNCATE ... RESTART IDENTITY."""
    engine = rig.services.engine
    if engine.dialect.name != "postgresql":
        return
    async with engine.begin() as connection:
        for table in Base.metadata.sorted_tables:
            if "id" in table.c and table.c.id.autoincrement is not False and table.c.id.primary_key:
                await connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)"
                ))


async def rows(rig: FastRig, model: Any, *conditions: Any) -> list[Any]:
    async with rig.services.session_factory() as session:
        return list((await session.scalars(select(model).where(*conditions).order_by(model.id))).all())


async def forget(rig: FastRig, person: Any) -> None:
    await rig.command(person, "forget")
    confirm = rig.last_bot_message(person)
    await rig.press(person, confirm, confirm.callback_data[0])
    assert "erased" in (rig.last_bot_message(person).plain_text or "")


async def link_for(rig: FastRig, name: str) -> str:
    await rig.command(rig.nurse, "enrol", name, chat=rig.staff_chat)
    match = START_LINK.search(rig.last_bot_message(rig.staff_chat).plain_text or "")
    assert match
    return match.group(1)


async def pending_timers(rig: FastRig, case_id: int) -> list[tuple[Any, ...]]:
    found = await rows(rig, Timer, Timer.subject_id == case_id, Timer.state == TimerState.PENDING)
    return [(t.id, t.kind, t.due_at) for t in found]


def answer_of(rig: FastRig, pressed: Any) -> str:
    answer = rig.callback_answer(pressed)
    assert answer is not None
    return answer.get("text", "")


async def test_an_old_card_of_an_erased_case_does_not_resolve_the_case_that_took_its_number(rig: FastRig) -> None:
    dora = await rig.enrol(DORA, "Dora Dean")
    await rig.text(dora, URGENT)
    old_card = next(m for m in rig.telegram.sent_messages(rig.staff_chat) if m.callback_data)
    [old_case] = await rows(rig, Escalation)
    await forget(rig, dora)
    await give_ids_again(rig)

    erin = await rig.enrol(ERIN, "Erin Eve")
    await rig.text(erin, URGENT)
    [new_case] = await rows(rig, Escalation)
    assert new_case.id == old_case.id, "the new case has the erased case's number"
    timers_before = await pending_timers(rig, new_case.id)
    assert timers_before, "the new urgent case waits for a claim"

    for data in old_card.callback_data:  # Claim and Resolve, as still shown on the old card
        pressed = await rig.press(rig.nurse, old_card, data, forged=True)
        assert "no longer exists" in answer_of(rig, pressed)
    [after] = await rows(rig, Escalation)
    assert (after.state, after.claimed_by, after.resolved_by) == (EscalationState.OPEN, None, None)
    assert await pending_timers(rig, new_case.id) == timers_before


async def test_a_leftover_consent_question_does_not_take_a_newer_invitation(rig: FastRig) -> None:
    xavi = rig.world.user(XAVI, "Xavi")
    token = await link_for(rig, "Xavi Xu")
    await rig.command(xavi, "start", token)
    first = rig.last_bot_message(xavi)
    await rig.command(xavi, "start", token)
    second = rig.last_bot_message(xavi)
    await rig.press(xavi, second, second.callback_data[0])
    [xavis_invite] = await rows(rig, Invite)
    await forget(rig, xavi)
    await give_ids_again(rig)

    yara_token = await link_for(rig, "Yara Young")
    [yaras_invite] = await rows(rig, Invite)
    assert yaras_invite.id == xavis_invite.id, "the new invitation has the erased one's number"
    await rig.press(xavi, first, first.callback_data[0])
    assert "link" in (rig.last_bot_message(xavi).plain_text or "")
    assert await rows(rig, Client) == [], "Xavi did not become anyone"

    yara = rig.world.user(YARA, "Yara")
    await rig.command(yara, "start", yara_token)
    consent = rig.last_bot_message(yara)
    await rig.press(yara, consent, consent.callback_data[0])
    [client] = await rows(rig, Client)
    assert (client.telegram_user_id, client.name) == (YARA, "Yara Young")


async def test_a_consent_question_pressed_by_someone_else_enrols_nobody(rig: FastRig) -> None:
    yara, mallory = rig.world.user(YARA, "Yara"), rig.world.user(MALLORY, "Mallory")
    await rig.command(yara, "start", await link_for(rig, "Yara Young"))
    consent = rig.last_bot_message(yara)
    for data in consent.callback_data:
        pressed = await rig.press(mallory, consent, data)
        assert "person who opened the link" in answer_of(rig, pressed)
    assert await rows(rig, Client) == []
    [invite] = await rows(rig, Invite)
    assert invite.status == InviteStatus.PENDING, "Yara can still agree"


async def test_forget_erases_the_links_the_client_did_not_use_and_the_waiting_list_forgets_them(rig: FastRig) -> None:
    zoe = rig.world.user(XAVI, "Zoe")
    await link_for(rig, "Zoe Quill at=2026-03-02 09:30")  # the first link, lost
    await rig.command(rig.nurse, "client", "Quill", chat=rig.staff_chat)
    listed = rig.last_bot_message(rig.staff_chat).plain_text or ""
    command = listed[listed.index("/enrol "):].split("\n")[0].strip()
    assert " renew=" in command, listed
    token = await link_for(rig, command.removeprefix("/enrol "))  # a new one, as the list offers
    await rig.command(zoe, "start", token)
    consent = rig.last_bot_message(zoe)
    await rig.press(zoe, consent, consent.callback_data[0])
    await rig.command(rig.nurse, "client", "Quill", chat=rig.staff_chat)
    assert "not yet joined" not in (rig.last_bot_message(rig.staff_chat).plain_text or "")
    [client] = await rows(rig, Client)
    assert {i.client_id for i in await rows(rig, Invite)} == {client.id}

    await forget(rig, zoe)
    assert await rows(rig, Invite) == []
    await rig.command(rig.nurse, "client", "Quill", chat=rig.staff_chat)
    assert "No client matches" in (rig.last_bot_message(rig.staff_chat).plain_text or "")


async def test_stop_and_forget_buttons_from_before_an_erasure_do_nothing_to_the_new_record(rig: FastRig) -> None:
    dora = await rig.enrol(DORA, "Dora Dean")
    await rig.command(dora, "stop")
    old_stop = rig.last_bot_message(dora)
    await rig.command(dora, "forget")
    old_forget = rig.last_bot_message(dora)
    await forget(rig, dora)
    await give_ids_again(rig)
    await rig.enrol(DORA, "Dora Dean")

    await rig.press(dora, old_stop, old_stop.callback_data[0])
    await rig.press(dora, old_forget, old_forget.callback_data[0])
    assert "did nothing" in (rig.last_bot_message(dora).plain_text or "")
    [client] = await rows(rig, Client)
    assert client.status == "active"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_erased_names_and_words_are_not_left_in_the_sqlite_files(rig: FastRig, database_url: str) -> None:
    path = database_url.split("///", 1)[1]
    secrets = [b"Quenby Xylophone", b"zanzibar kumquat", b"Quenby"]
    quenby = await rig.enrol(DORA, "Quenby Xylophone")
    await rig.text(quenby, "my zanzibar kumquat cream made it bleed and it will not stop")
    await rig.text(quenby, "also the zanzibar kumquat smell is strange")

    def on_disk() -> bytes:
        files = [path, path + "-wal"]
        return b"".join(Path(name).read_bytes() for name in files if Path(name).exists())

    assert all(secret in on_disk() for secret in secrets), "the test can see what it looks for"
    await forget(rig, quenby)
    leftovers = [secret for secret in secrets if secret in on_disk()]
    assert leftovers == []


async def test_someone_removed_from_the_staff_chat_loses_staff_rights_at_once_on_every_replica(
    rig: FastRig, make_settings: Callable[..., Settings]
) -> None:
    other = await FastRig.start(make_settings(), rig.clock)  # a second replica on the same database
    try:
        await rig.command(rig.nurse, "open", chat=rig.staff_chat)
        assert "open cases" in (rig.last_bot_message(rig.staff_chat).plain_text or "").lower()
        await other.command(other.nurse, "open", chat=other.staff_chat)
        assert "open cases" in (other.last_bot_message(other.staff_chat).plain_text or "").lower()

        rig.world.add_member(rig.staff_chat, rig.nurse, "left")
        other.world.add_member(other.staff_chat, other.nurse, "left")
        await rig.feed(rig.world.change_membership(rig.staff_chat, rig.nurse, "kicked", by=rig.admin))
        for replica in (rig, other):  # no time has passed: no membership lookup has expired
            await replica.command(replica.nurse, "open")
            assert "only for the clinic team" in (replica.last_bot_message(replica.nurse).plain_text or "").lower()
    finally:
        await other.stop()


async def test_without_word_from_telegram_a_removal_counts_once_the_minute_is_up(rig: FastRig) -> None:
    await rig.command(rig.nurse, "open", chat=rig.staff_chat)
    rig.world.add_member(rig.staff_chat, rig.nurse, "left")
    await rig.command(rig.nurse, "open")
    assert "only for the clinic team" not in (rig.last_bot_message(rig.nurse).plain_text or "").lower()
    rig.clock.advance(timedelta(seconds=61))
    await rig.command(rig.nurse, "open")
    assert "only for the clinic team" in (rig.last_bot_message(rig.nurse).plain_text or "").lower()

