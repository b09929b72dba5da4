"""Dispatch capacity: how fast the bot's own dispatcher drains due messages, next to a bare PTB client.

Both sides send the same messages (composed by the bot's composer beforehand) to the same emulator
process, with flood limits off and the same number of requests in flight. The bare client is the
ceiling of the HTTP stack; the dispatcher adds claiming rows, composing, recording each send.

The machine may be shared, and its load drifts, so the two sides take turns in chunks (the messages of
chunk k fall due at hour k of the bot's clock) and the rates are totals over all chunks.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.request import HTTPXRequest

from aftercare_bot.clock import ManualClock
from aftercare_bot.db.models import Delivery, DeliveryState, Enrolment
from aftercare_bot.delivery.dispatcher import Dispatcher
from benchmarks.common import (
    TOKEN,
    Databases,
    EmulatorProcess,
    Stopwatch,
    child_main,
    cpu_seconds,
    median,
    running_bot,
    settings_for,
    temporary_workdir,
)
from benchmarks.seeding import Backlog, seed

FIRST_USER = 1_000_000
MAX_PASSES = 1_000
WARM_UP_MESSAGES = 200

Buttons = tuple[tuple[tuple[str, str], ...], ...]  # rows of (label, callback data)
Message = tuple[int, str, Buttons]


def concurrency_of(dispatcher: Dispatcher) -> int:
    """Requests the dispatcher keeps in flight at most, so the bare client can use the same."""
    return dispatcher.concurrency


async def composed_messages(services: Any) -> list[Message]:
    """The messages the dispatcher is about to send, in its order, as a plain client would send them."""
    async with services.session_factory() as session:
        rows = (await session.execute(
            select(Delivery, Enrolment).join(Enrolment, Delivery.enrolment_id == Enrolment.id)
            .where(Delivery.state == DeliveryState.PENDING).order_by(Delivery.send_at, Delivery.id)
        )).all()
    messages = []
    for delivery, enrolment in rows:
        composed = services.composer.compose(delivery, enrolment)
        assert composed is not None, f"step {delivery.step_key} did not compose"
        message = composed.message
        buttons = tuple(tuple((button.label, button.data) for button in row) for row in message.buttons)
        messages.append((message.chat_id, message.html, buttons))
    return messages


async def bare_client_send(bot: Bot, messages: list[Message], concurrency: int) -> dict[str, float]:
    slots = asyncio.Semaphore(concurrency)

    async def send(chat_id: int, html: str, buttons: Buttons) -> None:
        async with slots:
            markup = None
            if buttons:  # made here, as any client making a message with buttons does
                markup = InlineKeyboardMarkup([
                    [InlineKeyboardButton(label, callback_data=data) for label, data in row]
                    for row in buttons
                ])
            await bot.send_message(chat_id, html, parse_mode=ParseMode.HTML, reply_markup=markup)

    cpu, watch = cpu_seconds(), Stopwatch()
    await asyncio.gather(*(send(*message) for message in messages))
    return {"seconds": watch.seconds, "cpu_seconds": cpu_seconds() - cpu}


async def dispatcher_drain(dispatcher: Dispatcher) -> dict[str, float]:
    """Run passes until nothing due is left; returns the time and the number sent."""
    sent = 0
    cpu, watch = cpu_seconds(), Stopwatch()
    for _ in range(MAX_PASSES):
        report = await dispatcher.run_due()
        sent += report.sent
        if report.sent + report.retried + report.failed + report.skipped + report.cancelled == 0:
            break
    return {"seconds": watch.seconds, "cpu_seconds": cpu_seconds() - cpu, "sent": sent}


async def recorded_as_sent(services: Any) -> int:
    async with services.session_factory() as session:
        return await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.SENT)
        ) or 0


async def one_round(
    telegram: EmulatorProcess, databases: Databases, number: int, rows: int, chunks: int
) -> dict[str, Any]:
    size = rows // chunks
    start = datetime.now(UTC)
    url = await databases.fresh("sqlite", f"capacity{number}")
    for chunk in range(chunks):
        await seed(url, Backlog(FIRST_USER + chunk * size, size, send_at=start + timedelta(hours=chunk)))
    clock = ManualClock(start)
    turns = []
    settings = settings_for(url, telegram.api_url, flood_limits=False)
    async with running_bot(settings, clock=clock) as application:
        services = application.bot_data["services"]
        dispatcher: Dispatcher = services.runtime.dispatcher
        concurrency = concurrency_of(dispatcher)
        messages = await composed_messages(services)
        bare = Bot(TOKEN, base_url=telegram.api_url, request=HTTPXRequest(connection_pool_size=256))
        async with bare:
            if number == 0:
                await bare_client_send(bare, messages[:WARM_UP_MESSAGES], concurrency)
            await telegram.reset()
            for chunk in range(chunks):
                clock.set(start + timedelta(hours=chunk, seconds=1))
                batch = messages[chunk * size:(chunk + 1) * size]
                # Take turns, so that neither side always runs on a warmer (or busier) machine.
                if (number + chunk) % 2 == 0:
                    bare_turn = await bare_client_send(bare, batch, concurrency)
                    bot_turn = await dispatcher_drain(dispatcher)
                else:
                    bot_turn = await dispatcher_drain(dispatcher)
                    bare_turn = await bare_client_send(bare, batch, concurrency)
                assert bot_turn["sent"] == size, f"the dispatcher sent {bot_turn['sent']} of {size}"
                turns.append({"bare": bare_turn, "bot": bot_turn})
        recorded = await recorded_as_sent(services)
        batch_size = services.settings.dispatch_batch_size
    report = await telegram.report()
    await databases.drop(url)
    assert recorded == size * chunks, f"{recorded} of {size * chunks} recorded as sent"
    assert report["calls"].get("sendMessage", 0) == 2 * size * chunks, report["calls"]
    assert not report["errors"], report["errors"]
    return {"turns": turns, "size": size, "concurrency": concurrency, "batch_size": batch_size}


def _rate(turns: list[dict[str, Any]], side: str, size: int) -> float:
    return size * len(turns) / sum(turn[side]["seconds"] for turn in turns)


def _cpu_share(turns: list[dict[str, Any]], side: str) -> float:
    return sum(turn[side]["cpu_seconds"] for turn in turns) / sum(turn[side]["seconds"] for turn in turns)


async def measure(arguments: dict[str, Any]) -> dict[str, Any]:
    rows, chunks, rounds = int(arguments["rows"]), int(arguments["chunks"]), int(arguments["rounds"])
    databases = Databases(None, temporary_workdir())
    results = []
    async with EmulatorProcess() as telegram:
        await telegram.add_users(FIRST_USER, rows)
        await telegram.set_flood_limits(False)
        for number in range(rounds):
            results.append(await one_round(telegram, databases, number, rows, chunks))
    size = results[0]["size"]
    turns = [turn for result in results for turn in result["turns"]]
    per_round = [
        {"bare_rate": _rate(result["turns"], "bare", size), "bot_rate": _rate(result["turns"], "bot", size),
         "bare_cpu": _cpu_share(result["turns"], "bare"), "bot_cpu": _cpu_share(result["turns"], "bot")}
        for result in results
    ]
    turn_ratios = [turn["bare"]["seconds"] / turn["bot"]["seconds"] for turn in turns]
    bare_rate, bot_rate = _rate(turns, "bare", size), _rate(turns, "bot", size)
    return {
        "rows": size * chunks,
        "chunks": chunks,
        "rounds": rounds,
        "concurrency": results[0]["concurrency"],
        "batch_size": results[0]["batch_size"],
        "bare_client_rate": bare_rate,
        "bot_rate": bot_rate,
        "ratio": bot_rate / bare_rate,
        "turn_ratio_median": median(turn_ratios),
        "turn_ratio_range": [min(turn_ratios), max(turn_ratios)],
        "bare_cpu_share": _cpu_share(turns, "bare"),
        "bot_cpu_share": _cpu_share(turns, "bot"),
        "per_round": per_round,
    }


if __name__ == "__main__":
    child_main(measure)
