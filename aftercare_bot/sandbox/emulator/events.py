"""Listening to the emulated world: a queue of :class:`Event` objects per listener."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aftercare_bot.sandbox.emulator.models import Event


class Subscription:
    """A listener's queue of events; iterate it with ``async for`` and ``close()`` it when done."""

    def __init__(self, on_close: Callable[[Subscription], None]) -> None:
        self._on_close: Callable[[Subscription], None] | None = on_close
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def put(self, event: Event | None) -> None:
        self._queue.put_nowait(event)

    async def get(self) -> Event:
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event

    def drain(self) -> list[Event]:
        """Events received so far, without waiting."""
        events = []
        while not self._queue.empty():
            event = self._queue.get_nowait()
            if event is not None:
                events.append(event)
        return events

    def close(self) -> None:
        """End the iteration; later events are not received."""
        if self._on_close is not None:
            self._on_close(self)
            self._on_close = None
            self.put(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        return await self.get()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
