"""What one red flag costs the database: the statements and transactions are pinned, so that a change that adds
a round trip to the busiest path is noticed (benchmarks/inbound.py measures what that does to latency)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from tests.support.escalation_rig import EscalationRig, escalation_rigs

SESSION = datetime(2026, 1, 13, 14, 0, tzinfo=UTC)
RED_FLAG = "I have a fever and yellow pus on my cheek"

# The message's transaction: one read (client, enrolment, open case, duplicate check), then the case, the audit
# event, the message and the safety answer (one statement), the answer's outbox entry, the check for older
# answers waiting in that chat, and all three timers (the card's, the re-alert's, the answer's) in one statement.
# After the sends, one transaction records both: the answer off the outbox, its Telegram id, the card's post and
# place, both timers done.
STATEMENTS = 12
TRANSACTIONS = 2


@pytest.fixture
async def esc_rigs() -> AsyncIterator[Callable[..., EscalationRig]]:
    async with escalation_rigs() as factory:
        yield factory


async def test_a_red_flag_takes_two_transactions_and_twelve_statements(esc_rigs, make_settings) -> None:
    rig = esc_rigs(make_settings(), SESSION)
    await rig.enrol(5001, "Ann Smith")
    await rig.enrol(5002, "Bo Brown")
    rig.clock.set(SESSION + timedelta(days=1))
    assert await rig.say(RED_FLAG, user_id=5002) == "urgent"  # connections opened, statements cached

    statements: list[str] = []
    commits: list[None] = []
    engine = rig.services.engine.sync_engine

    def on_statement(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", lambda _conn: commits.append(None))
    assert await rig.say(RED_FLAG, user_id=5001) == "urgent"

    assert len(rig.cards()) == 2 and len(rig.messenger.texts_to(5001)) == 1
    summary = "\n".join(" ".join(statement.split()[:4]) for statement in statements)
    assert len(statements) == STATEMENTS, summary
    assert len(commits) == TRANSACTIONS, summary
