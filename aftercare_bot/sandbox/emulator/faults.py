"""Misbehaviour on demand: injected error answers, slow answers, dropped connections, flood limits."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

from aftercare_bot.sandbox.emulator.models import ApiError, ChatHandle

ANY_METHOD = "*"


def _matches(planned: str, method: str) -> bool:
    return planned == ANY_METHOD or planned.lower() == method.lower()


@dataclass
class _Failure:
    method: str
    error: ApiError
    remaining: int
    chat_id: int | None = None  # only calls to this chat; None: any


class FaultPlan:
    """Faults planned by a test; methods are matched case-insensitively, ``"*"`` matches all."""

    def __init__(self) -> None:
        self.down = False
        self._failures: list[_Failure] = []
        self._delays: dict[str, float] = {}
        self._drops: list[list] = []  # [method, remaining]

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = None,
        count: int = 1,
        description: str | None = None,
        chat_id: int | None = None,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` (to ``chat_id`` only, if given) with an error instead of
        executing them."""
        parameters = None
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            retry_after = 1 if retry_after is None else retry_after
            parameters = {"retry_after": retry_after}
            description = description or f"Too Many Requests: retry after {retry_after}"
        elif description is None:
            description = _default_description(status)
        self._failures.append(_Failure(method, ApiError(status, description, parameters), count, chat_id))

    def raise_injected(self, method: str, chat_id: object = None) -> None:
        for failure in self._failures:
            if _matches(failure.method, method) and failure.chat_id in (None, _as_id(chat_id)):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                raise failure.error

    def set_delay(self, method: str, seconds: float | None) -> None:
        """Wait this long before answering ``method``; 0 or None removes the delay."""
        if seconds:
            self._delays[method.lower()] = seconds
        else:
            self._delays.pop(method.lower(), None)

    def delay_for(self, method: str) -> float:
        return self._delays.get(method.lower(), self._delays.get(ANY_METHOD, 0.0))

    def drop_connections(self, count: int = 1, method: str = ANY_METHOD) -> None:
        """Close the connection without answering for the next ``count`` matching requests."""
        self._drops.append([method, count])

    def take_drop(self, method: str) -> bool:
        if self.down:
            return True
        for drop in self._drops:
            if _matches(drop[0], method):
                drop[1] -= 1
                if drop[1] <= 0:
                    self._drops.remove(drop)
                return True
        return False


def _as_id(chat_id: object) -> int | None:
    try:
        return int(chat_id)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None  # absent, or a @username


def _default_description(status: int) -> str:
    if status == HTTPStatus.FORBIDDEN:
        return "Forbidden: bot was blocked by the user"
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"


class FloodLimiter:
    """Telegram's documented broadcast limits, refused with 429 and ``retry_after`` when exceeded.

    A message sent with ``allow_paid_broadcast`` is counted against 1,000 a second overall instead of 30 (the
    spec: "allow up to 1000 messages per second, ignoring broadcasting limits"); a chat's own limit still holds.
    """

    OVERALL = (30, 1.0)  # messages per second across all chats
    PAID_OVERALL = (1000, 1.0)  # the same, for paid broadcasts
    PRIVATE_CHAT = (1, 1.0)
    GROUP_CHAT = (20, 60.0)

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._overall: deque[float] = deque()
        self._paid: deque[float] = deque()
        self._per_chat: dict[int, deque[float]] = {}

    def check(self, chat: ChatHandle, *, paid: bool = False) -> None:
        """Count one message to ``chat`` or raise ApiError(429) without counting it."""
        now = self._clock()
        overall, overall_limit = (self._paid, self.PAID_OVERALL) if paid else (self._overall, self.OVERALL)
        chat_sent = self._per_chat.setdefault(chat.id, deque())
        chat_limit = self.PRIVATE_CHAT if chat.type == "private" else self.GROUP_CHAT
        wait = max(_wait(overall, overall_limit, now), _wait(chat_sent, chat_limit, now))
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        overall.append(now)
        chat_sent.append(now)


def _wait(sent: deque[float], limit: tuple[int, float], now: float) -> float:
    """Seconds until one more message fits in the sliding window."""
    count, window = limit
    while sent and sent[0] <= now - window:
        sent.popleft()
    return sent[0] + window - now if len(sent) >= count else 0.0
