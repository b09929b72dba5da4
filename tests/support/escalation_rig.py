"""A domain rig for client conversations and escalations: the real desk, conversation and timer runner,
with a fake messenger that records what would be sent, edited and copied."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from aftercare_bot.config import Settings
from aftercare_bot.db.models import ConversationMessage, Escalation, Timer
from aftercare_bot.db.refs import RowRef
from aftercare_bot.delivery.due_timers import TimerRunner
from aftercare_bot.delivery.ports import Button, OutboundMessage
from aftercare_bot.escalation.desk import EscalationDesk
from aftercare_bot.escalation.replies import StaffMessage
from aftercare_bot.inbound.message import InboundMessage
from aftercare_bot.inbound.receive import ClientConversation, Received
from tests.conftest import STAFF_CHAT_ID
from tests.support.domain_helpers import DomainRig, make_rig

NURSE_ID = 900002
OTHER_NURSE_ID = 900003


@dataclass
class Edit:
    chat_id: int
    message_id: int
    html: str
    buttons: tuple[tuple[Button, ...], ...]


@dataclass
class Copy:
    chat_id: int
    from_chat_id: int
    message_id: int
    reply_to_message_id: int | None
    new_id: int


@dataclass
class FakeMessenger:
    """Records messages; `failures` are raised one per send before anything succeeds."""

    sent: list[tuple[int, OutboundMessage]] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)
    copies: list[Copy] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)
    chat_failures: dict[int, list[Exception]] = field(default_factory=dict)  # per destination chat
    _ids: Any = field(default_factory=lambda: itertools.count(5000))

    async def send(self, message: OutboundMessage) -> int:
        if self.failures:
            raise self.failures.pop(0)
        if self.chat_failures.get(message.chat_id):
            raise self.chat_failures[message.chat_id].pop(0)
        message_id = next(self._ids)
        self.sent.append((message_id, message))
        return message_id

    async def edit(self, chat_id: int, message_id: int, html: str, buttons: Any = ()) -> None:
        self.edits.append(Edit(chat_id, message_id, html, buttons))

    async def copy(
        self, chat_id: int, from_chat_id: int, message_id: int, *, reply_to_message_id: int | None = None
    ) -> int:
        new_id = next(self._ids)
        self.copies.append(Copy(chat_id, from_chat_id, message_id, reply_to_message_id, new_id))
        return new_id

    def to(self, chat_id: int) -> list[tuple[int, OutboundMessage]]:
        return [(mid, m) for mid, m in self.sent if m.chat_id == chat_id]

    def texts_to(self, chat_id: int) -> list[str]:
        return [m.html for _, m in self.to(chat_id)]


@dataclass
class EscalationRig:
    base: DomainRig
    messenger: FakeMessenger
    desk: EscalationDesk
    conversation: ClientConversation
    runner: TimerRunner
    _message_ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def services(self):  # type: ignore[no-untyped-def]
        return self.base.services

    @property
    def clock(self):  # type: ignore[no-untyped-def]
        return self.base.clock

    def advance(self, delta: timedelta) -> None:
        self.base.advance(delta)

    async def enrol(self, user_id: int = 5001, name: str = "Ann", **kwargs: Any) -> Any:
        return await self.base.enrol(user_id, name, **kwargs)

    async def say(
        self, text: str | None, user_id: int = 5001, *, kind: str = "text", file_id: str | None = None
    ) -> Received:
        return await self.conversation.receive(InboundMessage(
            telegram_user_id=user_id, chat_id=user_id, message_id=next(self._message_ids), kind=kind, text=text,
            file_id=file_id, language="en",
        ))

    async def staff_reply(
        self, reply_to: int, text: str | None, author_id: int = NURSE_ID, *, kind: str = "text",
        photo_file_id: str | None = None, chat_id: int = STAFF_CHAT_ID,
    ) -> Any:
        return await self.desk.replies.relay(StaffMessage(
            chat_id=chat_id, message_id=next(self._message_ids) + 100_000, reply_to_message_id=reply_to,
            author_id=author_id, author_name="Nina Nurse" if author_id == NURSE_ID else "Olga Other",
            kind=kind, text=text, photo_file_id=photo_file_id,
        ))

    def staff_posts(self) -> list[tuple[int, OutboundMessage]]:
        return self.messenger.to(STAFF_CHAT_ID)

    def cards(self) -> list[tuple[int, OutboundMessage]]:
        return [(mid, m) for mid, m in self.staff_posts() if m.buttons]

    async def escalations(self) -> list[Escalation]:
        async with self.services.session_factory() as session:
            return list((await session.scalars(select(Escalation).order_by(Escalation.id))).all())

    async def case(self, number: int) -> RowRef:
        """Case `number` as its card's buttons name it."""
        async with self.services.session_factory() as session:
            return RowRef.of(await session.get(Escalation, number))

    async def conversation_rows(self) -> list[ConversationMessage]:
        async with self.services.session_factory() as session:
            rows = await session.scalars(select(ConversationMessage).order_by(ConversationMessage.id))
            return list(rows.all())

    async def timers(self, kind: str | None = None) -> list[Timer]:
        async with self.services.session_factory() as session:
            query = select(Timer).order_by(Timer.id)
            if kind is not None:
                query = query.where(Timer.kind == kind)
            return list((await session.scalars(query)).all())


def make_escalation_rig(settings: Settings, start: datetime, owner: str = "test") -> EscalationRig:
    base = make_rig(settings, start, owner)
    messenger = FakeMessenger()
    desk = EscalationDesk(base.services, messenger)
    conversation = ClientConversation(base.services, desk)
    runner = TimerRunner(base.services, desk, conversation)
    return EscalationRig(base, messenger, desk, conversation, runner)


@asynccontextmanager
async def escalation_rigs() -> AsyncIterator[Callable[..., EscalationRig]]:
    """Builds escalation rigs and closes their databases afterwards (wrapped in a fixture by each module)."""
    created: list[EscalationRig] = []

    def factory(*args: Any, **kwargs: Any) -> EscalationRig:
        rig = make_escalation_rig(*args, **kwargs)
        created.append(rig)
        return rig

    try:
        yield factory
    finally:
        for rig in created:
            await rig.services.engine.dispose()
