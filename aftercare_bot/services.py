"""Everything a handler or job needs, built once at start-up and kept in `application.bot_data`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from aftercare_bot.callbacks import CallbackSigner
from aftercare_bot.clock import Clock
from aftercare_bot.config import Settings
from aftercare_bot.delivery.compose import PlanMessageComposer
from aftercare_bot.plans.catalog import PlanCatalog
from aftercare_bot.texts.catalog import Texts


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

    def text(self, key: str, language: str | None = None, /, **values: object) -> str:
        """A UI string (HTML) in the given language, with the clinic's details always available."""
        return self.texts.get(key, language or self.settings.default_language, **self._with_clinic(values))

    def label(self, key: str, language: str | None = None, /, **values: object) -> str:
        """Plain text, for button labels and other places Telegram does not parse as HTML."""
        return self.texts.label(key, language or self.settings.default_language, **self._with_clinic(values))

    def _with_clinic(self, values: dict[str, object]) -> dict[str, object]:
        return {"clinic_name": self.settings.clinic_name, "clinic_phone": self.settings.clinic_phone, **values}
