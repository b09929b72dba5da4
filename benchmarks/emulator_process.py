"""The Bot API emulator in a process of its own, as Telegram would be, with a small control API.

Started by :class:`benchmarks.common.EmulatorProcess`; prints one JSON line with its two addresses
(the Bot API for the bot, the control API for the benchmark) and serves until stdin closes.
Everything it measures uses the emulator's own clock, so the bot's process cannot skew it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import re
import resource
import sys
import time
from collections import Counter, deque
from typing import Any

from aiohttp import web

from aftercare_bot.sandbox.emulator.models import Event
from aftercare_bot.sandbox.emulator.server import BotApiEmulator
from benchmarks.common import LoopWatch

CARD_CLIENT = re.compile(r"Client (\d+)")
# A case shown to staff: on its card ("(case #12)") or as a line of a digest ("🚨 #12 Client · urgent · ...").
CASE_SHOWN = re.compile(r"\(case #(\d+)\)|^\S+ #(\d+) ", re.MULTILINE)


class BurstWatch:
    """What a burst of red flags brought: each writer's first answer, each case's first showing to staff, each
    plan client's first message (all by the emulator's clock)."""

    def __init__(self, writers: list[int], planned: list[int], cases: int) -> None:
        self.writers, self.planned, self.cases = set(writers), set(planned), cases
        self.answered: dict[int, float] = {}
        self.shown: dict[int, float] = {}
        self.plan_sent: dict[int, float] = {}
        self.done = asyncio.Event()

    def observe(self, chat_id: int, text: str, moment: float, staff_chat: int | None) -> None:
        if chat_id in self.writers:
            self.answered.setdefault(chat_id, moment)
        elif chat_id in self.planned:
            self.plan_sent.setdefault(chat_id, moment)
        elif chat_id == staff_chat:
            for card, line in CASE_SHOWN.findall(text):
                self.shown.setdefault(int(card or line), moment)
        if (len(self.answered) == len(self.writers) and len(self.shown) >= self.cases
                and len(self.plan_sent) == len(self.planned)):
            self.done.set()
NEVER = 2**31 - 1


class SendLog:
    """Times of the messages the bot sent, to check them against Telegram's limits afterwards."""

    def __init__(self) -> None:
        self.sends: list[tuple[float, int]] = []  # (time, chat id)

    def clear(self) -> None:
        self.sends = []

    def summary(self) -> dict[str, Any]:
        if not self.sends:
            return {"count": 0}
        times = [moment for moment, _ in self.sends]
        span = times[-1] - times[0]
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        pauses = [gap for gap in gaps if gap > 0.1]
        per_chat: dict[int, list[float]] = {}
        for moment, chat_id in self.sends:
            per_chat.setdefault(chat_id, []).append(moment)
        private = [moments for chat_id, moments in per_chat.items() if chat_id > 0]
        groups = [moments for chat_id, moments in per_chat.items() if chat_id < 0]
        return {
            "count": len(times),
            "first": times[0],
            "last": times[-1],
            "rate": (len(times) - 1) / span if span > 0 else None,
            "max_in_1s": _max_in_window(times, 1.0),
            # How close the flow came to the limit: the shortest time 30 messages in a row took.
            "shortest_span_of_30": min((b - a for a, b in zip(times, times[29:], strict=False)), default=0.0),
            # Pauses in the flow of messages: where a drain loses time.
            "gaps_over_100ms": len(pauses),
            "seconds_in_gaps_over_100ms": sum(pauses),
            "longest_gap": max(gaps, default=0.0),
            "pauses_at": [(index + 1, round(gap, 3)) for index, gap in enumerate(gaps) if gap > 0.1][:10],
            "max_per_private_chat_in_1s": max((_max_in_window(m, 1.0) for m in private), default=0),
            "max_per_group_in_60s": max((_max_in_window(m, 60.0) for m in groups), default=0),
        }


