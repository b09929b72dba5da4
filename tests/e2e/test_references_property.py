"""Any mix of enrolling, opening links, agreeing, red flags, claims, resolves, /stop, /forget and retention purges:
afterwards every button and link made along the way, pressed or opened again, acts only on its own object or
on nothing, never on anyone else's (the ids of erased rows are given again to new rows throughout)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from aftercare_bot.clients import privacy
from aftercare_bot.clock import ManualClock
from aftercare_bot.config import Settings
from aftercare_bot.db.models import Base, Client, Delivery, Escalation, Invite
from aftercare_bot.db.refs import NO_ROW, RowRef
from aftercare_bot.sandbox.emulator.models import StoredMessage
from tests.e2e.test_references import URGENT, give_ids_again, link_for
from tests.support.fast_rig import FastRig

PEOPLE = (5201, 5202)
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

person = st.sampled_from(PEOPLE)
operations = st.one_of(
    st.tuples(st.just("join"), person),  # enrol, open and agree: the common path, drawn more often
    st.tuples(st.just("join"), person),
    st.tuples(st.just("red_flag"), person),
    st.tuples(st.just("forget"), person),
    st.tuples(st.just("enrol"), person),
    st.tuples(st.just("open"), person),
    st.tuples(st.just("agree"), person, st.integers(0, 3)),
    st.tuples(st.just("decline"), person, st.integers(0, 3)),
    st.tuples(st.just("red_flag"), person),
    st.tuples(st.just("claim"), st.integers(0, 5)),
    st.tuples(st.just("resolve"), st.integers(0, 5)),
    st.tuples(st.just("stop"), person),
    st.tuples(st.just("forget"), person),
    st.tuples(st.just("purge")),
)


@dataclass(frozen=True)
class Made:
    """A button as it was shown: who it was shown to, the message, its data and what it names."""

    presser: int
    message: StoredMessage
    data: str
    kind: str
    target: str  # the RowRef token of the object it names, or NO_ROW


@pytest.fixture
async def rig(make_settings: Callable[..., Settings]) -> AsyncIterator[FastRig]:
    rig = await FastRig.start(make_settings(retention_period="30d"), ManualClock(START))
    yield rig
    await rig.stop()


def name_of(user_id: int) -> str:
    return f"Person {user_id} Tester"


class Script:
    def __init__(self, rig: FastRig) -> None:
        self.rig = rig
        self.links: list[tuple[int, str]] = []
        self.made: list[Made] = []

    def user(self, user_id: int) -> Any:
        return self.rig.world.users.get(user_id) or self.rig.world.user(user_id, f"P{user_id}")

    def remember(self, presser: int, message: StoredMessage) -> list[Made]:
        made = []
        for data in message.callback_data:
            parts = self.rig.services.signer.verify(data)
            assert parts is not None
            target = parts[2] if parts[0] in ("stop", "forget") else parts[1]
            made.append(Made(presser, message, data, parts[0], target))
        self.made += made
        return made

    def of_kind(self, kind: str, presser: int | None = None, answer: str | None = None) -> list[Made]:
        return [m for m in self.made if m.kind == kind and presser in (None, m.presser)
                and (answer is None or m.data.split(":")[-2] == answer)]

    async def run(self, operation: tuple[Any, ...]) -> None:
        rig, name = self.rig, operation[0]
        if name == "join":
            for step in (("enrol", operation[1]), ("open", operation[1])):
                await self.run(step)
            await self.run(("agree", operation[1], -1))
        elif name == "enrol":
            self.links.append((operation[1], await link_for(rig, name_of(operation[1]))))
        elif name == "open":
            tokens = [token for who, token in self.links if who == operation[1]]
            if tokens:
                await rig.command(self.user(operation[1]), "start", tokens[-1])
                self.remember(operation[1], rig.last_bot_message(self.user(operation[1])))
        elif name in ("agree", "decline"):
            choices = self.of_kind("inv", operation[1], "yes" if name == "agree" else "no")
            if choices:
                chosen = choices[operation[2] % len(choices)]
                await rig.press(self.user(chosen.presser), chosen.message, chosen.data, forged=True)
        elif name == "red_flag":
            seen = len(rig.telegram.sent_messages(rig.staff_chat))
            await rig.text(self.user(operation[1]), URGENT)
            for card in rig.telegram.sent_messages(rig.staff_chat)[seen:]:
                self.remember(rig.nurse.id, card)
        elif name in ("claim", "resolve"):
            choices = [m for m in self.of_kind("esc") if m.data.split(":")[-2] == name]
            if choices:
                chosen = choices[operation[1] % len(choices)]
                await rig.press(rig.nurse, chosen.message, chosen.data, forged=True)
        elif name in ("stop", "forget"):
            user = self.user(operation[1])
            await rig.command(user, name)
            shown = self.remember(operation[1], rig.last_bot_message(user))
            if shown:
                await rig.press(user, shown[0].message, shown[0].data)
                await give_ids_again(rig)
        elif name == "purge":
            await privacy.purge_finished(rig.services, now=rig.clock.now() + timedelta(days=400))
            await give_ids_again(rig)


Snapshot = dict[tuple[str, str], tuple[Any, ...]]


async def snapshot(rig: FastRig) -> Snapshot:
    """Every row a button can name, by its ref, with what a press could change."""
    columns = {
        Client: ("id", "telegram_user_id", "name", "status", "updated_at"),
        Invite: ("id", "status", "client_id", "client_name", "used_by"),
        Delivery: ("id", "client_id", "state", "answer"),
        Escalation: ("id", "client_id", "state", "claimed_by", "resolved_by"),
    }
    found: Snapshot = {}
    async with rig.services.session_factory() as session:
        for model, names in columns.items():
            for row in (await session.scalars(select(model))).all():
                found[(model.__tablename__, row.ref)] = tuple(getattr(row, name) for name in names)
    return found


def belongs_to(key: tuple[str, str], row: tuple[Any, ...], presser: int, client_ids: set[int]) -> bool:
    table = key[0]
    if table == "clients":
        return row[1] == presser
    if table == "invites":
        return row[2] in client_ids or row[4] == presser or row[3] == name_of(presser)
    return row[1] in client_ids


def allowed_changes(made: Made, before: Snapshot, after: Snapshot) -> set[tuple[str, str]]:
    """What a press of `made` may change: the object it names; for a person's own buttons, their own rows."""
    table = {"inv": "invites", "esc": "escalations"}.get(made.kind)
    target = RowRef.parse(made.target) if made.target != NO_ROW else None
    named = {(table, target.ref)} if table and target else set()
    if table and not (named & before.keys()):
        return set()  # what it was made for is gone: nothing may change
    if made.kind == "esc":
        return named
    both = {**before, **after}
    client_ids = {row[0] for key, row in both.items() if key[0] == "clients" and row[1] == made.presser}
    return named | {key for key, row in both.items() if belongs_to(key, row, made.presser, client_ids)}


async def reset(rig: FastRig) -> None:
    async with rig.services.session_factory.begin() as session:
        for table in reversed(Base.metadata.sorted_tables):
            await session.execute(delete(table))
    await give_ids_again(rig)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(operations, min_size=2, max_size=14))
async def test_old_buttons_and_links_reach_only_their_own_object(rig: FastRig, script: list[tuple[Any, ...]]) -> None:
    await reset(rig)
    player = Script(rig)
    for operation in script:
        await player.run(operation)

    for who, token in player.links:  # opening a link again only asks a question
        before = await snapshot(rig)
        await rig.command(player.user(who), "start", token)
        assert await snapshot(rig) == before
    for made in player.made:
        before = await snapshot(rig)
        await rig.press(player.user(made.presser) if made.kind != "esc" else rig.nurse, made.message, made.data,
                        forged=True)
        after = await snapshot(rig)
        changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
        assert changed <= allowed_changes(made, before, after), (made.kind, made.data, changed)
    rig.assert_healthy()
