"""Requests per minute per API key: a token bucket in this process (each replica counts its own)."""

from __future__ import annotations

import time
from collections.abc import Callable


class KeyRateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}  # key id: (tokens, when)

    def take(self, key_id: int) -> float:
        """0 when the request may go ahead, else the seconds to wait before the next one will."""
        now = self.clock()
        tokens, then = self._buckets.get(key_id, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - then) * self.rate)
        if tokens >= 1:
            self._buckets[key_id] = (tokens - 1, now)
            return 0.0
        self._buckets[key_id] = (tokens, now)
        return (1 - tokens) / self.rate
