"""Several replicas on one PostgreSQL database deliver every scheduled message exactly once.

Three `aftercare-bot run --webhook` processes behind one address share 10,000 due messages for 2,000
clients. Replicas claim due rows with `FOR UPDATE SKIP LOCKED`, so they split the work without ever
taking the same row. SQLite is for one process only (README), so on SQLite the same test runs a single
process with 2,000 messages: the single-process guarantee end to end, rather than a skipped test.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from pathlib import Path

from sqlalchemy import func, select

from aftercare_bot.config import SHIPPED_MESSAGES_DIR
from aftercare_bot.db.models import Delivery, DeliveryState
from aftercare_bot.db.session import create_engine
from aftercare_bot.sandbox.emulator.server import BotApiEmulator
from tests.conftest import TOKEN
from tests.support.bot_process import (
    RoundRobin,
    free_port,
    schedule_due_messages,
    webhook_replicas,
)

STEPS = [f"step{n}" for n in range(1, 6)]  # 5 messages per client
FIRST_USER_ID = 100_000
# Typically 20-40 s on two cores; the limit only catches a replica that stopped working.
TIME_LIMIT = 180.0
# Every plan needs a warning-sign step, with the clinic's phone and urgent-care advice: here the last one.
WARNING_SIGNS = "Bleeding? Call {clinic_phone}. Difficulty breathing? Call emergency services."
BULK_PLAN = "treatment: bulk\ntitle:\n  en: Bulk test\nsteps:\n" + "".join(
    f"  - key: {key}\n    due: {n}m\n    grace: 1d\n    text:\n      en: \"{key} for {{client_name}}\"\n"
    for n, key in enumerate(STEPS[:-1], start=1)
) + (
    f"  - key: {STEPS[-1]}\n    due: {len(STEPS)}m\n    grace: 1d\n    warning_signs: true\n"
    f"    text:\n      en: \"{STEPS[-1]} for {{client_name}}. {WARNING_SIGNS}\"\n"
)
SENT_TEXT = re.compile(r"^(step\d) for Client (\d+)(?:$|\. Bleeding\? Call )")


async def wait_until_settled(database_url: str, timeout: float) -> float:  # noqa: ASYNC109
    """Seconds until no row is PENDING or SENDING any more; fails with the counts so far."""
    engine = create_engine(database_url)
    started = time.monotonic()
    counts: dict[str, int] = {}
    try:
        while time.monotonic() - started < timeout:
            async with engine.connect() as connection:
                rows = await connection.execute(select(Delivery.state, func.count()).group_by(Delivery.state))
                counts = {state: count for state, count in rows.all()}
            if not {DeliveryState.PENDING, DeliveryState.SENDING} & set(counts):
                return time.monotonic() - started
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()
    raise AssertionError(f"messages still unsent after {timeout}s: {counts}")


async def test_replicas_deliver_every_message_exactly_once(database_url: str, tmp_path: Path) -> None:
    replicas, clients = (3, 2000) if database_url.startswith("postgresql") else (1, 400)
    messages_dir = tmp_path / "messages"
    shutil.copytree(SHIPPED_MESSAGES_DIR, messages_dir)
    (messages_dir / "plans" / "bulk.yaml").write_text(BULK_PLAN)
    user_ids = list(range(FIRST_USER_ID, FIRST_USER_ID + clients))

    async with BotApiEmulator(token=TOKEN, bot_username="glow_aftercare_bot") as telegram:
        for user_id in user_ids:
            telegram.user(user_id, f"C{user_id}")
        ports = [free_port() for _ in range(replicas)]
        balancer = RoundRobin(ports)
        await balancer.start()
        bots = webhook_replicas(tmp_path, balancer, telegram_api_base_url=telegram.base_url,
                                database_url=database_url, messages_dir=messages_dir, dispatch_batch_size=100,
                                flood_limits="false")
        try:
            for bot in bots:
                await bot.start()
            for bot, port in zip(bots, ports, strict=True):
                await bot.wait_healthy(port)
            # Every replica is up before the work appears, so they all compete for it from the first tick.
            started = time.monotonic()
            expected = await schedule_due_messages(database_url, user_ids, "bulk", STEPS)
            inserted = time.monotonic() - started
            took = await wait_until_settled(database_url, TIME_LIMIT)

            # Updates through the one public address reach the replicas in turn; each is answered once.
            asking = [telegram.user(7000 + n, f"Asker{n}") for n in range(2 * replicas)]
            for user in asking:
                telegram.send_command(user, "help")
            for user in asking:
                await telegram.wait_for_message(user, since=0, timeout=10)
            exit_codes = [await bot.stop() for bot in bots]
        finally:
            for bot in bots:
                await bot.kill()
            await balancer.stop()

        assert exit_codes == [0] * replicas, [bot.log for bot in bots]
        print(f"\n{replicas} replica(s): {expected} messages inserted in {inserted:.1f}s, all sent in {took:.1f}s")
        assert expected == clients * len(STEPS) == (10_000 if replicas == 3 else 2_000)

        # Telegram's side: each delivery arrived once, in its own chat, and nothing else was sent.
        received: dict[tuple[int, str], int] = {}
        for user_id in user_ids:
            for message in telegram.bot_messages(user_id):
                match = SENT_TEXT.match(message.plain_text or "")
                assert match and int(match.group(2)) == user_id, message.plain_text
                key = (user_id, match.group(1))
                assert key not in received, f"{key} was sent twice"
                received[key] = message.message_id
        assert len(received) == expected
        assert len(telegram.calls_to("sendMessage")) == expected + len(asking)
        assert all(len(telegram.bot_messages(user)) == 1 for user in asking)
        assert sorted(set(balancer.served)) == sorted(ports), "each replica took some of the updates"
        assert telegram.spec_violations == []

        # The database's side: every row SENT, with the message id Telegram gave, by one of the replicas.
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                rows = (await connection.execute(select(Delivery))).all()
        finally:
            await engine.dispose()
        assert len(rows) == expected and {row.state for row in rows} == {DeliveryState.SENT}
        assert all(row.attempts == 1 for row in rows), "no row was claimed twice"
        assert all(received[(row.chat_id, row.step_key)] == row.telegram_message_id for row in rows)
        senders = {row.claimed_by for row in rows}
        assert len(senders) == replicas, f"every replica sent its share: {senders}"
