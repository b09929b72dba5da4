"""Messages to the clinic team: the staff chat, or every admin privately when no staff chat is set."""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.error import TelegramError

from aftercare_bot.db.models import Client
from aftercare_bot.services import Services

log = logging.getLogger(__name__)


def staff_destinations(services: Services) -> list[int]:
    if services.settings.staff_chat_id is not None:
        return [services.settings.staff_chat_id]
    return list(services.settings.admin_ids)


async def notify_staff(bot: Bot, services: Services, html: str) -> None:
    destinations = staff_destinations(services)
    if not destinations:
        log.error("no STAFF_CHAT_ID or ADMIN_IDS configured; staff notice not delivered: %s", html)
    for chat_id in destinations:
        try:
            await bot.send_message(chat_id, html)
        except TelegramError:
            log.exception("could not notify staff chat %s", chat_id)


def blocked_notifier(bot: Bot, services: Services):  # type: ignore[no-untyped-def]
    async def on_blocked(client: Client, cancelled: int) -> None:
        await notify_staff(bot, services, services.text("staff_client_blocked", None, name=client.name,
                                                        cancelled=cancelled))

    return on_blocked
