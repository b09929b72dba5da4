"""Warning-sign texts keep the clinic's phone and the urgent-care advice: in Telegram, and at start-up."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from aftercare_bot.cli import load_services
from aftercare_bot.config import SHIPPED_MESSAGES_DIR
from aftercare_bot.db.models import PlanDraft, PlanRevision
from tests.support.admin_helpers import edit_text, open_step, press, say

SHIPPED_PLAN = (SHIPPED_MESSAGES_DIR / "plans" / "microneedling.yaml").read_text().splitlines()
DAY3_TEXT_LINE = next(n for n, line in enumerate(SHIPPED_PLAN, 1) if "it is three days since" in line)


async def stored(bot, model) -> int:  # type: ignore[no-untyped-def]
    async with bot.services.session_factory() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_an_admin_is_told_kindly_and_nothing_changes_until_the_text_is_safe(bot) -> None:
    admin = bot.admin
    card = await open_step(bot, admin, "Micro-needling", "day3_warning_signs")
    await edit_text(bot, admin, card)

    refusal = await say(bot, admin, "Hello {first_name}, call us if you notice bleeding.", "can't be saved")
    text = refusal.plain_text
    assert text.startswith("Sorry, this can't be saved: this message tells clients about warning signs")
    assert "how to reach the clinic ({clinic_phone})" in text and "Nothing was changed." in text
    assert "• step 'day3_warning_signs', text 'en': this message tells clients about warning signs, so it must" \
        " always say how to reach the clinic — keep {clinic_phone} in it" in text
    assert "keep one of “emergency services”" in text
    assert not refusal.buttons, "no Save button"
    assert bot.services.catalog.revision("microneedling") is None
    assert await stored(bot, PlanRevision) == 0 and await stored(bot, PlanDraft) == 0

    # The edit goes on: the corrected text is offered for saving.
    safe = "Hello {first_name}: bleeding? Call {clinic_phone}. Difficulty breathing? Call emergency services."
    offer = await say(bot, admin, safe, "Save")
    assert "Call +44 20 7946 0000" in offer.plain_text
    await press(bot, admin, offer, "Save", "Saved as")
    assert bot.services.catalog.get("microneedling").step("day3_warning_signs").texts["en"] == safe


async def test_a_translation_without_the_advice_is_refused_in_telegram(bot) -> None:
    admin = bot.admin
    card = await open_step(bot, admin, "Micro-needling", "day7_checkin")
    await press(bot, admin, card, "Add a language", "Which language")
    await say(bot, admin, "de", "no title in de")
    await say(bot, admin, "Microneedling", "Send the new text of How is your skin? (day 7) in de")
    refusal = await say(bot, admin, "Wie geht es Ihnen, {first_name}? Fragen: {clinic_phone}", "can't be saved")
    assert "text 'de'" in refusal.plain_text and "“notruf”" in refusal.plain_text
    assert bot.services.catalog.get("microneedling").languages == ("en", "ru"), "nothing was saved: no de"


def _broken_messages(tmp_path: Path, where: str) -> Path:
    messages = tmp_path / "messages"
    shutil.copytree(SHIPPED_MESSAGES_DIR, messages)
    if where == "plan":
        plan = messages / "plans" / "microneedling.yaml"
        plan.write_text(plan.read_text().replace("<b>Contact us at once on {clinic_phone}</b>", "Contact us"))
    else:
        texts = messages / "texts" / "en" / "escalation.yaml"
        original = texts.read_text()
        texts.write_text(original.replace("<b>call emergency services</b> straight away.\n\n  I have", "I have"))
    return messages


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (
            "plan",
            f"plans/microneedling.yaml:{DAY3_TEXT_LINE}: step 'day3_warning_signs', text 'en': this message tells"
            " clients about warning signs, so it must always say how to reach the clinic — keep {clinic_phone} in it",
        ),
        (
            "texts",
            "texts/en/escalation.yaml:14: esc_safety_urgent: this message tells clients about warning signs, so it"
            " must always say when to seek urgent care — keep one of “emergency services”",
        ),
    ],
)
def test_the_bot_refuses_to_start_naming_the_file_and_the_text(
    make_settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, expected: str
) -> None:
    messages = _broken_messages(tmp_path, where)
    with pytest.raises(SystemExit) as stopped:
        load_services(make_settings(messages_dir=messages))
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "have problems; the bot will not start" in error
    assert expected in error


def test_plan_check_reports_both_files_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aftercare_bot.cli import main

    messages = _broken_messages(tmp_path, "plan")
    texts = _broken_messages(tmp_path / "other", "texts") / "texts"
    shutil.rmtree(messages / "texts")
    shutil.copytree(texts, messages / "texts")
    assert main(["plan", "check", "--messages-dir", str(messages)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ", 2)[1] for line in lines[:1]] == ["step 'day3_warning_signs', text 'en'"]
    assert lines[1] == "1 problem found — fix it and run the check again."
    assert lines[2].endswith(
        "esc_safety_urgent: this message tells clients about warning signs, so it must always say when to seek"
        " urgent care — keep one of “emergency services”, “emergency department”, “a&e”, “call 999”, “call 911”,"
        " “call 112” in it, for example “If you have difficulty breathing or swelling of the face or throat, call"
        " emergency services.”"
    )
    assert "texts/en/escalation.yaml:14: " in lines[2] and len(lines) == 3


STEPS_LINE = SHIPPED_PLAN.index("steps:") + 1
DAY7_LINE = SHIPPED_PLAN.index("  - key: day7_checkin") + 1


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda text: text.replace("  - key: day7_checkin\n", "  - key: day7_checkin\n    enabled: false\n"),
            f"plans/microneedling.yaml:{DAY7_LINE + 1}: step 'day7_checkin' tells clients about warning signs"
            " (warning_signs: true), so it cannot be turned off",
        ),
        (
            lambda text: re.sub(r"    warning_signs: true.*\n", "", text),
            f"plans/microneedling.yaml:{STEPS_LINE}: no step is marked warning_signs: true — every plan must tell"
            " clients the warning signs of infection or bleeding",
        ),
    ],
)
def test_a_plan_without_a_warning_sign_step_in_use_stops_the_start_and_fails_the_check(
    make_settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], change, expected: str
) -> None:
    from aftercare_bot.cli import main

    messages = tmp_path / "messages"
    shutil.copytree(SHIPPED_MESSAGES_DIR, messages)
    plan = messages / "plans" / "microneedling.yaml"
    plan.write_text(change(plan.read_text()))
    with pytest.raises(SystemExit) as stopped:
        load_services(make_settings(messages_dir=messages))
    assert stopped.value.code == 2 and expected in capsys.readouterr().err
    assert main(["plan", "check", "--messages-dir", str(messages)]) == 1
    assert expected in capsys.readouterr().out
