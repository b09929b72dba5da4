"""Builds the Telegram application. This is the one place where handlers are registered."""

from __future__ import annotations

import logging
import os
import secrets
import socket

from telegram import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from aftercare_bot import jobs
from aftercare_bot.callbacks import CallbackSigner
from aftercare_bot.clock import Clock, SystemClock
from aftercare_bot.config import Settings
from aftercare_bot.db.session import create_engine, create_session_factory
from aftercare_bot.dispatch import Dispatcher
from aftercare_bot.handlers import client, errors, fallback, staff
from aftercare_bot.plan_catalog import PlanCatalog
from aftercare_bot.plan_messages import PlanMessageComposer
from aftercare_bot.services import Services
from aftercare_bot.staff_notify import blocked_notifier
from aftercare_bot.telegram_io import TelegramSender
from aftercare_bot.texts import Texts

log = logging.getLogger(__name__)


def build_services(settings: Settings, *, clock: Clock | None = None) -> Services:
    engine = create_engine(settings.database_url)
    clock = clock or SystemClock()
    catalog = PlanCatalog.from_files(settings.messages_dir)
    texts = Texts.load(settings.messages_dir / "texts", settings.default_language)
    signer = CallbackSigner(settings.telegram_bot_token.get_secret_value().encode())
    return Services(
        settings=settings, engine=engine, session_factory=create_session_factory(engine), clock=clock,
        catalog=catalog, texts=texts, signer=signer,
        composer=PlanMessageComposer(settings=settings, catalog=catalog, texts=texts, signer=signer, clock=clock),
    )


def build_application(
    services: Services, *, request: BaseRequest | None = None, updates_request: BaseRequest | None = None
) -> Application:
    settings = services.settings
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=None))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .concurrent_updates(True)
    )
    if settings.telegram_api_base_url:
        builder = builder.base_url(settings.telegram_api_base_url).base_file_url(settings.telegram_api_base_file_url)
    if settings.flood_limits:
        # One retry inside the limiter; after that the dispatcher reschedules the row in the database.
        builder = builder.rate_limiter(AIORateLimiter(max_retries=1))
    if request is not None:
        builder = builder.request(request)
    if updates_request is not None:
        builder = builder.get_updates_request(updates_request)
    application = builder.build()
    application.bot_data["services"] = services
    register_handlers(application)
    return application


def register_handlers(application: Application) -> None:
    private = filters.ChatType.PRIVATE
    signed = r"^[\w:-]+$"
    add = application.add_handler

    # Clients.
    add(CommandHandler("start", client.start, filters=private))
    add(CommandHandler("help", client.help_command))
    add(CommandHandler("stop", client.stop, filters=private))
    add(CallbackQueryHandler(client.consent_answer, pattern=r"^inv:" + signed[1:]))
    add(CallbackQueryHandler(client.stop_answer, pattern=r"^stop:" + signed[1:]))

    # Staff (each handler checks the role itself, whatever chat the command comes from).
    add(CommandHandler("enrol", staff.enrol))
    add(CommandHandler("client", staff.client))

    # Whatever is left: unknown commands and buttons get a polite answer.
    add(MessageHandler(filters.COMMAND, fallback.unknown_command))
    add(CallbackQueryHandler(fallback.unknown_button))
    application.add_error_handler(errors.on_error)


def replica_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


async def _post_init(application: Application) -> None:
    services: Services = application.bot_data["services"]
    bot = application.bot
    services.runtime["dispatcher"] = Dispatcher(
        settings=services.settings, session_factory=services.session_factory, sender=TelegramSender(bot),
        clock=services.clock, composer=services.composer, on_blocked=blocked_notifier(bot, services),
        owner=replica_name(),
    )
    await _set_command_menus(application)
    jobs.start(application)


async def _set_command_menus(application: Application) -> None:
    services: Services = application.bot_data["services"]
    language = services.settings.default_language
    client_commands = [BotCommand(name, services.label(f"menu_{name}", language)) for name in ("help", "stop")]
    staff_commands = [
        BotCommand(name, services.label(f"menu_{name}", language)) for name in ("enrol", "client", "help")
    ]
    try:
        await application.bot.set_my_commands(client_commands, scope=BotCommandScopeAllPrivateChats())
        await application.bot.set_my_description(services.label("bot_description", language))
        if services.settings.staff_chat_id is not None:
            await application.bot.set_my_commands(
                staff_commands, scope=BotCommandScopeChat(services.settings.staff_chat_id)
            )
    except TelegramError as exc:
        # A menu is a convenience; the bot works without it, so this must not stop start-up.
        log.warning("could not register the command menu: %s", exc)


async def _post_shutdown(application: Application) -> None:
    services: Services = application.bot_data["services"]
    await services.engine.dispose()

