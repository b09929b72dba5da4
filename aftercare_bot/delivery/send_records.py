"""Recording what Telegram accepted (an outbox message, a case card) in shared transactions.

Each record used to be a transaction of its own, and on SQLite transactions take turns (db.write_turns): under
a burst of red flags, most of that turn was spent on records. Records that arrive while a batch is being
written now wait for the next one and are written together, in a few statements whatever their number; a
lone record is written at once. Should a batch fail, each caller's records are written on their own, so that
one record that cannot be written does not fail the others; these are retried through a database outage for up
to half the send lease, like every confirmed send (confirmed_sends), and their sender hears NotRecorded if that
was not enough.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.repositories import conversation as conversation_repo
from aftercare_bot.db.repositories import escalations as escalation_repo
from aftercare_bot.db.repositories import outbox as outbox_repo
from aftercare_bot.db.repositories import timers
from aftercare_bot.db.write_turns import write_turn
from aftercare_bot.delivery import confirmed_sends
from aftercare_bot.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentMessage:
    """An outbox message Telegram accepted: off the queue, its Telegram id kept in the conversation."""

    outbox_id: int
    chat_id: int
    telegram_message_id: int
    conversation_id: int | None = None
    timer_id: int | None = None  # claimed for the send, finished with the record

    def __str__(self) -> str:
        return f"queued message {self.outbox_id} to chat {self.chat_id}"


@dataclass(frozen=True)
class PostedCard:
    """A case card Telegram accepted: remembered as the case's post, and where the card is."""

    escalation_id: int
    ref: str | None  # the case's own: a case erased meanwhile, its number given to another, is not recorded
    chat_id: int
    message_id: int
    timer_id: int | None = None  # the card timer, finished with the record

    def __str__(self) -> str:
        return f"the card of case {self.escalation_id}"


Record = SentMessage | PostedCard


async def record_sent(session: AsyncSession, sent: Sequence[SentMessage]) -> None:
    """Outbox messages Telegram accepted: off the queue, their Telegram ids kept in the conversation, in two
    statements whatever their number. The caller owns the transaction."""
    if not sent:
        return
    await outbox_repo.remove_many(session, [record.outbox_id for record in sent])
    await conversation_repo.set_telegram_ids(session, {
        record.conversation_id: record.telegram_message_id for record in sent if record.conversation_id is not None
    })


class SendRecords:
    def __init__(self, services: Services) -> None:
        self.svc = services
        self._waiting: list[tuple[list[Record], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, *records: Record) -> None:
        """Returns once the records are committed; raises NotRecorded as confirmed_sends.record does."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((list(records), done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        await asyncio.shield(done)  # a caller that gives up must not cancel the others' batch

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self._write_batch(batch)
            finally:
                for _, done in batch:  # cancelled (at shutdown, say): nobody may wait for ever
                    if not done.done():
                        done.cancel()

    async def _write_batch(self, batch: list[tuple[list[Record], asyncio.Future[None]]]) -> None:
        if len(batch) == 1:
            await self._write_retried(*batch[0])
            return
        try:
            await self._write([record for records, _ in batch for record in records])
        except Exception:
            # The database may be away, or one record cannot be written: each caller's records are then written
            # and retried on their own, so that one bad record cannot hold the others back.
            log.warning("could not record %d sends together; recording them one by one", len(batch), exc_info=True)
            await asyncio.gather(*(self._write_retried(records, done) for records, done in batch))
        else:
            for _, done in batch:
                done.set_result(None)

    async def _write_retried(self, records: list[Record], done: asyncio.Future[None]) -> None:
        # Cards last: "the card of case 7 went out but the database could not record it" reads right.
        records = sorted(records, key=lambda record: isinstance(record, PostedCard))
        what = " and ".join(str(record) for record in records) + " went out"
        try:
            await confirmed_sends.record(lambda: self._write(records), lease=self.svc.settings.send_lease, what=what)
        except Exception as exc:
            done.set_exception(exc)
        else:
            done.set_result(None)

    async def _write(self, records: list[Record]) -> None:
        sent = [record for record in records if isinstance(record, SentMessage)]
        cards = [record for record in records if isinstance(record, PostedCard)]
        now = self.svc.clock.now()
        async with self.svc.session_factory() as session, write_turn(session):
            await record_sent(session, sent)
            if cards:
                await escalation_repo.add_cards(session, [
                    (record.escalation_id, record.ref, record.chat_id, record.message_id) for record in cards
                ], now=now)
            await timers.finish_all(session, [record.timer_id for record in records if record.timer_id is not None])
            await session.commit()