def _max_in_window(times: list[float], window: float) -> int:
    """The most events inside any half-open window of this length (as the emulator's flood limiter counts)."""
    best, inside = 0, deque[float]()
    for moment in times:
        inside.append(moment)
        while inside[0] <= moment - window:
            inside.popleft()
        best = max(best, len(inside))
    return best


class Controller:
    def __init__(self, emulator: BotApiEmulator) -> None:
        self.emulator = emulator
        self.sends = SendLog()
        self.queued_at: dict[int, float] = {}  # user id -> time its red-flag message was queued
        self.card_at: dict[int, float] = {}  # user id -> time the staff card naming it was posted
        self.staff_chat: int | None = None
        self.cards_expected = 0
        self.all_cards_in = asyncio.Event()
        self.burst_watch: BurstWatch | None = None
        self._subscription = emulator.subscribe()
        self._listener = asyncio.create_task(self._listen())
        self.watch = LoopWatch()
        self.watch.start()

    async def _listen(self) -> None:
        with contextlib.suppress(StopAsyncIteration):
            async for event in self._subscription:
                self._observe(event)

    def _observe(self, event: Event) -> None:
        if event.kind != "message_sent":
            return
        chat_id = event.data["chat_id"]
        if self.burst_watch is not None:
            message = event.data["message"]
            self.burst_watch.observe(chat_id, message.get("text", message.get("caption", "")), event.time,
                                     self.staff_chat)
        self.sends.sends.append((event.time, chat_id))
        if chat_id == self.staff_chat:
            match = CARD_CLIENT.search(event.data["message"].get("text", ""))
            if match and "case #" in event.data["message"].get("text", ""):
                self.card_at.setdefault(int(match.group(1)), event.time)
                if self.cards_expected and len(self.card_at) >= self.cards_expected:
                    self.all_cards_in.set()

    async def close(self) -> None:
        await self.watch.stop()
        self._subscription.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._listener

    # -- routes ------------------------------------------------------------------------------------

    async def users(self, request: web.Request) -> web.Response:
        body = await request.json()
        for user_id in range(body["first"], body["first"] + body["count"]):
            self.emulator.user(user_id, f"Client {user_id}")
        return web.json_response({"ok": True})

    async def group(self, request: web.Request) -> web.Response:
        body = await request.json()
        group = self.emulator.group(body["id"], body["title"])
        for user_id in body.get("members", []):
            self.emulator.add_member(group, self.emulator.user(user_id, f"Staff {user_id}"), "administrator")
        self.staff_chat = group.id
        return web.json_response({"ok": True})

    async def flood(self, request: web.Request) -> web.Response:
        self.emulator.flood_limits = bool((await request.json())["enabled"])
        return web.json_response({"ok": True})

    async def reset(self, request: web.Request) -> web.Response:
        """Forget what was recorded so far, so that the next measurement starts clean."""
        await asyncio.sleep(0.05)  # let the listener catch up with events already emitted
        world = self.emulator
        world.stats.calls.clear()
        world.stats.too_many_requests = world.stats.flood_limited = world.stats.dropped_connections = 0
        world.stats.paid_broadcasts = 0
        world.calls.clear()
        world.errors.clear()
        world._messages.clear()  # old messages only cost memory here
        self.sends.clear()
        self.queued_at.clear()
        self.card_at.clear()
        await self.watch.stop()
        self.watch = LoopWatch()
        self.watch.start()
        return web.json_response({"ok": True})

    async def report(self, request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        world = self.emulator
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return web.json_response({
            "calls": dict(world.stats.calls),
            "too_many_requests": world.stats.too_many_requests,
            "flood_limited": world.stats.flood_limited,
            "paid_broadcasts": world.stats.paid_broadcasts,
            "errors": Counter(f"{method} {status}" for method, status, _ in world.errors),
            "spec_violations": [f"{v.method}: {v.problem}" for v in world.spec_violations[:5]],
            "sent": self.sends.summary(),
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "worst_loop_lag_ms": self.watch.worst_lag * 1000,
            "loop_stalls_over_50ms": self.watch.stalls_over_50ms,
            "worst_gc_pause_ms": self.watch.worst_gc_pause * 1000,
            "now": time.time(),
        })

    async def inbound(self, request: web.Request) -> web.Response:
        """Clients write red-flag messages at a steady rate; returns queue-to-card latencies per client."""
        body = await request.json()
        users: list[int] = body["users"]
        interval = 1.0 / body["rate"]
        self.card_at.clear()
        self.queued_at.clear()
        self.cards_expected = len(users)
        self.all_cards_in.clear()
        loop = asyncio.get_running_loop()
        start = loop.time()
        for number, user_id in enumerate(users):
            # Paced against the start time, so a slow iteration does not lower the rate.
            delay = start + number * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.emulator.send_text(user_id, body["text"])
            self.queued_at[user_id] = time.time()
        offered = len(users) / max(loop.time() - start, 1e-9)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_cards_in.wait(), float(body["wait_seconds"]))
        self.cards_expected = 0
        latencies = [self.card_at[u] - self.queued_at[u] for u in users if u in self.card_at]
        cards = sorted(self.card_at[u] for u in users if u in self.card_at)
        first_queued = min(self.queued_at.values(), default=0.0)
        # Cards per second from the first message in to the last card out: what the bot keeps up with.
        card_rate = len(cards) / (cards[-1] - first_queued) if cards and cards[-1] > first_queued else None
        return web.json_response({"latencies": latencies, "missing": len(users) - len(latencies),
                                  "offered_rate": offered, "card_rate": card_rate})


    async def burst(self, request: web.Request) -> web.Response:
        """Clients write red flags as fast as asked while plan messages fall due; returns, in seconds from each
        red flag (or from the plan messages' due time): the safety answers, when each case was first shown to staff,
        and the plan messages."""
        body = await request.json()
        users: list[int] = body["users"]
        watch = self.burst_watch = BurstWatch(users, body["planned"], len(users))
        interval = 1.0 / body["rate"]
        loop = asyncio.get_running_loop()
        start, started_at = loop.time(), time.time()
        written: dict[int, float] = {}
        for number, user_id in enumerate(users):
            delay = start + number * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.emulator.send_text(user_id, body["text"])
            written[user_id] = time.time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch.done.wait(), float(body["wait_seconds"]))
        self.burst_watch = None
        plan_due = float(body["plan_due"])
        return web.json_response({
            "answers": [watch.answered[user] - written[user] for user in users if user in watch.answered],
            "shown": sorted(moment - started_at for moment in watch.shown.values()),
            "plan_lateness": [moment - plan_due for moment in watch.plan_sent.values()],
            "written_in": max(written.values()) - started_at,
        })


async def serve(token: str) -> None:
    # The emulator stands in for Telegram, whose answers do not stall: no full collections, which would
    # pause it for longer and longer as it keeps every message, then let queued requests through at once.
    # Young garbage is still collected.
    gc.freeze()
    gc.set_threshold(700, 10, NEVER)
    emulator = BotApiEmulator(token=token, bot_username="bench_aftercare_bot")
    await emulator.start()
    controller = Controller(emulator)
    app = web.Application()
    app.router.add_post("/users", controller.users)
    app.router.add_post("/group", controller.group)
    app.router.add_post("/flood", controller.flood)
    app.router.add_post("/reset", controller.reset)
    app.router.add_get("/report", controller.report)
    app.router.add_post("/inbound", controller.inbound)
    app.router.add_post("/burst", controller.burst)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    control_port = runner.addresses[0][1]
    print(json.dumps({"api": emulator.base_url, "control": f"http://127.0.0.1:{control_port}"}), flush=True)
    # Serve until the parent closes our stdin (or dies).
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()
    await controller.close()
    await runner.cleanup()
    await emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.token))


if __name__ == "__main__":
    main()
