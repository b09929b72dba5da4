"""Someone with no client record (not joined yet, declined, or erased) writes to the bot: a short path of its own.

No case is opened, since staff have no record of this person to act on; a warning sign still earns the safety
advice, and everyone is told how to join.
"""

from __future__ import annotations

import logging

from aftercare_bot.db.models import OutboxMessage
from aftercare_bot.delivery.ports import OutboundMessage, RecipientBlocked, SendRejected, SendRetryLater
from aftercare_bot.escalation.desk import EscalationDesk
from aftercare_bot.inbound.message import CLIENT_SAFETY_KEY, TRIAGE_MEDIA_KINDS, InboundMessage
from aftercare_bot.services import Services
from aftercare_bot.texts.catalog import FALLBACK_LANGUAGE
from aftercare_bot.triage.classify import TriageLevel, TriageRules, triage

log = logging.getLogger(__name__)

# The client's safety text stands in until the texts have this one.
STRANGER_SAFETY_KEY = "esc_safety_stranger"


class Strangers:
    def __init__(self, services: Services, desk: EscalationDesk, rules: TriageRules) -> None:
        self.svc = services
        self.desk = desk
        self.rules = rules

    async def handle(self, inbound: InboundMessage) -> None:
        if self._level(inbound) == TriageLevel.URGENT:
            await self._warn(inbound)
        await self._send(inbound, self.svc.text("start_no_token", inbound.language))

    def _level(self, inbound: InboundMessage) -> TriageLevel:
        """Someone with no client record (not joined yet, declined, or erased) may still describe a warning sign."""
        result = triage(
            self.rules, inbound.text, language=inbound.language or self.svc.settings.default_language,
            day_since_session=None, has_photo=inbound.kind == "photo",
            has_media=inbound.kind in TRIAGE_MEDIA_KINDS,
        )
        return result.level

    async def _warn(self, inbound: InboundMessage) -> None:
        """The safety advice, through the outbox (by chat alone), so an outage delays it but cannot lose it.
        No case is opened: staff have no record of this person to act on."""
        has_own_text = self.svc.texts.has(STRANGER_SAFETY_KEY, FALLBACK_LANGUAGE)  # where every text must be
        html = self.svc.text(STRANGER_SAFETY_KEY if has_own_text else CLIENT_SAFETY_KEY, inbound.language)
        log.warning("an unknown person in chat %s wrote what looks like a warning sign; safety advice sent",
                    inbound.chat_id)
        try:
            async with self.svc.session_factory.begin() as session:
                await self.desk.outbox.add(session, OutboxMessage(chat_id=inbound.chat_id, html=html, urgent=True))
        except Exception:
            log.exception("could not queue safety advice for chat %s; sending it directly", inbound.chat_id)
            await self._send(inbound, html)
            return
        await self.desk.outbox.deliver(inbound.chat_id)

    async def _send(self, inbound: InboundMessage, html: str) -> None:
        try:
            await self.desk.messenger.send(OutboundMessage(inbound.chat_id, html))
        except (SendRetryLater, RecipientBlocked, SendRejected):
            log.exception("could not answer an unknown person in chat %s", inbound.chat_id)
