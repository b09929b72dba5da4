"""Links a person opened or was given: erased with them, and never another person's because a name matches."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from aftercare_bot.clock import ManualClock
from aftercare_bot.config import Settings
from aftercare_bot.db.models import Client, Invite, InviteStatus
from tests.e2e.test_references import START, forget, give_ids_again, link_for, rows
from tests.support.fast_rig import FastRig

DORA, SAM_A, SAM_B = 5201, 5202, 5203


@pytest.fixture
async def rig(make_settings: Callable[..., Settings]) -> AsyncIterator[FastRig]:
    rig = await FastRig.start(make_settings(), ManualClock(START))
    yield rig
    await rig.stop()


async def test_forget_erases_a_link_the_client_opened_but_never_answered(rig: FastRig) -> None:
    """docs/operations.md (Privacy) says /forget deletes "the ones they opened but never answered"."""
    dora = await rig.enrol(DORA, "Dora Dean")
    token = await link_for(rig, "Dora Dean at=2026-03-05 11:00")  # her next session
    await rig.command(dora, "start", token)
    unanswered = rig.last_bot_message(dora)
    assert unanswered.callback_data, "Dora was asked to agree"
    await forget(rig, dora)
    await give_ids_again(rig)

    left = [(i.client_name, i.status) for i in await rows(rig, Invite)]
    assert left == [], "the link Dora opened is still held, with her name, after /forget"
    await rig.press(dora, unanswered, unanswered.callback_data[0])
    assert await rows(rig, Client) == [], "a question asked before /forget enrolled her again"


async def test_a_client_joining_never_takes_another_persons_link_with_the_same_name(rig: FastRig) -> None:
    """Two different people, both entered as "Sam Lee", at the same session (two chairs, two appointments)."""
    first = await link_for(rig, "Sam Lee at=2026-03-02 09:30")
    second = await link_for(rig, "Sam Lee at=2026-03-02 09:30")
    sam_a, sam_b = rig.world.user(SAM_A, "Sam"), rig.world.user(SAM_B, "Sam")
    await rig.command(sam_a, "start", first)
    consent = rig.last_bot_message(sam_a)
    await rig.press(sam_a, consent, consent.callback_data[0])

    await rig.command(sam_b, "start", second)
    asked = rig.last_bot_message(sam_b)
    assert asked.callback_data, f"Sam B's own link was taken by Sam A: {asked.plain_text!r}"

    await forget(rig, sam_a)
    statuses = [i.status for i in await rows(rig, Invite)]
    assert statuses == [InviteStatus.PENDING], "Sam A's /forget erased Sam B's link"
