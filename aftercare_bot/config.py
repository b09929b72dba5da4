"""The one validated settings object, read from the environment and an optional `.env` file."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_DURATION_PART = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def default_messages_dir(package_dir: Path) -> Path:
    """The checkout's messages/ (the folder clinics edit) when run from source, else the copy inside the wheel."""
    checkout = package_dir.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "messages" / "plans").is_dir():
        return checkout / "messages"
    return package_dir / "bundled_messages"


SHIPPED_MESSAGES_DIR = default_messages_dir(Path(__file__).resolve().parent)


def parse_duration_setting(value: object) -> object:
    """Accept '10m', '1h 30m', '2d' as well as a plain number of seconds."""
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    if text.replace(".", "", 1).isdigit():
        return timedelta(seconds=float(text))
    parts = _DURATION_PART.findall(text)
    if not parts or _DURATION_PART.sub("", text).strip():
        raise ValueError(f"'{value}' is not a duration; write it like 45s, 10m, 6h, 2d or 1w")
    return timedelta(seconds=sum(int(n) * _UNIT_SECONDS[unit] for n, unit in parts))


Duration = Annotated[timedelta, BeforeValidator(parse_duration_setting)]
MIN_RETENTION = timedelta(days=1)
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})*")
WEBHOOK_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as secret_token


def _blank_is_unset(value: object) -> object:
    """`WEBHOOK_URL=` in a .env file means "not set", not "set to nothing"."""
    return None if isinstance(value, str) and not value.strip() else value


