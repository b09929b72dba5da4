"""The bot process killed (kill -9) mid-dispatch and started again: nothing is lost, and only a message that was
in flight at the kill may go out twice. The other faults are in tests/e2e/test_faults.py."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

from sqlalchemy import select

from aftercare_bot.db.models import Delivery, DeliveryState
from aftercare_bot.db.session import create_engine
from aftercare_bot.sandbox.emulator.server import BotApiEmulator
from tests.conftest import TOKEN
from tests.support.bot_process import BotProcess, bot_environment, schedule_due_messages

EVENING = "thank you for visiting"  # the same-evening message of the micro-needling plan


def count(telegram: BotApiEmulator, chat: object, needle: str) -> int:
    return sum(needle in (message.plain_text or "") for message in telegram.bot_messages(chat))


async def sending_rows(database_url: str) -> list[int]:
    """Chats whose message is claimed by a sender (state 'sending')."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(Delivery.chat_id).where(Delivery.state == DeliveryState.SENDING))
            return sorted(rows.scalars().all())
    finally:
        await engine.dispose()


async def next_message_to(events, chats: set[int]) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(20):
        async for seen in events:
            if seen.kind == "message_sent" and seen.data["chat_id"] in chats:
                return


async def test_kill_9_mid_dispatch_and_restart_loses_nothing(database_url: str, tmp_path: Path) -> None:
    users = list(range(5001, 5006))
    async with BotApiEmulator(token=TOKEN, bot_username="glow_aftercare_bot") as telegram:
        for user in users:
            telegram.user(user, f"C{user}")
        await schedule_due_messages(database_url, users, "microneedling", ["same_evening"])
        # Slow sends, a batch of one: one message is always on its way, and the next one is claimed meanwhile.
        telegram.set_delay("sendMessage", 0.3)
        settings = {
            "telegram_api_base_url": telegram.base_url, "database_url": database_url, "dispatch_tick": "1s",
            "dispatch_batch_size": 1, "send_lease": "2s",
        }  # fmt: skip
        env = bot_environment(**settings)
        first, second = BotProcess(tmp_path, "first", env), BotProcess(tmp_path, "second", env)
        try:
            with telegram.subscribe() as events:
                await first.start()
                await next_message_to(events, set(users))
                # The worst moment: Telegram has the message, the bot has not recorded it yet.
                assert await first.stop(signal.SIGKILL) == -signal.SIGKILL
            in_flight = await sending_rows(database_url)
            assert len(in_flight) <= 2, "the batch being sent and the next one at most"

            telegram.set_delay("sendMessage", None)
            await second.start()
            assert await telegram.wait_until(lambda: all(count(telegram, user, EVENING) for user in users), 30)
            await asyncio.sleep(1.2)  # a tick more: anything sent twice would show now
            received = {user: count(telegram, user, EVENING) for user in users}
            assert all(received.values()), f"a message was lost: {received}"
            twice = [user for user, copies in received.items() if copies > 1]
            assert set(twice) <= set(in_flight), f"only the message in flight at the kill may repeat: {received}"
            assert max(received.values()) <= 2
            assert await sending_rows(database_url) == []
            requeued = re.findall(r"re-queued (\d+) message\(s\) left in flight by a stopped sender", second.log)
            assert sum(int(count) for count in requeued) == len(in_flight)
            assert second.process is not None and second.process.returncode is None, "no crash loop"
            assert await second.stop() == 0
        finally:
            await first.kill()
            await second.kill()
