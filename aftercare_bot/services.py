"""Everything a handler or job needs, built once at start-up and kept in `application.bot_data`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aftercare_bot.callbacks import CallbackSigner
from aftercare_bot.clock import Clock
from aftercare_bot.config import Settings
from aftercare_bot.plan_catalog import PlanCatalog
from aftercare_bot.plan_messages import PlanMessageComposer
from aftercare_bot.texts import Texts


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
    # Filled in post_init, once the Bot exists: the dispatcher, the timer runner, ...
    runtime: dict[str, Any] = field(default_factory=dict)

    def text(self, key: str, language: str | None = None, **values: object) -> str:
        """A UI string in the given language, with clinic details always available to the template."""
        values.setdefault("clinic_name", self.settings.clinic_name)
        values.setdefault("clinic_phone", self.settings.clinic_phone)
        return self.texts.get(key, language or self.settings.default_language, **values)

    def label(self, key: str, language: str | None = None) -> str:
        return self.texts.label(key, language or self.settings.default_language)
