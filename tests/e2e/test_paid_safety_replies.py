"""SAFETY_PAID_BROADCAST with Telegram's flood limits on: in a burst of red flags larger than the 30 messages a second
Telegram lets out, the safety replies that would wait for that overall limit are sent as paid broadcasts (and only
they, and only with the setting on); a refused paid message goes again at once unpaid, with one warning."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from aftercare_bot.bot.telegram.paid_broadcast import BUSY_AFTER
from aftercare_bot.sandbox.emulator.bot_api import BALANCE_TOO_LOW
from benchmarks.seeding import Backlog, seed
from tests.e2e.test_bursts import until

BURST = 60  # two seconds of Telegram's overall limit, arriving at once
FIRST_WORRIED = 7_200_000
RED_FLAG = "It is bleeding and there is pus, I have a fever"
PAID_LOG = "aftercare_bot.bot.telegram.paid_broadcast"


async def started(
    database_url: str, bot_factory: Any, count: int = BURST, **settings: Any
) -> tuple[Any, list[int]]:
    """The bot with Telegram's limits on, and `count` worried clients (not yet written)."""
    worried = Backlog(FIRST_WORRIED, count, send_at=datetime.now(UTC) + timedelta(days=1))
    await seed(database_url, worried)  # before the bot starts, whose event loop it would block
    bot = await bot_factory(flood_limits=True, quiet_hours="off", **settings)
    for user_id in worried.user_ids:
        bot.telegram.user(user_id, f"Client {user_id}")
    bot.telegram.flood_limits = True
    return bot, list(worried.user_ids)


async def red_flags_at_once(bot: Any, worried: list[int]) -> float:
    """Every worried client writes at once; returns once each has the safety reply, with the longest wait for the
    overall limit seen meanwhile (in seconds)."""
    for user_id in worried:
        bot.telegram.send_text(user_id, RED_FLAG)
    phone, limiter = bot.settings.clinic_phone, bot.application.bot.rate_limiter
    longest = 0.0

    def answered() -> bool:
        nonlocal longest
        longest = max(longest, limiter.overall_wait())
        return all(_safety_replies(bot, user_id, phone) for user_id in worried)

    await until(answered, 30)
    return longest


def _safety_replies(bot: Any, user_id: int, phone: str) -> list[str]:
    return [text for message in bot.telegram.bot_messages(user_id) if phone in (text := message.plain_text or "")]


def paid_calls(bot: Any) -> list[dict[str, Any]]:
    return [params for _method, params in bot.telegram.calls if params.get("allow_paid_broadcast") is True]


def each_answered_once(bot: Any, worried: list[int]) -> bool:
    return all(len(_safety_replies(bot, user_id, bot.settings.clinic_phone)) == 1 for user_id in worried)


@pytest.mark.parametrize("paid", [False, True], ids=["setting off", "setting on"])
async def test_safety_replies_skip_a_saturated_overall_limit_only_with_the_setting_on(
    database_url: str, bot_factory: Any, paid: bool
) -> None:
    bot, worried = await started(database_url, bot_factory, safety_paid_broadcast=paid)
    longest_wait = await red_flags_at_once(bot, worried)
    telegram = bot.telegram
    assert each_answered_once(bot, worried), "every client has the safety reply, once"
    assert telegram.stats.flood_limited == 0, "no 429: the chats' limits and the overall one kept"
    calls = paid_calls(bot)
    if not paid:
        assert longest_wait > BUSY_AFTER, "the overall limit was saturated"
        assert calls == [] and telegram.stats.paid_broadcasts == 0
        return
    assert telegram.stats.paid_broadcasts == len(calls) > 0
    assert len(calls) < BURST, "the first replies went free: only a saturated limit is paid to skip"
    assert {params["chat_id"] for params in calls} <= set(worried), "only to the clients who wrote"
    assert all(bot.settings.clinic_phone in params["text"] for params in calls), "only the safety replies"


async def test_a_refused_paid_reply_goes_again_at_once_unpaid_with_one_warning(
    database_url: str, bot_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=PAID_LOG)
    bot, worried = await started(database_url, bot_factory, 2 * BURST, safety_paid_broadcast=True)
    telegram = bot.telegram
    telegram.star_balance = Decimal(0)  # every paid message is refused with 400 BALANCE_TOO_LOW
    first, second = worried[:BURST], worried[BURST:]
    await red_flags_at_once(bot, first)
    assert each_answered_once(bot, first), "nothing lost: every client has the safety reply, once"
    tried = len(paid_calls(bot))
    refused = [error for error in telegram.errors if error[2] == BALANCE_TOO_LOW]
    assert tried > 0 and len(refused) == tried, "paid tries were made, and refused"
    assert telegram.stats.paid_broadcasts == 0
    warnings = [record for record in caplog.records if record.name == PAID_LOG]
    assert len(warnings) == 1 and "refused a paid broadcast" in warnings[0].getMessage()

    longest_wait = await red_flags_at_once(bot, second)  # as large a burst again, soon after
    assert longest_wait > BUSY_AFTER, "the overall limit was saturated again"
    assert each_answered_once(bot, second)
    assert len(paid_calls(bot)) == tried, "after a refusal, nothing is paid for a while"
    assert len([record for record in caplog.records if record.name == PAID_LOG]) == 1
