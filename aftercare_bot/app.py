"""Builds the Telegram application. This is the one place where handlers are registered."""

from __future__ import annotations

import gc
import logging
import os
import re
import secrets
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from aftercare_bot.bot import jobs
from aftercare_bot.bot.error_reports import ErrorReports
from aftercare_bot.bot.handlers import (
    admin,
    admin_api,
    admin_edits,
    admin_report,
    admin_templates,
    auth,
    client,
    client_messages,
    errors,
    escalations,
    fallback,
    frontdesk,
    language,
    personal_data,
    replays,
    staff,
)
from aftercare_bot.bot.telegram.messenger import TelegramMessenger
from aftercare_bot.bot.telegram.paid_broadcast import PaidBroadcast
from aftercare_bot.bot.telegram.rate_limit import TelegramRateLimiter
from aftercare_bot.bot.telegram.sender import TelegramSender
from aftercare_bot.callbacks import CallbackSigner, Press, pattern
from aftercare_bot.clients import booking, booking_digest, privacy
from aftercare_bot.clients.booking_digest import BookingDigest
from aftercare_bot.clock import Clock, SystemClock
from aftercare_bot.config import Settings
from aftercare_bot.db.session import create_engine, create_session_factory
from aftercare_bot.delivery.compose import PlanMessageComposer
from aftercare_bot.delivery.dispatcher import Dispatcher
from aftercare_bot.delivery.due_timers import TimerRunner
from aftercare_bot.delivery.ports import Pacing, Sender, Unlimited
from aftercare_bot.delivery.staff_notify import blocked_notifier
from aftercare_bot.escalation.desk import EscalationDesk
from aftercare_bot.escalation.posts import Messenger
from aftercare_bot.inbound.receive import ClientConversation
from aftercare_bot.plans import editing
from aftercare_bot.plans.catalog import PlanCatalog
from aftercare_bot.reporting.weekly import WEEKLY_REPORT_TIMER, WeeklyReports
from aftercare_bot.services import ErrorReporting, Runtime, Services
from aftercare_bot.texts.catalog import Texts

log = logging.getLogger(__name__)


def build_services(settings: Settings, *, clock: Clock | None = None) -> Services:
    engine = create_engine(settings.database_url)
    clock = clock or SystemClock()
    catalog = PlanCatalog.from_files(settings.messages_dir)
    texts = Texts.load(settings.messages_dir / "texts", settings.default_language)
    signer = CallbackSigner(settings.telegram_bot_token.get_secret_value().encode())
    session_factory = create_session_factory(engine)
    return Services(
        settings=settings, engine=engine, session_factory=session_factory, clock=clock,
        catalog=catalog, texts=texts, signer=signer,
        composer=PlanMessageComposer(
            settings=settings, catalog=catalog, texts=texts, signer=signer, clock=clock,
            plans_in_force=editing.PlansInForce(session_factory, catalog),
        ),
    )


