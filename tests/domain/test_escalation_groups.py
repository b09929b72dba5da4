"""Red flags that arrive together are written together on SQLite (aftercare_bot.inbound.writes), each handler going
on once its own message is committed, and a message whose write fails takes none of the others down with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from aftercare_bot.inbound.receive import Received
from tests.support.escalation_rig import EscalationRig, escalation_rigs

SESSION = datetime(2026, 1, 13, 14, 0, tzinfo=UTC)
RED_FLAG = "I have a fever and yellow pus on my cheek"
CLIENTS = range(5001, 5007)


@pytest.fixture
async def esc_rigs() -> AsyncIterator[Callable[..., EscalationRig]]:
    async with escalation_rigs() as factory:
        yield factory


async def _rig(esc_rigs, make_settings) -> EscalationRig:  # type: ignore[no-untyped-def]
    rig = esc_rigs(make_settings(), SESSION)
    for user_id in CLIENTS:
        await rig.enrol(user_id, f"Client {user_id}")
    rig.clock.set(SESSION + timedelta(days=1))
    return rig


async def test_red_flags_arriving_together_each_get_their_case_answer_and_card(esc_rigs, make_settings) -> None:
    rig = await _rig(esc_rigs, make_settings)
    case_inserts: list[str] = []

    def on_statement(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO escalations"):
            case_inserts.append(statement)

    event.listen(rig.services.engine.sync_engine, "before_cursor_execute", on_statement)
    received = await asyncio.gather(*(rig.say(RED_FLAG, user_id=user_id) for user_id in CLIENTS))

    assert received == [Received.URGENT] * len(CLIENTS)
    cases = await rig.escalations()
    assert sorted(case.client_id for case in cases) == sorted({case.client_id for case in cases})  # one each
    assert len(cases) == len(CLIENTS) and len(rig.cards()) == len(CLIENTS)
    for user_id in CLIENTS:
        assert len(rig.messenger.texts_to(user_id)) == 1  # the safety answer, once
    # Each client's message and answer belong to that client's case.
    client_of_case = {case.id: case.client_id for case in cases}
    rows = [row for row in await rig.conversation_rows() if row.escalation_id is not None]
    assert len(rows) == 2 * len(CLIENTS)
    assert all(client_of_case[row.escalation_id] == row.client_id for row in rows)
    assert all(timer.state == "done" for timer in await rig.timers("escalation_card"))
    assert all(timer.state == "done" for timer in await rig.timers("outbox"))
    if rig.services.engine.dialect.name == "sqlite":
        assert len(case_inserts) < len(CLIENTS)  # written in groups


async def test_a_message_whose_write_fails_takes_no_other_down(esc_rigs, make_settings) -> None:
    rig = await _rig(esc_rigs, make_settings)
    bad = CLIENTS[2]
    writes = rig.conversation.writes
    write_all = writes.write_all

    async def failing_for_one(session, arrivals):  # type: ignore[no-untyped-def]
        if any(arrival.client.telegram_user_id == bad for arrival in arrivals):
            raise RuntimeError("this message cannot be written")
        return await write_all(session, arrivals)

    writes.write_all = failing_for_one  # type: ignore[method-assign]
    received = await asyncio.gather(*(rig.say(RED_FLAG, user_id=user_id) for user_id in CLIENTS),
                                    return_exceptions=True)

    assert isinstance(received[CLIENTS.index(bad)], RuntimeError)
    assert [outcome for user_id, outcome in zip(CLIENTS, received, strict=True) if user_id != bad] == (
        [Received.URGENT] * (len(CLIENTS) - 1))
    cases = await rig.escalations()
    assert len({case.client_id for case in cases}) == len(cases)  # one each
    assert len(cases) == len(CLIENTS) - 1 and len(rig.cards()) == len(CLIENTS) - 1
    assert rig.messenger.texts_to(bad) == []
    for user_id in CLIENTS:
        if user_id != bad:
            assert len(rig.messenger.texts_to(user_id)) == 1

    # Written later (Telegram delivers it again), the message is handled as if it were new.
    writes.write_all = write_all  # type: ignore[method-assign]
    assert await rig.say(RED_FLAG, user_id=bad) == Received.URGENT
    assert len(rig.messenger.texts_to(bad)) == 1 and len(rig.cards()) == len(CLIENTS)
