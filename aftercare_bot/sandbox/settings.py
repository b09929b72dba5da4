"""Settings for the sandbox: the clinic's own choices where given, the sandbox's fixed wiring otherwise.

Clinic-facing settings (CLINIC_NAME, MESSAGES_DIR, QUIET_HOURS, ...) are read from the environment and
`.env` like `aftercare-bot run` does, so a clinic can preview its own texts; when unset, the defaults
below apply, so no configuration is needed at all. The token, the Bot API address, the database and the
people are always the sandbox's own: nothing can reach the real Telegram or a real database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aftercare_bot.config import Settings

SANDBOX_TOKEN = "7000000001:SANDBOX-offline-token"
BOT_USERNAME = "aftercare_sandbox_bot"
BOT_NAME = "Aftercare"
STAFF_CHAT_ID = -1001000000001
STAFF_CHAT_TITLE = "Clinic team"
ADMIN_ID = 1001
FRONT_DESK_ID = 1002
NURSE_ID = 1003
FIRST_CLIENT_ID = 5001


class SandboxSettings(Settings):
    clinic_name: str = "Glow Skin Clinic"
    clinic_phone: str = "+44 20 7946 0000"
    clinic_timezone: str = "Europe/London"


def sandbox_settings(
    api_base_url: str, database_path: Path, *, env_file: str | None = ".env", **overrides: Any
) -> Settings:
    forced: dict[str, Any] = {
        "telegram_bot_token": SANDBOX_TOKEN,
        "telegram_api_base_url": api_base_url,
        "database_url": f"sqlite+aiosqlite:///{database_path}",
        "staff_chat_id": STAFF_CHAT_ID,
        "admin_ids": [ADMIN_ID],
        "flood_limits": False,
        "safety_paid_broadcast": False,  # nothing is ever paid for in the sandbox (and it needs the flood limits)
        # Never listen on other addresses or register a webhook, whatever a .env file says.
        "webhook_url": None,
        "health_port": None,
    }
    forced = {name: value for name, value in forced.items() if name in Settings.model_fields}
    return SandboxSettings(_env_file=env_file, **{**overrides, **forced})  # type: ignore[call-arg]
