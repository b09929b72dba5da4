"""An admin's text edit started on one replica is finished on another: two `aftercare-bot run --webhook` processes
on one PostgreSQL database behind one address that hands each update to the next replica in turn.

The edit in progress lives in the database (admin_edits), not in a process's memory, so whichever replica takes
the typed text knows what it answers. SQLite is for one process only (README), so on SQLite the same flow runs
through a single process: the flow end to end over a real webhook, rather than a skipped test.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import select

from aftercare_bot.db.models import Delivery, DeliveryState, PlanRevision
from aftercare_bot.db.session import create_engine
from aftercare_bot.sandbox.emulator.server import BotApiEmulator
from tests.conftest import TOKEN
from tests.support.admin_helpers import edit_text, open_step, press, say
from tests.support.bot_process import (
    RoundRobin,
    free_port,
    schedule_due_messages,
    webhook_replicas,
)

ADMIN_ID = 900001
CLIENT_ID = 7001
NEW_TEXT = "Sun cream every morning, <b>{first_name}</b>."


async def stored_plan(database_url: str) -> tuple[list[PlanRevision], Delivery | None]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            revisions = (await connection.execute(select(PlanRevision))).all()
            delivery = (await connection.execute(select(Delivery))).first()
    finally:
        await engine.dispose()
    return list(revisions), delivery


async def test_an_edit_started_on_one_process_is_finished_on_another(database_url: str, tmp_path: Path) -> None:
    replicas = 2 if database_url.startswith("postgresql") else 1
    started = time.monotonic()
    async with BotApiEmulator(token=TOKEN, bot_username="glow_aftercare_bot") as telegram:
        admin = telegram.user(ADMIN_ID, "Alex")
        client = telegram.user(CLIENT_ID, f"C{CLIENT_ID}")  # as schedule_due_messages names it
        ports = [free_port() for _ in range(replicas)]
        balancer = RoundRobin(ports)
        await balancer.start()
        bots = webhook_replicas(tmp_path, balancer, telegram_api_base_url=telegram.base_url,
                                database_url=database_url, admin_ids=ADMIN_ID)
        try:
            for bot in bots:
                await bot.start()
            for bot, port in zip(bots, ports, strict=True):
                await bot.wait_healthy(port)

            # The admin helpers only need `.telegram`; every action waits for its answer before the next one.
            world = SimpleNamespace(telegram=telegram)
            card = await open_step(world, admin, "Micro-needling", "day2_sun")
            await edit_text(world, admin, card)
            typed_after = telegram.last_message_id(admin)
            offer = await say(world, admin, NEW_TEXT, "Save")
            assert "Sun cream every morning, Anna." in (offer.plain_text or "")
            answers = [m for m in telegram.bot_messages(admin) if m.message_id > typed_after]
            assert answers == [offer], "the typed text got the Save offer only, no stranger greeting"
            saved = await press(world, admin, offer, "Save", "Saved as")
            assert "version 1" in (saved.plain_text or "")

            # A plan message composed afterwards, by whichever replica claims it, uses the saved text.
            await schedule_due_messages(database_url, [CLIENT_ID], "microneedling", ["day2_sun"])
            sent = await telegram.wait_for_message(client, since=0, timeout=15)
            exit_codes = [await bot.stop() for bot in bots]
        finally:
            for bot in bots:
                await bot.kill()
            await balancer.stop()

        assert exit_codes == [0] * replicas, [bot.log for bot in bots]
        assert sent.plain_text == f"Sun cream every morning, C{CLIENT_ID}."
        assert f"<b>C{CLIENT_ID}</b>" in sent.text
        assert telegram.spec_violations == []

    # Updates in order: /templates, plan, step, "Edit text", the typed text, Save. With two replicas in turn,
    # the button that starts the edit, the typed text and Save each reached a different process than the last.
    served = balancer.served
    assert len(served) == 6, served
    if replicas == 2:
        assert served[3] != served[4] != served[5], served

    revisions, delivery = await stored_plan(database_url)
    [revision] = revisions
    assert (revision.treatment, revision.revision, revision.created_by) == ("microneedling", 1, ADMIN_ID)
    [step] = [step for step in revision.document["steps"] if step["key"] == "day2_sun"]
    assert step["text"]["en"] == NEW_TEXT
    assert delivery is not None and delivery.state == DeliveryState.SENT and delivery.plan_revision == 1
    print(f"\n{replicas} process(es): edit across processes checked in {time.monotonic() - started:.1f}s")
