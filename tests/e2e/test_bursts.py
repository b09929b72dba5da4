"""A burst of red flags with Telegram's flood limits on, the staff group's made low: clients are answered at once,
every case reaches staff within the minute (cards, then digests), plan messages falling due meanwhile go out on
time, the final notices reach the clients on time, and Telegram never answers 429."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.seeding import Backlog, seed

BURST = 30
PLAN_CLIENTS = 5
FIRST_WORRIED, FIRST_PLANNED = 7_000_000, 7_100_000
GROUP_LIMIT = (10, 20.0)  # the staff group's limit, made low (Telegram's: 20 a minute)
TIMERS = timedelta(seconds=6)  # re-alert, then the final notice to the client
PLAN_DUE_AFTER = timedelta(seconds=4)
RED_FLAG = "It is bleeding and there is pus, I have a fever"
CARD_OR_DIGEST_LINE = re.compile(r"\(case #(\d+)\)|^\S+ #(\d+) ", re.MULTILINE)


async def until(condition: Callable[[], bool], timeout: float) -> None:  # noqa: ASYNC109
    """Look every 20 ms (the emulator's chats are read, not awaited) until the condition holds or time is up."""
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)


async def test_a_burst_of_red_flags_holds_up_nobody_and_every_case_reaches_staff(
    database_url: str, bot_factory: Any
) -> None:
    # Seeded before the bot starts: SQLite's seeding blocks the event loop the bot would share.
    worried = Backlog(FIRST_WORRIED, BURST, send_at=datetime.now(UTC) + timedelta(days=1))
    await seed(database_url, worried)
    plan_due = datetime.now(UTC) + PLAN_DUE_AFTER
    await seed(database_url, Backlog(FIRST_PLANNED, PLAN_CLIENTS, send_at=plan_due, grace=timedelta(hours=1)))
    bot = await bot_factory(flood_limits=True, escalation_realert_after=TIMERS, escalation_final_after=TIMERS,
                            quiet_hours="off", dispatch_tick="2s")
    telegram, phone = bot.telegram, bot.settings.clinic_phone
    limiter = bot.application.bot.rate_limiter
    limiter._per_group = (GROUP_LIMIT[0], GROUP_LIMIT[1] + 1)  # as the bot's limiter keeps Telegram's, with headroom
    limiter._chats.clear()
    for user_id in [*worried.user_ids, *range(FIRST_PLANNED, FIRST_PLANNED + PLAN_CLIENTS)]:
        telegram.user(user_id, f"Client {user_id}")
    telegram.flood_limits = True
    telegram.api.limiter.GROUP_CHAT = GROUP_LIMIT
    plan_due_at = time.monotonic() + (plan_due - datetime.now(UTC)).total_seconds()
    since_staff = telegram.last_message_id(bot.staff_chat)

    started = time.monotonic()
    written = {user_id: time.monotonic() for user_id in worried.user_ids if telegram.send_text(user_id, RED_FLAG)}
    answered: dict[int, float] = {}
    told_to_call: dict[int, float] = {}
    visible: dict[int, float] = {}
    planned: dict[int, float] = {}

    def look() -> bool:
        now = time.monotonic()
        for user_id in worried.user_ids:
            texts = [message.plain_text or "" for message in telegram.bot_messages(user_id)]
            if any(phone in text for text in texts):
                answered.setdefault(user_id, now)
            if any("nobody from the team has answered yet" in text for text in texts):
                told_to_call.setdefault(user_id, now)
        for message in telegram.bot_messages(bot.staff_chat):
            if message.message_id > since_staff:
                for card, line in CARD_OR_DIGEST_LINE.findall(message.plain_text or ""):
                    visible.setdefault(int(card or line), now)
        for user_id in range(FIRST_PLANNED, FIRST_PLANNED + PLAN_CLIENTS):
            if telegram.bot_messages(user_id):
                planned.setdefault(user_id, now)
        return len(answered) == BURST and len(visible) >= BURST and len(planned) == PLAN_CLIENTS

    await until(look, 30)
    assert len(answered) == BURST, f"{BURST - len(answered)} clients got no safety reply"
    replies = sorted(answered[user_id] - written[user_id] for user_id in answered)
    assert replies[-1] < 2.0, f"slowest safety reply {replies[-1]:.2f} s"
    assert len(visible) >= BURST and max(visible.values()) - started < 60, "every case visible to staff in a minute"
    lateness = [moment - plan_due_at for moment in planned.values()]
    assert len(planned) == PLAN_CLIENTS and max(lateness) < 10, f"plan messages late by {max(lateness):.1f} s"

    # Nobody claims: the re-alerts and the final notices come; the clients hear on time whatever the staff chat.
    await until(lambda: look() and len(told_to_call) == BURST, 2 * TIMERS.total_seconds() + 15)
    assert len(told_to_call) == BURST, f"{BURST - len(told_to_call)} clients were never told to call"
    final_late = max(told_to_call.values()) - started - 2 * TIMERS.total_seconds()
    assert final_late < 5, f"final notices late by {final_late:.1f} s"

    staff_messages = [message for message in telegram.bot_messages(bot.staff_chat) if message.message_id > since_staff]
    assert any("cases need someone" in (message.plain_text or "") for message in staff_messages), "a digest"
    assert len(staff_messages) <= 2 * GROUP_LIMIT[0], "folded, not one post per case and step"
    assert telegram.api.limiter is not None and telegram.stats.flood_limited == 0, "no 429 from Telegram"
