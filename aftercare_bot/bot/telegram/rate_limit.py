"""Keeps outgoing messages inside Telegram's flood limits, so they are paced instead of refused with 429.

Telegram counts messages in sliding windows: about 30 per second overall, one per second in a chat and
20 per minute in a group. PTB's AIORateLimiter uses token buckets, which let a full second's worth out at
once on top of the steady rate, and it does not pace private chats, so a backlog drain or two messages due
together for one client earn 429 answers. This limiter keeps each window with some headroom for network
jitter, sends one message at a time per chat (in order), and counts only calls that post or edit messages:
reads such as getChatMember are not messages and are never delayed.

A message sent with allow_paid_broadcast (bot/telegram/paid_broadcast.py) is not counted in the overall 30 a
second: Telegram lets paid messages out at up to 1,000 a second. It keeps its chat's windows like any other, unless
Telegram refuses it, so that the same message sent again unpaid does not wait for its own refused try.

It also answers, without waiting, how much a chat can take (delivery.ports.Pacing): whoever must not wait behind
a busy chat (a client's handler posting a case card to the staff group, say) asks first and leaves the message
to that chat's own lane when the answer is no.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

# Evenly spaced rather than 30 at once: with a burst, one request arriving a little late makes 31 in a
# second. Thirty in a row span at least 30/29 s less the slack, so 30 ms of network jitter is harmless.
OVERALL_INTERVAL = 1 / 29
OVERALL_SLACK = 0.005
PAID_INTERVAL = 1 / 950  # paid broadcasts: up to 1,000 a second, kept with the same headroom
PER_CHAT = (1, 1.05)
PER_GROUP = (20, 61.0)
_COUNTED_PREFIXES = ("send", "copy", "forward", "edit")
_PRUNE_FROM = 1024  # chats remembered before idle ones are forgotten
HOLD_SECONDS = 3.0  # a place held by admit() for a message about to be sent, given back after this at the latest
_MOST_ROOM = 200  # room() counts no further


class SlidingWindow:
    """At most `limit` events in any `period` seconds."""

    __slots__ = ("_recent", "period")

    def __init__(self, limit: int, period: float) -> None:
        self.period = period
        self._recent: deque[float] = deque(maxlen=limit)

    def delay(self, now: float) -> float:
        """Seconds until one more event fits."""
        if len(self._recent) < (self._recent.maxlen or 0):
            return 0.0
        return max(0.0, self._recent[0] + self.period - now)

    def record(self, now: float) -> None:
        self._recent.append(now)

    def forget_last(self) -> None:
        if self._recent:
            self._recent.pop()

    def idle(self, now: float) -> bool:
        return not self._recent or self._recent[-1] + self.period <= now


class EvenPacer:
    """One event every `interval` seconds on a fixed grid. An event up to `slack` late (the event loop was
    busy) does not push the later ones back, so the rate holds; after a longer pause the grid restarts."""

    __slots__ = ("_next", "interval", "slack")

    def __init__(self, interval: float, slack: float) -> None:
        self.interval = interval
        self.slack = slack
        self._next = float("-inf")

    def delay(self, now: float) -> float:
        return max(0.0, self._next - now)

    def record(self, now: float) -> None:
        self._next = max(self._next, now - self.slack) + self.interval


class _ChatGate:
    __slots__ = ("held", "lock", "users", "windows")

    def __init__(self, windows: tuple[SlidingWindow, ...]) -> None:
        self.windows = windows
        self.lock = asyncio.Lock()
        self.users = 0  # requests holding or waiting for the lock
        self.held: deque[float] = deque()  # until when each place held by admit() is kept

    def holding(self, now: float) -> int:
        while self.held and self.held[0] <= now:
            self.held.popleft()
        return len(self.held)

    def left(self, now: float) -> int:
        """Messages still allowed in the longest window (a group's minute) as it stands now."""
        window = max(self.windows, key=lambda window: window.period)
        used = sum(1 for moment in window._recent if moment + window.period > now)
        return (window._recent.maxlen or 0) - used

    def fits(self, now: float, within: float) -> int:
        """How many messages the windows let out between now and `within` seconds later, nobody else sending."""
        recent = [list(window._recent) for window in self.windows]
        limits = [(window._recent.maxlen or 0, window.period) for window in self.windows]
        moment, count, end = now, 0, now + within
        while count < _MOST_ROOM:
            for sent, (limit, period) in zip(recent, limits, strict=True):
                if len(sent) >= limit:
                    moment = max(moment, sent[-limit] + period)
            if moment > now and moment >= end:
                break
            for sent in recent:
                sent.append(moment)
            count += 1
        return count


class TelegramRateLimiter(BaseRateLimiter[int]):
    """A PTB rate limiter; ``rate_limit_args`` may override ``max_retries`` for one call."""

    def __init__(self, max_retries: int = 1, per_group: tuple[int, float] = PER_GROUP) -> None:
        self._max_retries = max_retries
        self._per_group = per_group
        self._overall = EvenPacer(OVERALL_INTERVAL, OVERALL_SLACK)
        self._overall_turn = asyncio.Lock()  # first come, first served
        self._overall_waiting = 0  # messages waiting for the overall turn
        self._paid = EvenPacer(PAID_INTERVAL, OVERALL_SLACK)
        self._paid_turn = asyncio.Lock()
        self._chats: dict[int | str, _ChatGate] = {}
        self._prune_at = _PRUNE_FROM
        self._paused_until = 0.0  # after a 429, nothing is sent before this (event loop time)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = data.get("chat_id")
        if chat_id is None or not _is_message(endpoint):
            return await callback(*args, **kwargs)
        retries = self._max_retries if rate_limit_args is None else rate_limit_args
        paid = data.get("allow_paid_broadcast") is True
        gate = self._gate(_chat_key(chat_id))
        gate.users += 1
        if gate.held:
            gate.held.popleft()  # the place admit() held for this message
        try:
            for attempt in range(retries + 1):
                try:
                    async with gate.lock:
                        await self._wait_turn(gate, paid)
                        try:
                            return await callback(*args, **kwargs)
                        except BadRequest:
                            if paid:  # refused, not sent (the Stars balance is too low, say): the unpaid try is next
                                for window in gate.windows:
                                    window.forget_last()
                            raise
                except RetryAfter as exc:
                    if attempt == retries:
                        raise
                    seconds = _seconds(exc.retry_after) + 0.1
                    log.warning("Rate limit hit. Retrying after %.1f s (%s to chat %s)",
                                seconds, endpoint, chat_id)
                    loop = asyncio.get_running_loop()
                    self._paused_until = max(self._paused_until, loop.time() + seconds)
        finally:
            gate.users -= 1
        raise AssertionError("unreachable: the last attempt returns or raises")

    def overall_wait(self) -> float:
        """Seconds a message sent now would wait for the overall window, behind those already waiting for it."""
        now = asyncio.get_running_loop().time()
        return self._overall.delay(now) + self._overall_waiting * self._overall.interval

    # -- delivery.ports.Pacing: never waits ---------------------------------------------------------------------

    def room(self, chat_id: int, within: float) -> int:
        gate = self._gate(_chat_key(chat_id))
        now = asyncio.get_running_loop().time()
        fits = gate.fits(max(now, self._paused_until), max(0.0, now + within - max(now, self._paused_until)))
        return max(0, fits - gate.users - gate.holding(now))

    def admit(self, chat_id: int, keep: int = 0) -> bool:
        gate = self._gate(_chat_key(chat_id))
        now = asyncio.get_running_loop().time()
        if gate.users or gate.holding(now) or self._paused_until > now:
            return False
        if any(window.delay(now) > 0 for window in gate.windows):
            return False
        if keep and gate.left(now) <= keep:
            return False
        gate.held.append(now + HOLD_SECONDS)
        return True

    def release(self, chat_id: int) -> None:
        gate = self._chats.get(_chat_key(chat_id))
        if gate is not None and gate.held:
            gate.held.popleft()

    # -- pacing ---------------------------------------------------------------------------------------------

    async def _wait_turn(self, gate: _ChatGate, paid: bool) -> None:
        """Wait for the chat's windows, then for the overall one (the paid one for a paid broadcast); count the
        message in all of them."""
        # The chat's lock is held, so nobody else can fill its windows meanwhile.
        await self._sleep_while(lambda now: max(window.delay(now) for window in gate.windows))
        if paid:
            async with self._paid_turn:
                await self._count(self._paid, gate)
            return
        self._overall_waiting += 1
        try:
            async with self._overall_turn:
                await self._count(self._overall, gate)
        finally:
            self._overall_waiting -= 1

    async def _count(self, overall: EvenPacer, gate: _ChatGate) -> None:
        await self._sleep_while(overall.delay)
        now = asyncio.get_running_loop().time()
        overall.record(now)
        for window in gate.windows:
            window.record(now)

    async def _sleep_while(self, delay: Callable[[float], float]) -> None:
        """Sleep until `delay(now)` is zero and no pause after a 429 is running."""
        loop = asyncio.get_running_loop()
        while True:
            wait = max(delay(loop.time()), self._paused_until - loop.time())
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    def _gate(self, key: int | str) -> _ChatGate:
        gate = self._chats.get(key)
        if gate is None:
            if len(self._chats) >= self._prune_at:
                self._forget_idle()
            group = isinstance(key, str) or key < 0
            windows = [SlidingWindow(*PER_CHAT)]
            if group:
                windows.append(SlidingWindow(*self._per_group))
            gate = self._chats[key] = _ChatGate(tuple(windows))
        return gate

    def _forget_idle(self) -> None:
        now = asyncio.get_running_loop().time()
        self._chats = {
            key: gate for key, gate in self._chats.items()
            if gate.users or gate.holding(now) or not all(window.idle(now) for window in gate.windows)
        }
        self._prune_at = max(_PRUNE_FROM, 2 * len(self._chats))


def _is_message(endpoint: str) -> bool:
    return endpoint.startswith(_COUNTED_PREFIXES) and endpoint != "sendChatAction"


def _chat_key(chat_id: object) -> int | str:
    try:
        return int(chat_id)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return str(chat_id)  # "@channelname"


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
