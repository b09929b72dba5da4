"""Recording a send that Telegram has confirmed, without turning a database outage into a second send.

Once Telegram has a message, the write that records it is asked again, with growing pauses, for up to half
the send lease: before the lease could hand the claim on the message to another sender. After that the claim
is left to expire, and the message may go out once more (which beats losing it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

FIRST_PAUSE = 0.25  # seconds, doubling
MAX_PAUSE = 10.0

T = TypeVar("T")


class NotRecorded(Exception):
    """A confirmed send could not be recorded in time; its claim is left to the send lease."""


async def record(write: Callable[[], Awaitable[T]], *, lease: timedelta, what: str) -> T:
    """Run `write` (one whole transaction) until it succeeds, riding out a short database outage.

    `what` completes "... but the database could not record it" in the log, e.g. "delivery 7 went out".
    Raises NotRecorded after half the lease; errors other than the database's are not retried.
    """
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + lease.total_seconds() / 2
    pause = FIRST_PAUSE
    while True:
        try:
            return await write()
        except (SQLAlchemyError, OSError) as exc:
            if loop.time() + pause > give_up_at:
                log.error("%s but the database could not record it; it is left to the send lease (SEND_LEASE) "
                          "and may happen once more", what)
                raise NotRecorded(what) from exc
            log.warning("%s but the database could not record it (%s); trying again in %.2g s",
                        what, exc.__class__.__name__, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE)
