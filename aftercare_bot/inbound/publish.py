"""The last step of a client message or check-in answer: once committed, what it calls for goes out."""

from __future__ import annotations

import asyncio

from aftercare_bot.db.models import Client, ConversationMessage, Enrolment
from aftercare_bot.delivery.outbox import Queued
from aftercare_bot.escalation.cases import Routing
from aftercare_bot.escalation.desk import EscalationDesk


async def publish(
    desk: EscalationDesk, routing: Routing, reply: Queued | None, client: Client, enrolment: Enrolment | None,
    message: ConversationMessage | None,
) -> None:
    """The answer to the client and the card (or the post under it) for staff, side by side, since they go to
    different chats. Whatever cannot go now stays queued for the timer runner."""
    sends = [desk.cases.publish(routing, client=client, enrolment=enrolment, trigger=message)]
    if reply is not None:
        sends.append(desk.outbox.send_queued(reply))
    await asyncio.gather(*sends)
