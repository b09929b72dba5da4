"""Settings are validated with answers an admin can act on; the plan check names file and line."""

from __future__ import annotations

import shutil
from datetime import time, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from aftercare_bot.cli import load_services, main
from aftercare_bot.config import SHIPPED_MESSAGES_DIR, Settings, describe_errors
from aftercare_bot.texts.catalog import Texts
from aftercare_bot.texts.problem_reports import cli_text
from aftercare_bot.texts.problems import problem


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


def test_paid_safety_replies_are_off_by_default_and_need_the_flood_limits() -> None:
    values = {"telegram_bot_token": "1:abc", "clinic_phone": "123", "admin_ids": "1"}
    assert Settings(_env_file=None, **values).safety_paid_broadcast is False  # type: ignore[arg-type]
    assert Settings(_env_file=None, **values, safety_paid_broadcast="true").safety_paid_broadcast  # type: ignore[arg-type]
    report = settings_error(**values, safety_paid_broadcast="true", flood_limits="false")
    assert "SAFETY_PAID_BROADCAST" in report and "FLOOD_LIMITS=true" in report


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


def _broken_plan_settings(tmp_path: Path, start_refused: str | None = None) -> Settings:
    messages = tmp_path / "messages"
    shutil.copytree(SHIPPED_MESSAGES_DIR, messages)
    plan = messages / "plans" / "microneedling.yaml"
    plan.write_text(plan.read_text().replace("due: 4h", "due: 4 hours"))
    if start_refused is not None:
        admin = messages / "texts" / "en" / "admin.yaml"
        old = "cli_start_refused: 'The files in {folder} have problems; the bot will not start:'"
        assert old in admin.read_text()
        admin.write_text(admin.read_text().replace(old, f"cli_start_refused: '{start_refused}'"))
    return Settings(
        _env_file=None, telegram_bot_token="1:abc", clinic_phone="0123", admin_ids="1",  # type: ignore[call-arg]
        messages_dir=messages, database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
    )


def test_the_bot_refuses_to_start_with_broken_files_in_the_words_of_the_texts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _broken_plan_settings(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        load_services(settings)
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"The files in {settings.messages_dir} have problems; the bot will not start:"
    assert "microneedling.yaml:" in lines[1] and "4 hours" in lines[1]


def test_command_line_sentences_come_from_the_folders_texts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _broken_plan_settings(tmp_path, start_refused="Files in {folder} are broken &amp; the bot stays off:")
    with pytest.raises(SystemExit):
        load_services(settings)
    assert capsys.readouterr().err.splitlines()[0] == (
        f"Files in {settings.messages_dir} are broken & the bot stays off:"
    )


def test_a_command_line_sentence_missing_from_the_texts_falls_back_to_the_shipped_wording(tmp_path: Path) -> None:
    texts_dir = tmp_path / "texts"
    shutil.copytree(SHIPPED_MESSAGES_DIR / "texts", texts_dir)
    admin = texts_dir / "en" / "admin.yaml"
    admin.write_text(
        "\n".join(line for line in admin.read_text().splitlines() if not line.startswith("cli_import_saved:"))
    )
    texts = Texts.load(texts_dir)
    with pytest.raises(KeyError):
        texts.describe(problem("cli_import_saved", treatment="peel", revision=3))
    assert cli_text("cli_import_saved", texts, treatment="peel", revision=3) == "peel: saved as revision 3"
    assert cli_text("cli_import_nothing_imported", None) == "Nothing was imported."
