"""Dispatch capacity: how fast the bot's own dispatcher drains due messages, next to a bare PTB client.

Both sides send the same messages (composed by the bot's composer beforehand) to the same emulator
process, with flood limits off and the same number of requests in flight. The bare client is the
ceiling of the HTTP stack; the dispatcher adds claiming rows, composing, recording each send.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.request import HTTPXRequest

from aftercare_bot.db.models import Delivery, DeliveryState, Enrolment
from aftercare_bot.dispatch import Dispatcher
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


def concurrency_of(dispatcher: Dispatcher) -> int:
    """Requests the dispatcher keeps in flight at most, so the bare client can use the same."""
    return int(getattr(dispatcher, "concurrency", None) or dispatcher._slots._value)


async def composed_messages(services: Any) -> list[tuple[int, str, InlineKeyboardMarkup | None]]:
    """The messages the dispatcher is about to send, as a plain client would send them."""
    async with services.session_factory() as session:
        rows = (await session.execute(
            select(Delivery, Enrolment).join(Enrolment, Delivery.enrolment_id == Enrolment.id)
            .where(Delivery.state == DeliveryState.PENDING).order_by(Delivery.id)
        )).all()
    messages = []
    for delivery, enrolment in rows:
        composed = services.composer.compose(delivery, enrolment)
        assert composed is not None, f"step {delivery.step_key} did not compose"
        message = composed.message
        markup = None
        if message.buttons:
            markup = InlineKeyboardMarkup([
                [InlineKeyboardButton(button.label, callback_data=button.data) for button in row]
                for row in message.buttons
            ])
        messages.append((message.chat_id, message.html, markup))
    return messages


async def bare_client_rate(api_url: str, messages: list[Any], concurrency: int) -> dict[str, float]:
    bot = Bot(TOKEN, base_url=api_url, request=HTTPXRequest(connection_pool_size=256))
    async with bot:
        slots = asyncio.Semaphore(concurrency)

        async def send(chat_id: int, html: str, markup: InlineKeyboardMarkup | None) -> None:
            async with slots:
                await bot.send_message(chat_id, html, parse_mode=ParseMode.HTML, reply_markup=markup)

        cpu, watch = cpu_seconds(), Stopwatch()
        await asyncio.gather(*(send(*message) for message in messages))
        seconds = watch.seconds
        return {"seconds": seconds, "rate": len(messages) / seconds, "cpu": (cpu_seconds() - cpu) / seconds}


async def dispatcher_rate(dispatcher: Dispatcher, rows: int, services: Any) -> dict[str, float]:
    sent = 0
    cpu, watch = cpu_seconds(), Stopwatch()
    for _ in range(MAX_PASSES):
        report = await dispatcher.run_due()
        sent += report.sent
        if report.sent + report.retried + report.failed + report.skipped + report.cancelled == 0:
            break
    seconds = watch.seconds
    async with services.session_factory() as session:
        recorded = await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.SENT)
        )
    assert sent == rows == recorded, f"the dispatcher sent {sent} and recorded {recorded} of {rows}"
    return {"seconds": seconds, "rate": rows / seconds, "cpu": (cpu_seconds() - cpu) / seconds}


async def measure(arguments: dict[str, Any]) -> dict[str, Any]:
    rows, rounds = int(arguments["rows"]), int(arguments["rounds"])
    databases = Databases(None, temporary_workdir())
    rounds_out: list[dict[str, Any]] = []
    async with EmulatorProcess() as telegram:
        await telegram.add_users(FIRST_USER, rows)
        await telegram.set_flood_limits(False)
        for number in range(rounds):
            url = await databases.fresh("sqlite", f"capacity{number}")
            await seed(url, Backlog(FIRST_USER, rows, send_at=datetime.now(UTC) - timedelta(minutes=1)))
            settings = settings_for(url, telegram.api_url, flood_limits=False)
            async with running_bot(settings) as application:
                services = application.bot_data["services"]
                dispatcher: Dispatcher = services.runtime["dispatcher"]
                concurrency = concurrency_of(dispatcher)
                messages = await composed_messages(services)
                if number == 0:  # warm both HTTP paths up once
                    await bare_client_rate(telegram.api_url, messages[: min(200, rows)], concurrency)
                await telegram.reset()
                # Alternate the order, so that neither side always runs on a warmer machine.
                if number % 2 == 0:
                    bare = await bare_client_rate(telegram.api_url, messages, concurrency)
                    bot = await dispatcher_rate(dispatcher, rows, services)
                else:
                    bot = await dispatcher_rate(dispatcher, rows, services)
                    bare = await bare_client_rate(telegram.api_url, messages, concurrency)
                report = await telegram.report()
            await databases.drop(url)
            assert report["calls"].get("sendMessage", 0) == 2 * rows, report["calls"]
            assert not report["errors"], report["errors"]
            rounds_out.append({"bare": bare, "bot": bot, "emulator_cpu": report["cpu_seconds"]})
    bare_rate = median([r["bare"]["rate"] for r in rounds_out])
    bot_rate = median([r["bot"]["rate"] for r in rounds_out])
    return {
        "rows": rows,
        "rounds": rounds,
        "concurrency": concurrency,
        "batch_size": settings.dispatch_batch_size,
        "bare_client_rate": bare_rate,
        "bot_rate": bot_rate,
        "ratio": bot_rate / bare_rate,
        "bot_cpu_share": median([r["bot"]["cpu"] for r in rounds_out]),
        "bare_cpu_share": median([r["bare"]["cpu"] for r in rounds_out]),
        "per_round": rounds_out,
    }


if __name__ == "__main__":
    child_main(measure)
