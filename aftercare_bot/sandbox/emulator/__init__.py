"""A Telegram Bot API emulator for end-to-end tests and a local sandbox."""

from aftercare_bot.sandbox.emulator.actions import World
from aftercare_bot.sandbox.emulator.bot_api import BotApi
from aftercare_bot.sandbox.emulator.events import Subscription
from aftercare_bot.sandbox.emulator.models import ChatHandle, Event, StoredMessage, UserHandle
from aftercare_bot.sandbox.emulator.server import BotApiEmulator
from aftercare_bot.sandbox.emulator.spec import ApiSpec, load_spec

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
