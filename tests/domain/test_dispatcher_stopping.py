"""A stopping dispatcher (as on SIGTERM) finishes the batch on its way and claims no more; the signals themselves,
sent to a bot process, are in tests/system/test_shutdown.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select

from aftercare_bot.db.models import Delivery
from aftercare_bot.delivery.ports import OutboundMessage
from tests.support.bot_process import schedule_due_messages


async def test_a_stopping_dispatcher_finishes_its_batch_and_claims_no_more(make_settings, rigs, database_url) -> None:
    rig = rigs(make_settings(dispatch_batch_size=2), datetime.now(UTC))
    await schedule_due_messages(database_url, [5001, 5002, 5003, 5004, 5005], "microneedling", ["same_evening"])
    release, both_sending = asyncio.Event(), asyncio.Event()
    in_flight: list[int] = []

    class SlowSender:
        async def send(self, message: OutboundMessage) -> int:
            in_flight.append(message.chat_id)
            if len(in_flight) == 2:
                both_sending.set()
            await release.wait()
            return len(in_flight)

    rig.dispatcher.sender = SlowSender()
    passing = asyncio.create_task(rig.dispatcher.run_due())
    await asyncio.wait_for(both_sending.wait(), 5)
    rig.dispatcher.stop_claiming()  # as on SIGTERM, while the first batch is on its way
    assert await rig.dispatcher.wait_idle(0.05) is False, "a pass is still sending"
    release.set()
    assert await rig.dispatcher.wait_idle(5) is True
    report = await passing
    assert report.sent == 2 and sorted(in_flight) == [5001, 5002]
    async with rig.services.session_factory() as session:
        rows = (await session.scalars(select(Delivery).order_by(Delivery.chat_id))).all()
    assert [(r.chat_id, r.state) for r in rows] == [(5001, "sent"), (5002, "sent")] + [
        (chat, "pending") for chat in (5003, 5004, 5005)
    ], "the rest stays in the queue for another replica"
    assert all(r.attempts == 0 for r in rows[2:])
    assert (await rig.dispatcher.run_due()).sent == 0, "a stopped dispatcher claims nothing"
