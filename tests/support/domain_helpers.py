"""Builders for tests of the domain layer, which run without Telegram."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.app import build_services
from aftercare_bot.clients import enrolment
from aftercare_bot.clock import ManualClock
from aftercare_bot.config import Settings
from aftercare_bot.db.models import Client
from aftercare_bot.db.refs import RowRef
from aftercare_bot.delivery.dispatcher import Dispatcher
from aftercare_bot.delivery.ports import OutboundMessage
from aftercare_bot.services import Services


@dataclass
class FakeSender:
    """Records what would be sent; `failures` are raised, one per send, before anything succeeds."""

    sent: list[OutboundMessage] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    async def send(self, message: OutboundMessage) -> int:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return 1000 + len(self.sent)


@dataclass
class DomainRig:
    services: Services
    clock: ManualClock
    sender: FakeSender
    dispatcher: Dispatcher
    blocked: list[tuple[Client, int]]

    async def enrol(
        self, user_id: int = 5001, name: str = "Ann", *, session_at: datetime | None = None,
        treatment: str = "microneedling", telegram_language: str | None = "en", language: str | None = None,
    ) -> enrolment.Acceptance:
        now = self.clock.now()
        async with self.services.session_factory.begin() as session:
            invite, _token = await enrolment.create_invite(
                session, client_name=name, treatment=treatment, session_at=session_at or now, language=language,
                created_by=1, now=now, settings=self.services.settings,
            )
            await enrolment.mark_opened(session, invite, by=user_id, now=now)
            return await enrolment.accept_invite(
                session, invite=RowRef.of(invite), telegram_user_id=user_id, chat_id=user_id, first_name=name,
                telegram_language=telegram_language, now=now, settings=self.services.settings,
                catalog=self.services.catalog, languages=self.services.texts.languages,
            )

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)


def make_rig(settings: Settings, start: datetime, owner: str = "test") -> DomainRig:
    clock = ManualClock(start)
    services = build_services(settings, clock=clock)
    sender = FakeSender()
    blocked: list[tuple[Client, int]] = []

    async def on_blocked(session: AsyncSession, client: Client, cancelled: int) -> None:
        blocked.append((client, cancelled))

    dispatcher = Dispatcher(
        settings=settings, session_factory=services.session_factory, sender=sender, clock=clock,
        composer=services.composer, on_blocked=on_blocked, owner=owner,
    )
    return DomainRig(services, clock, sender, dispatcher, blocked)
