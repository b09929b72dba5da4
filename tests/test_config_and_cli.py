"""Settings are validated with answers an admin can act on; the plan check names file and line."""

from __future__ import annotations

import shutil
from datetime import time, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from aftercare_bot.cli import main
from aftercare_bot.config import SHIPPED_MESSAGES_DIR, Settings, describe_errors


def settings_error(**values: object) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, **values)  # type: ignore[call-arg]
    return describe_errors(caught.value)


def test_missing_token_and_phone_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("CLINIC_PHONE", raising=False)
    report = settings_error()
    assert "TELEGRAM_BOT_TOKEN: is required" in report and "CLINIC_PHONE: is required" in report


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("telegram_bot_token", "not-a-token", "looks like 123456789"),
        ("clinic_timezone", "Mars/Olympus", "not an IANA time zone"),
        ("quiet_hours", "9pm till 8", "21:00-08:00"),
        ("admin_ids", "12, bob", "separated by commas"),
        ("invite_ttl", "a week", "45s, 10m"),
        ("messages_dir", "/nonexistent", "no plans/ folder"),
    ],
)
def test_malformed_values_get_a_clear_message(field: str, value: str, expected: str) -> None:
    values = {"telegram_bot_token": "1:abc", "clinic_phone": "123", field: value}
    report = settings_error(**values)
    assert field.upper() in report and expected in report


def test_values_are_parsed() -> None:
    settings = Settings(
        _env_file=None, telegram_bot_token="1:abc", clinic_phone=" 0123 ", admin_ids="1, 2",  # type: ignore[call-arg]
        quiet_hours="21:30-07:45", invite_ttl="2d", telegram_api_base_url="http://127.0.0.1:8081/bot",
    )
    assert settings.admin_ids == [1, 2] and settings.clinic_phone == "0123"
    assert settings.quiet_hours.contains(time(23, 0)) and not settings.quiet_hours.contains(time(12, 0))
    assert settings.invite_ttl == timedelta(days=2)
    assert settings.telegram_api_base_file_url == "http://127.0.0.1:8081/file/bot"


def test_plan_check_passes_on_the_shipped_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "check", "--messages-dir", str(SHIPPED_MESSAGES_DIR)]) == 0


def test_plan_check_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    messages = tmp_path / "messages"
    shutil.copytree(SHIPPED_MESSAGES_DIR, messages)
    plan = messages / "plans" / "microneedling.yaml"
    original = plan.read_text()
    plan.write_text(original.replace("Hello {first_name}", "Hello {frist_name}"))
    assert main(["plan", "check", "--messages-dir", str(messages)]) == 1
    out = capsys.readouterr().out
    assert "microneedling.yaml:" in out and "frist_name" in out and "first_name" in out

    plan.write_text(original.replace("due: 4h", "due: 4 hours"))
    due_line = original.splitlines().index("    due: 4h") + 1
    assert main(["plan", "check", "--messages-dir", str(messages)]) == 1
    assert f"microneedling.yaml:{due_line}:" in capsys.readouterr().out
