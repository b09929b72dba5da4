"""Messages to the clinic team: the staff chat, or every admin privately when no staff chat is set.

They go through the outbox, so a Telegram outage delays a notice but never loses it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Client
from aftercare_bot.delivery.dispatcher import AfterCommit, BlockedCallback
from aftercare_bot.services import Services


def staff_destinations(services: Services) -> list[int]:
    if services.settings.staff_chat_id is not None:
        return [services.settings.staff_chat_id]
    return list(services.settings.admin_ids)


async def notify_staff(services: Services, html: str, *, client_id: int | None = None) -> None:
    """Queue the notice for every staff destination and send it now if Telegram takes it. `client_id`: the
    client it is about, so that a notice still waiting is erased with them."""
    await services.runtime.outbox.notify_staff(html, client_id=client_id)


def blocked_notice(services: Services, client: Client, cancelled: int) -> str:
    return services.text("staff_client_blocked", services.staff_language, name=client.name, cancelled=cancelled)


def blocked_notifier(services: Services) -> BlockedCallback:
    """Queues the notice in the transaction that records the block; sends it once that is committed."""

    async def on_blocked(session: AsyncSession, client: Client, cancelled: int) -> AfterCommit:
        outbox = services.runtime.outbox
        chats = await outbox.to_staff(session, blocked_notice(services, client, cancelled), client_id=client.id)
        return lambda: outbox.deliver(*chats)

    return on_blocked
