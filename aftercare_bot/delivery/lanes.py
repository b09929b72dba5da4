"""Independent lanes of delivery work, so that one busy destination holds up only itself.

- client: messages to clients that must not wait (safety replies, the final "call the clinic" notice, check-in
  reminders, staff replies passed on), through the outbox and its timers;
- staff: everything for the staff chats (case cards, re-alerts, digests, notes), which Telegram lets out at 20 a
  minute per group;
- plans: the plan messages (the dispatcher), then the daily retention purge.

Each lane is a task of its own that claims its own work from the database (atomically, so replicas share it). A
kick while a lane runs makes it run once more when done, so nothing kicked is missed and a lane never runs twice
at once. Stopping lets passes finish within the grace period, then cuts what is left short, quietly: the work
stays in the database for the next start or another replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

log = logging.getLogger(__name__)

CLIENT = "client"
STAFF = "staff"
PLANS = "plans"
ORDER = (CLIENT, STAFF, PLANS)  # client-facing first wherever they are run one after another


class Lane:
    def __init__(
        self, name: str, work: Callable[[], Awaitable[object]], after: Callable[[], Awaitable[object]] | None = None
    ) -> None:
        self.name = name
        self._work = work
        self._after = after  # after each pass (plan the next wake-up, say)
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._stopping = False

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def kick(self) -> None:
        """Run a pass soon: now, or once the running one ends."""
        if self._stopping:
            return
        if self.busy:
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"lane-{self.name}")

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                await self._work()
                if self._after is not None and not self._stopping:
                    await self._after()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database may be restarting; the next kick (the safety tick at the latest) tries again.
                log.exception("dispatch pass failed; will retry on the next tick (%s lane)", self.name)
            if not self._again or self._stopping:
                return

    async def stop(self, timeout: float) -> bool:  # noqa: ASYNC109
        """No more passes; wait for the running one up to `timeout` seconds, then cancel it. True if it ended."""
        self._stopping = True
        task = self._task
        if task is None or task.done():
            return True
        done, _ = await asyncio.wait({task}, timeout=max(timeout, 0.0))
        if done:
            return True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        return False


class Lanes:
    def __init__(self, lanes: Iterable[Lane]) -> None:
        self._lanes = {lane.name: lane for lane in lanes}

    def __getitem__(self, name: str) -> Lane:
        return self._lanes[name]

    def kick(self, *names: str) -> None:
        for name in names or tuple(self._lanes):
            self._lanes[name].kick()

    @property
    def busy(self) -> list[str]:
        return [name for name, lane in self._lanes.items() if lane.busy]

    async def stop(self, timeout: float) -> list[str]:  # noqa: ASYNC109
        """Stop every lane within `timeout` seconds together; the names of those cut short."""
        results = await asyncio.gather(*(lane.stop(timeout) for lane in self._lanes.values()))
        return [name for name, ended in zip(self._lanes, results, strict=True) if not ended]
