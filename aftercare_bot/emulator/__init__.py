"""A Telegram Bot API emulator for end-to-end tests and a local sandbox."""

from aftercare_bot.emulator.actions import World
from aftercare_bot.emulator.bot_api import BotApi
from aftercare_bot.emulator.events import Subscription
from aftercare_bot.emulator.models import ChatHandle, Event, StoredMessage, UserHandle
from aftercare_bot.emulator.server import BotApiEmulator
from aftercare_bot.emulator.spec import ApiSpec, load_spec

__all__ = [
    "ApiSpec",
    "BotApi",
    "BotApiEmulator",
    "ChatHandle",
    "Event",
    "StoredMessage",
    "Subscription",
    "UserHandle",
    "World",
    "load_spec",
]
