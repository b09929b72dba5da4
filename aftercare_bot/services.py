"""Everything a handler or job needs, built once at start-up and kept in `application.bot_data`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aftercare_bot.callbacks import CallbackSigner
from aftercare_bot.clock import Clock
from aftercare_bot.config import Settings
from aftercare_bot.delivery.compose import PlanMessageComposer
from aftercare_bot.plans.catalog import PlanCatalog
from aftercare_bot.texts import languages as language_names
from aftercare_bot.texts.catalog import Texts
from aftercare_bot.texts.rendering import clinic_values
from aftercare_bot.triage.rules import TriageRules

if TYPE_CHECKING:  # these modules import Services themselves
    from aftercare_bot.clients.privacy import RetentionPurger
    from aftercare_bot.delivery.dispatcher import Dispatcher
    from aftercare_bot.delivery.due_timers import TimerRunner
    from aftercare_bot.delivery.lanes import Lanes
    from aftercare_bot.delivery.outbox import Outbox
    from aftercare_bot.escalation.desk import EscalationDesk
    from aftercare_bot.inbound.receive import ClientConversation
    from aftercare_bot.reporting.weekly import WeeklyReports


class NotStartedError(RuntimeError):
    """A part of the Runtime was read before start-up built it."""


class ErrorReporting(Protocol):
    """Unexpected errors told to the admins (bot/error_reports.py)."""

    def flush(self) -> None: ...
    async def close(self, timeout: float = ...) -> None: ...  # noqa: ASYNC109


@dataclass(frozen=True, slots=True)
class Runtime:
    """What start-up builds once the Bot exists (app.build_runtime, called from app._post_init), set once.

    Typed attributes instead of a dictionary with string keys: a part that is missing or misspelt is an error
    where it is built or read, not a KeyError at the first update that needs it.
    """

    dispatcher: Dispatcher  # plan messages
    escalations: EscalationDesk
    outbox: Outbox  # every message that must not be lost, staff notices included (the desk's own)
    conversation: ClientConversation  # what clients write
    timer_runner: TimerRunner  # escalation re-alerts, check-in reminders, queued messages
    retention: RetentionPurger
    reports: WeeklyReports  # the weekly report to the admins
    lanes: Lanes  # client, staff and plans: each makes progress on its own
    wake: Callable[[float], None]  # asks for a pass within that many seconds (something had to be postponed)
    error_reports: ErrorReporting | None = None  # None where nobody is to be told (tests, benchmarks)


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    clock: Clock
    catalog: PlanCatalog
    texts: Texts
    signer: CallbackSigner
    composer: PlanMessageComposer
    # Set once by set_runtime; an init field only so that dataclasses.replace keeps it.
    _runtime: Runtime | None = field(default=None, repr=False, kw_only=True)

    @property
    def runtime(self) -> Runtime:
        """The dispatcher, the escalation desk, the outbox, ...: built at start-up, once the Bot exists."""
        if self._runtime is None:
            raise NotStartedError(
                "Services.runtime was read before start-up built it (app._post_init, once the Bot exists)"
            )
        return self._runtime

    @property
    def started(self) -> bool:
        """Whether start-up has built the Runtime; for code that may also run before it (health, shutdown)."""
        return self._runtime is not None

    def set_runtime(self, runtime: Runtime) -> None:
        if self._runtime is not None:
            raise RuntimeError("the Runtime is built once per start-up; build new Services to start again")
        self._runtime = runtime

    @property
    def staff_language(self) -> str:
        """What the team reads (STAFF_LANGUAGE, else DEFAULT_LANGUAGE)."""
        return self.settings.staff_language or self.settings.default_language

    @property
    def languages(self) -> list[str]:
        """The languages the clinic has texts in: those a client may be spoken to in."""
        return self.texts.languages

    def language_name(self, code: str) -> str:
        """The language's name written in itself, as its own texts give it (`language_name`), else as CLDR does."""
        if self.texts.has(language_names.NAME_KEY, code):
            return self.texts.label(language_names.NAME_KEY, code)
        return language_names.native_name(code)

    def text(self, key: str, language: str | None = None, /, **values: object) -> str:
        """A UI string (HTML) in the given language, with the clinic's details always available."""
        return self.texts.get(key, language or self.settings.default_language, **self._with_clinic(values))

    def label(self, key: str, language: str | None = None, /, **values: object) -> str:
        """Plain text, for button labels and other places Telegram does not parse as HTML."""
        return self.texts.label(key, language or self.settings.default_language, **self._with_clinic(values))

    @cached_property
    def triage_rules(self) -> TriageRules:
        """The triage rule files (messages/triage), loaded once."""
        return TriageRules.load(self.settings.messages_dir / "triage")

    def ask_back_label(self, language: str | None, option_id: str, *, or_in: str | None = None) -> str:
        """The label of an ask-back button in `language` (else in `or_in`, such as the language the client saw it
        in); the option id if the rules no longer have it."""
        rules = self.triage_rules
        for wanted in (language, or_in):
            lang = rules.for_language(wanted) or rules.for_language(self.settings.default_language)
            option = lang.ask_back.option(option_id) if lang is not None and lang.ask_back is not None else None
            if option is not None:
                return option.label
        return option_id

    def _with_clinic(self, values: dict[str, object]) -> dict[str, object]:
        return {**clinic_values(self.settings), **values}