class QuietHours:
    """A daily window of clinic-local time in which scheduled messages wait; it may cross midnight."""

    def __init__(self, start: time, end: time) -> None:
        self.start, self.end = start, end

    def contains(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def __repr__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _parse_quiet_hours(value: object) -> object:
    if value is None or isinstance(value, QuietHours):
        return value
    text = str(value).strip()
    if text.lower() in {"", "off", "none"}:
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", text)
    if not match:
        raise ValueError(f"'{value}' is not a time range; write it like 21:00-08:00, or 'off'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError as exc:
        raise ValueError(f"'{value}' has an impossible clock time") from exc
    if start == end:
        raise ValueError("quiet hours must not start and end at the same time; use 'off' to disable them")
    return QuietHours(start, end)


def _parse_clock(value: object) -> object:
    if isinstance(value, str):
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise ValueError(f"'{value}' is not a clock time; write it like 18:00")
        return time(int(match[1]), int(match[2]))
    return value


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class WeeklySchedule:
    """A moment of the week in clinic time, such as Monday 09:00 (the weekly report)."""

    def __init__(self, weekday: int, at: time) -> None:
        self.weekday, self.at = weekday, at

    def latest(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """The last such moment at or before `moment` (aware UTC in, aware UTC out)."""
        local = moment.astimezone(tz)
        day = local.date() - timedelta(days=(local.weekday() - self.weekday) % 7)
        found = datetime.combine(day, self.at, tzinfo=tz).astimezone(UTC)
        if found > moment:
            found = datetime.combine(day - timedelta(days=7), self.at, tzinfo=tz).astimezone(UTC)
        return found

    def following(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """The first such moment after `moment`."""
        day = self.latest(moment, tz).astimezone(tz).date() + timedelta(days=7)
        return datetime.combine(day, self.at, tzinfo=tz).astimezone(UTC)

    def __repr__(self) -> str:
        return f"{_WEEKDAYS[self.weekday]} {self.at:%H:%M}"


def _parse_weekly(value: object) -> object:
    if value is None or isinstance(value, WeeklySchedule):
        return value
    text = str(value).strip().lower()
    if text in {"", "off", "none"}:
        return None
    match = re.fullmatch(r"([a-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})", text)
    if not match or match.group(1) not in _WEEKDAYS:
        raise ValueError(f"'{value}' is not a day and time of the week; write it like 'mon 09:00', or leave it empty")
    try:
        at = time(int(match.group(2)), int(match.group(3)))
    except ValueError as exc:
        raise ValueError(f"'{value}' has an impossible clock time") from exc
    return WeeklySchedule(_WEEKDAYS.index(match.group(1)), at)


def _parse_retention(value: object) -> object:
    """A duration, or "off" to keep finished conversations until a client asks for them to be erased."""
    if isinstance(value, str) and value.strip().lower() in {"", "off", "none", "never"}:
        return None
    value = parse_duration_setting(value)
    if isinstance(value, timedelta) and value < MIN_RETENTION:
        raise ValueError("RETENTION_PERIOD must be at least 1d (or 'off'); write it like 365d or 52w")
    return value


def _language_code(value: object) -> object:
    """"ru", "pt-BR", "en_gb": two or three letters, then an optional region or script; kept as written, lowercased."""
    if not isinstance(value, str):
        return value
    code = value.strip().replace("_", "-").lower()
    if not LANGUAGE_CODE.fullmatch(code):
        raise ValueError(f"'{value}' is not a language code; write it like en, ru or es")
    return code


def _parse_id_list(value: object) -> object:
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        try:
            return [int(p) for p in parts]
        except ValueError as exc:
            raise ValueError(f"'{value}' must be Telegram user ids (numbers) separated by commas") from exc
    if isinstance(value, int):
        return [value]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", arbitrary_types_allowed=True)

    telegram_bot_token: SecretStr
    telegram_api_base_url: str | None = None
    database_url: str = "sqlite+aiosqlite:///aftercare.db"
    staff_chat_id: int | None = None
    admin_ids: Annotated[list[int], NoDecode, BeforeValidator(_parse_id_list)] = Field(default_factory=list)
    clinic_name: str = "our clinic"
    clinic_phone: str
    clinic_timezone: str = "UTC"
    # Aftercare messages wait for the morning unless the clinic says otherwise.
    quiet_hours: Annotated[QuietHours | None, NoDecode, BeforeValidator(_parse_quiet_hours)] = Field(
        default="21:00-08:00", validate_default=True
    )
    messages_dir: Path = SHIPPED_MESSAGES_DIR
    # Clients whose language the clinic has no texts for (and who chose none) get this one.
    default_language: Annotated[str, BeforeValidator(_language_code)] = "en"
    # What the team reads: cards, notices, admin screens, reports. Empty: the default language.
    staff_language: Annotated[str | None, BeforeValidator(_language_code), BeforeValidator(_blank_is_unset)] = None

    invite_ttl: Duration = timedelta(days=7)
    dispatch_tick: Duration = timedelta(seconds=30)
    dispatch_batch_size: int = Field(default=100, ge=1, le=1000)
    send_lease: Duration = timedelta(minutes=2)
    escalation_realert_after: Duration = timedelta(minutes=10)
    escalation_final_after: Duration = timedelta(minutes=10)
    checkin_reminder_after: Duration = timedelta(hours=8)
    checkin_no_response_after: Duration = timedelta(hours=16)
    flood_limits: bool = True
    # While Telegram's overall limit (30 messages a second) is saturated, send safety advice to clients as paid
    # broadcasts (0.1 Telegram Star each from the bot's balance) so that it is not queued behind it.
    safety_paid_broadcast: bool = False
    # Finished conversations (every plan over, nothing said for this long) are erased; None keeps them.
    retention_period: Annotated[timedelta | None, NoDecode, BeforeValidator(_parse_retention)] = timedelta(days=365)
    # When the weekly report goes to the admins, in clinic time ("mon 09:00"); empty turns it off.
    report_schedule: Annotated[WeeklySchedule | None, NoDecode, BeforeValidator(_parse_weekly)] = Field(
        default="mon 09:00", validate_default=True
    )
    # How long one Bot API call (connect, upload, answer) may take before it counts as failed and is retried.
    telegram_timeout: Duration = timedelta(seconds=5)

    # Webhook mode, /healthz and the graceful stop (README: "Production: webhooks and several replicas").
    webhook_url: Annotated[str | None, BeforeValidator(_blank_is_unset)] = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    webhook_secret: Annotated[SecretStr | None, BeforeValidator(_blank_is_unset)] = None
    health_port: Annotated[Annotated[int, Field(ge=1, le=65535)] | None, BeforeValidator(_blank_is_unset)] = None
    shutdown_timeout: Duration = timedelta(seconds=8)

    # The enrolment API for booking systems, served by the bot's web server (docs/enrolment-api.md).
    api_enabled: bool = True
    api_rate_limit: int = Field(default=60, ge=1, le=100_000)  # requests per minute per key
    # Where phone numbers written without a country code are from (ISO 3166 code such as GB).
    clinic_region: str = "GB"
    # Clinic time at which the staff chat hears of the day's enrolments made by the API or an import.
    enrolment_summary_at: Annotated[time, BeforeValidator(lambda v: _parse_clock(v))] = time(18, 0)

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not re.fullmatch(r"\d+:[\w-]+", value.get_secret_value()):
            raise ValueError("the token from BotFather looks like 123456789:AAE...; check TELEGRAM_BOT_TOKEN")
        return value

    @field_validator("clinic_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"'{value}' is not an IANA time zone name such as Europe/London") from exc
        return value

    @field_validator("clinic_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        import phonenumbers

        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"'{value}' is not a two-letter country code such as GB, IE or US")
        return region

    @field_validator("clinic_phone")
    @classmethod
    def _phone_present(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("warning-sign messages tell clients to call the clinic, so a phone number is needed")
        return value.strip()

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url_shape(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        parsed = urlsplit(value.strip())
        if parsed.scheme not in {"http", "https"} or not parsed.hostname:
            raise ValueError(f"'{value}' is not a full address such as https://bot.example.org/telegram")
        # Telegram itself only calls https addresses; a local Bot API server (TELEGRAM_API_BASE_URL) may use http.
        if parsed.scheme != "https" and not info.data.get("telegram_api_base_url"):
            raise ValueError("Telegram only delivers to https:// addresses")
        return value.strip()

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not WEBHOOK_SECRET_SHAPE.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1 to 256 characters, only letters A-Z a-z, digits, _ and -")
        return value

    @field_validator("messages_dir")
    @classmethod
    def _messages_dir_exists(cls, value: Path) -> Path:
        if not (value / "plans").is_dir():
            raise ValueError(f"{value} has no plans/ folder; point MESSAGES_DIR at a copy of messages/")
        return value

    @model_validator(mode="after")
    def _staff_language_defaults(self) -> Settings:
        if self.staff_language is None:
            self.staff_language = self.default_language
        return self

    @model_validator(mode="after")
    def _someone_receives_escalations(self) -> Settings:
        if self.staff_chat_id is None and not self.admin_ids:
            raise ValueError(
                "set STAFF_CHAT_ID (the staff group) or ADMIN_IDS: worrying client replies must reach a person"
            )
        return self

    @model_validator(mode="after")
    def _paid_broadcast_needs_flood_limits(self) -> Settings:
        if self.safety_paid_broadcast and not self.flood_limits:
            raise ValueError(
                "SAFETY_PAID_BROADCAST pays only while the bot's own flood limits are saturated; "
                "set FLOOD_LIMITS=true with it"
            )
        return self

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic_timezone)

    @property
    def telegram_api_base_file_url(self) -> str | None:
        if not self.telegram_api_base_url:
            return None
        base = self.telegram_api_base_url.rstrip("/")
        return base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base + "/file/bot"


def describe_errors(error: ValidationError) -> str:
    """Turn pydantic's report into lines a clinic admin can act on, naming the environment variable."""
    lines = ["The bot's settings are incomplete or wrong:"]
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "is required but not set (environment variable or .env file)"
        lines.append(f"  {str(item['loc'][0]).upper()}: {message}" if item["loc"] else f"  {message}")
    return "\n".join(lines)
