"""The rate limiter keeps Telegram's flood limits by pacing messages, and never delays anything else."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from telegram.error import BadRequest, RetryAfter

from aftercare_bot.bot.telegram.rate_limit import OVERALL_INTERVAL, OVERALL_SLACK, PER_CHAT, TelegramRateLimiter


class Calls:
    """A stand-in for PTB's request: records (event loop time, chat) of every call it lets through."""

    def __init__(self, failures: int = 0) -> None:
        self.made: list[tuple[float, Any]] = []
        self.failures = failures

    async def __call__(self, endpoint: str, data: dict[str, Any]) -> dict[str, Any]:
        self.made.append((asyncio.get_running_loop().time(), data.get("chat_id")))
        if self.failures:
            self.failures -= 1
            raise RetryAfter(1)
        return {"ok": True}


async def send(
    limiter: TelegramRateLimiter, calls: Calls, chat_id: Any, endpoint: str = "sendMessage"
) -> Any:
    data = {"chat_id": chat_id, "text": "hello"}
    return await limiter.process_request(calls, (endpoint, data), {}, endpoint, data, None)


async def test_two_messages_to_one_chat_go_out_a_second_apart_in_order() -> None:
    limiter, calls = TelegramRateLimiter(), Calls()
    await asyncio.gather(send(limiter, calls, 5001), send(limiter, calls, 5002), send(limiter, calls, 5001))
    times = [moment for moment, chat in calls.made if chat == 5001]
    assert len(times) == 2 and times[1] - times[0] >= PER_CHAT[1]
    assert [chat for _, chat in calls.made][:2] == [5001, 5002], "another chat does not wait for 5001"


async def test_messages_to_many_chats_are_evenly_spaced_under_thirty_a_second() -> None:
    limiter, calls = TelegramRateLimiter(), Calls()
    await asyncio.gather(*(send(limiter, calls, 6000 + number) for number in range(35)))
    times = [moment for moment, _ in calls.made]
    spans = [later - earlier for earlier, later in zip(times, times[30:], strict=False)]
    assert min(spans) >= 30 * OVERALL_INTERVAL - OVERALL_SLACK > 1.0, "31 messages within a second"
    assert times[-1] - times[0] < 34 * OVERALL_INTERVAL + 0.5, "paced far slower than needed"


async def test_reads_are_never_paced() -> None:
    limiter, calls = TelegramRateLimiter(), Calls()
    await asyncio.gather(*(send(limiter, calls, -100200300, "getChatMember") for _ in range(40)))
    times = [moment for moment, _ in calls.made]
    assert times[-1] - times[0] < 0.2


async def test_a_429_pauses_sending_and_is_retried_once() -> None:
    limiter, calls = TelegramRateLimiter(max_retries=1), Calls(failures=1)
    assert await send(limiter, calls, 5001) == {"ok": True}
    (refused, _), (retried, _) = calls.made
    assert retried - refused >= 1.0, "retried no sooner than Telegram asked"

    calls = Calls(failures=2)
    with pytest.raises(RetryAfter):
        await send(limiter, calls, 5003)
    assert len(calls.made) == 2


# -- room and admit: asked without waiting, by whoever must not wait behind a busy chat --------------------------

GROUP = -100200300


async def test_a_group_has_room_for_its_minute_less_what_was_sent_and_what_waits() -> None:
    limiter, calls = TelegramRateLimiter(per_group=(5, 60.0)), Calls()
    assert limiter.room(GROUP, within=30) == 5
    assert limiter.room(GROUP, within=2.5) == 3, "one a second in any chat"
    await send(limiter, calls, GROUP)
    assert limiter.room(GROUP, within=30) == 4
    waiting = [asyncio.create_task(send(limiter, calls, GROUP)) for _ in range(2)]
    await asyncio.sleep(0)
    assert limiter.room(GROUP, within=30) == 2, "the two waiting are counted"
    for task in waiting:
        task.cancel()
    assert limiter.room(5001, within=30) == 29, "a private chat has no minute window, only one a second"


async def test_admit_holds_a_place_and_keeps_the_reserve() -> None:
    limiter, calls = TelegramRateLimiter(per_group=(4, 60.0)), Calls()
    assert limiter.admit(GROUP, keep=2)
    assert not limiter.admit(GROUP, keep=2), "the place is held for the message about to go"
    await send(limiter, calls, GROUP)  # takes the held place
    await asyncio.sleep(PER_CHAT[1])
    assert limiter.admit(GROUP, keep=2)
    limiter.release(GROUP)  # not used after all
    await send(limiter, calls, GROUP)
    await asyncio.sleep(PER_CHAT[1])
    assert limiter.room(GROUP, within=30) == 2
    assert not limiter.admit(GROUP, keep=2), "the last two of the minute are kept"
    assert limiter.admit(GROUP), "for whoever may use them"


# -- paid broadcasts: past the overall window, never past a chat's ------------------------------------------------


async def paid(limiter: TelegramRateLimiter, calls: Calls, chat_id: int) -> Any:
    data = {"chat_id": chat_id, "text": "call the clinic", "allow_paid_broadcast": True}
    return await limiter.process_request(calls, ("sendMessage", data), {}, "sendMessage", data, None)


async def test_a_paid_broadcast_skips_the_queue_for_the_overall_window() -> None:
    limiter, calls = TelegramRateLimiter(), Calls()
    free = [asyncio.create_task(send(limiter, calls, 7000 + number)) for number in range(60)]
    await asyncio.sleep(0)
    assert limiter.overall_wait() > 1.5, "sixty messages take two seconds at thirty a second"
    await asyncio.gather(*(paid(limiter, calls, 8000 + number) for number in range(10)))
    sent = [chat for _, chat in calls.made]
    assert set(sent[-10:]) == set(range(8000, 8010)), "the paid ones all went out"
    assert sum(1 for chat in sent if chat < 8000) < 30, "while most of the free ones still waited"
    await asyncio.gather(*free)
    assert limiter.overall_wait() <= OVERALL_INTERVAL, "nothing waits any more"


async def test_a_paid_broadcast_keeps_its_chats_window() -> None:
    limiter, calls = TelegramRateLimiter(), Calls()
    await asyncio.gather(paid(limiter, calls, 5001), paid(limiter, calls, 5001))
    (first, _), (second, _) = calls.made
    assert second - first >= PER_CHAT[1], "one a second in a chat, paid or not"


async def test_a_refused_paid_broadcast_does_not_hold_up_its_chat() -> None:
    limiter, calls = TelegramRateLimiter(), Calls()

    async def refuse(endpoint: str, data: dict[str, Any]) -> dict[str, Any]:
        raise BadRequest("Balance_too_low")

    with pytest.raises(BadRequest):
        await paid(limiter, refuse, 5001)  # type: ignore[arg-type]
    started = asyncio.get_running_loop().time()
    await send(limiter, calls, 5001)
    assert calls.made[0][0] - started < PER_CHAT[1] / 2, "the unpaid try goes at once"
