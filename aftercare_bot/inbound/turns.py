"""One thing at a time per person: their messages, check-in answers and erasure never overlap in this process,
so that two quick messages cannot open two cases."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Turns:
    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def one_at_a_time(self, telegram_user_id: int) -> AsyncIterator[None]:
        lock = self._locks.get(telegram_user_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[telegram_user_id] = lock
        async with lock:
            yield