def build_runtime(
    services: Services,
    *,
    sender: Sender,
    messenger: Messenger,
    wake: Callable[[float], None],
    owner: str,
    error_reports: ErrorReporting | None = None,
    pacing: Pacing | None = None,
    after_pass: Callable[[], Awaitable[object]] | None = None,
) -> Runtime:
    """The parts that need the Bot (through `sender` and `messenger`, paced by `pacing`) and the job queue
    (through `wake`; `after_pass` plans the next wake-up after each lane's pass)."""
    dispatcher = Dispatcher(
        settings=services.settings, session_factory=services.session_factory, sender=sender,
        clock=services.clock, composer=services.composer, on_blocked=blocked_notifier(services), owner=owner,
    )
    desk = EscalationDesk(services, messenger, pacing=pacing or Unlimited())
    conversation = ClientConversation(services, desk)
    timer_runner = TimerRunner(services, desk, conversation)
    digest = BookingDigest(services)
    timer_runner.register(booking_digest.SUMMARY_TIMER, digest.summary)
    timer_runner.register(booking.PHONE_EXPIRY_TIMER, digest.phone_expiry)
    reports = WeeklyReports(services, messenger)
    timer_runner.register(WEEKLY_REPORT_TIMER, reports.on_timer)
    return Runtime(
        dispatcher=dispatcher, escalations=desk, outbox=desk.outbox, conversation=conversation,
        timer_runner=timer_runner, retention=privacy.RetentionPurger(services), reports=reports,
        lanes=jobs.build_lanes(services, after_pass), wake=wake, error_reports=error_reports,
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
        builder = builder.rate_limiter(TelegramRateLimiter(max_retries=1))
    if request is not None:
        builder = builder.request(request)
    else:
        timeout = settings.telegram_timeout.total_seconds()
        builder = builder.connect_timeout(timeout).read_timeout(timeout).write_timeout(timeout)
    if updates_request is not None:
        builder = builder.get_updates_request(updates_request)
    application = builder.build()
    application.bot_data["services"] = services
    register_handlers(application)
    return application


def register_handlers(application: Application) -> None:
    """Every command, button and message the bot answers, in the order PTB tries them."""
    private = filters.ChatType.PRIVATE
    add = application.add_handler

    def button(press: Press, handler: Callable[[Update, ContextTypes.DEFAULT_TYPE], Any]) -> CallbackQueryHandler:
        return CallbackQueryHandler(handler, pattern=pattern(press))

    # Before everything: an update Telegram delivers a second time is dropped.
    add(TypeHandler(Update, replays.drop_replayed), group=-2)
    # Then text an admin types for an edit in progress (kept in the database, so whichever replica gets it):
    # it stops there; every other message goes on to the handlers below.
    add(MessageHandler(private & filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND,
                       admin_edits.typed_answer), group=-1)

    # Clients.
    add(CommandHandler("start", client.start, filters=private))
    add(CommandHandler("help", client.help_command))
    add(CommandHandler("stop", client.stop, filters=private))
    add(button(Press.CONSENT, client.consent_answer))
    add(button(Press.STOP, client.stop_answer))
    add(CommandHandler("language", language.language_command, filters=private))
    add(button(Press.LANGUAGE, language.language_answer))

    # Telegram's word that someone joined or left the staff chat (sent while the bot administers it).
    add(ChatMemberHandler(auth.staff_chat_membership_changed, ChatMemberHandler.CHAT_MEMBER))

    # Staff (each handler checks the role itself, whatever chat the command comes from).
    add(CommandHandler("enrol", staff.enrol))
    add(CommandHandler("client", staff.client))

    # Admins: the team and the plans (each handler checks the role itself, for every update).
    for press in admin_edits.STARTS:
        add(button(press, admin_edits.starter(press)))
    add(CommandHandler("staff", admin.staff_command))
    add(CommandHandler("templates", admin_templates.templates_command))
    add(CommandHandler("history", admin_templates.history_command))
    add(CommandHandler("report", admin_report.report_command))
    add(CommandHandler("cancel", admin_edits.cancel))
    add(CommandHandler("apikeys", admin_api.apikeys_command))
    add(button(Press.API_KEY_REVOKE, admin_api.revoke_button))
    add(button(Press.TEAM, admin.show_team))
    add(button(Press.TEAM_REMOVE, admin.ask_remove))
    add(button(Press.TEAM_REMOVE_CONFIRMED, admin.remove))
    add(button(Press.TEAM_ADD, admin.add_to_team))
    add(button(Press.PLANS, admin_templates.all_plans))
    add(button(Press.PLAN, admin_templates.open_plan))
    add(button(Press.STEP, admin_templates.open_step))
    add(button(Press.STEP_ON_OFF, admin_templates.step_on_off))
    add(button(Press.STEP_HISTORY, admin_templates.step_history))
    add(button(Press.RESTORE, admin_templates.restore))
    add(button(Press.TEST_STEP, admin_templates.test_step))
    add(button(Press.TEST_DRAFT, admin_templates.test_draft))
    add(button(Press.SAVE, admin_templates.save))
    add(button(Press.DISCARD, admin_templates.discard))

    # Client replies and check-in answers; the staff side of escalations (cards, replies, /open).
    add(button(Press.CHECKIN, client_messages.checkin_answer))
    add(button(Press.ASK_BACK, client_messages.ask_back_answer))
    add(button(Press.CASE, escalations.case_button))
    add(button(Press.DIGEST, escalations.digest_button))
    add(CommandHandler("open", escalations.open_cases))
    staff_chat_id = application.bot_data["services"].settings.staff_chat_id
    if staff_chat_id is not None:
        add(MessageHandler(
            filters.Chat(staff_chat_id) & filters.UpdateType.MESSAGE & filters.REPLY & ~filters.COMMAND,
            escalations.staff_reply,
        ))
    # Before client messages: a contact shared at the front desk, a CSV file of enrolments from an admin (each
    # handler passes anything else on to client_messages.inbound).
    add(MessageHandler(private & filters.CONTACT, frontdesk.contact_shared))
    add(MessageHandler(private & filters.Document.FileExtension("csv"), admin_api.csv_document))
    # Before the fallbacks: every private message that is not a command is a client talking to the clinic.
    add(MessageHandler(private & ~filters.COMMAND & ~filters.StatusUpdate.ALL, client_messages.inbound))

    # Anyone may see what the bot holds about them and have it erased.
    add(CommandHandler("mydata", personal_data.my_data, filters=private))
    add(CommandHandler("forget", personal_data.forget, filters=private))
    add(button(Press.FORGET, personal_data.forget_answer))

    # Whatever is left: unknown commands and buttons get a polite answer.
    add(MessageHandler(filters.COMMAND, fallback.unknown_command))
    add(CallbackQueryHandler(fallback.unknown_button))
    application.add_error_handler(errors.on_error)


def replica_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


async def _post_init(application: Application) -> None:
    services: Services = application.bot_data["services"]
    bot = application.bot
    # First, so that whatever fails from here on reaches the admins.
    reports = ErrorReports(services, TelegramSender(bot))
    reports.install()
    limiter = bot.rate_limiter if isinstance(bot.rate_limiter, TelegramRateLimiter) else None
    paid = PaidBroadcast(limiter) if limiter is not None and services.settings.safety_paid_broadcast else None
    services.set_runtime(build_runtime(
        services, sender=TelegramSender(bot), messenger=TelegramMessenger(bot, paid), owner=replica_name(),
        error_reports=reports, pacing=limiter,
        # Lets domain code that had to postpone something (a queued message) ask for a timely pass.
        wake=lambda delay: jobs.wake(application, delay), after_pass=lambda: jobs.rearm(application),
    ))
    await editing.refresh(services.session_factory, services.catalog)  # plans edited from Telegram
    await booking_digest.ensure_scheduled(services)  # the daily summary of enrolments from booking systems
    await _set_command_menus(application)
    jobs.start(application)
    # What start-up built lives as long as the bot. Out of the collector's sight, a full collection takes
    # milliseconds instead of ~100 ms, a pause that would bunch up the messages the rate limiter spaced out.
    gc.freeze()


CLIENT_COMMANDS = ("help", "language", "stop", "mydata", "forget")
STAFF_COMMANDS = ("enrol", "client", "open", "staff", "help")
MENU_LANGUAGE_CODE = re.compile(r"[a-z]{2}")  # what Telegram takes as a menu's language_code (ISO 639-1)


def _menu(services: Services, names: tuple[str, ...], language: str) -> list[BotCommand]:
    return [BotCommand(name, services.label(f"menu_{name}", language)) for name in names]


async def _set_command_menus(application: Application) -> None:
    """Clients see the menu and description in their Telegram language when the clinic has texts in it (else in
    the default language); the team sees its menu in the staff language."""
    services: Services = application.bot_data["services"]
    bot, default = application.bot, services.settings.default_language
    private = BotCommandScopeAllPrivateChats()
    try:
        for language in services.languages:
            if MENU_LANGUAGE_CODE.fullmatch(language):
                await bot.set_my_commands(_menu(services, CLIENT_COMMANDS, language), scope=private,
                                          language_code=language)
                await bot.set_my_description(services.label("bot_description", language), language_code=language)
        await bot.set_my_commands(_menu(services, CLIENT_COMMANDS, default), scope=private)
        await bot.set_my_description(services.label("bot_description", default))
        if services.settings.staff_chat_id is not None:
            await bot.set_my_commands(_menu(services, STAFF_COMMANDS, services.staff_language),
                                      scope=BotCommandScopeChat(services.settings.staff_chat_id))
    except TelegramError as exc:
        # A menu is a convenience; the bot works without it, so this must not stop start-up.
        log.warning("could not register the command menu: %s", exc)
    await admin.install_admin_menus(application.bot, services)


async def _post_shutdown(application: Application) -> None:
    services: Services = application.bot_data["services"]
    # Lanes still running (a stop that did not go through the runner): cut short quietly before the database goes.
    await jobs.stop(services, services.settings.shutdown_timeout.total_seconds())
    if services.started and (reports := services.runtime.error_reports) is not None:
        await reports.close()
    await services.engine.dispose()
    gc.unfreeze()  # what start-up built may be collected again (another bot may start in this process)

