"""The sandbox (`aftercare-bot sandbox`) started in the test's own event loop, for its API and page tests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aftercare_bot.config import Settings
from aftercare_bot.sandbox import Sandbox


@contextlib.asynccontextmanager
async def running_sandbox(monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> AsyncIterator[Sandbox]:
    for name in list(os.environ):
        if name.lower() in Settings.model_fields:
            monkeypatch.delenv(name)
    sandbox = Sandbox(port=0, env_file=None, **overrides)
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.stop()
    assert sandbox.telegram.spec_violations == [], "the bot made calls the Bot API would refuse"
