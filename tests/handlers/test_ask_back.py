"""Asking back: a symptom the rules cannot place gets one question with a button per warning sign, through the
real handlers. A warning sign makes the case urgent at once; "None of these" or silence leave a marked concern."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import select

from aftercare_bot.config import SHIPPED_MESSAGES_DIR
from aftercare_bot.db.models import Escalation, Timer
from aftercare_bot.escalation.timers import REALERT_TIMER
from tests.support.admin_helpers import button_data
from tests.support.fast_rig import FastRig

ANN, BO = 5001, 5002
QUESTION = "is any of these happening now?"


@pytest.fixture
async def rig(make_settings) -> AsyncIterator[FastRig]:
    rig = await FastRig.start(make_settings())
    yield rig
    rig.assert_healthy()
    await rig.stop()


async def cases(rig: FastRig) -> list[Escalation]:
    async with rig.services.session_factory() as session:
        return list((await session.scalars(select(Escalation).order_by(Escalation.id))).all())


async def realerts(rig: FastRig) -> list[Timer]:
    async with rig.services.session_factory() as session:
        return list((await session.scalars(select(Timer).where(Timer.kind == REALERT_TIMER))).all())


def card_texts(rig: FastRig) -> list[str]:
    """Every version of the staff chat's cards: as posted, then as edited."""
    posted = [m.plain_text or "" for m in rig.telegram.sent_messages(rig.staff_chat)]
    edited = [call.get("text", "") for call in rig.telegram.calls_to("editMessageText")]
    return posted + edited


async def asked(rig: FastRig, text: str = "my cheek feels a bit lumpy"):  # type: ignore[no-untyped-def]
    ann = await rig.enrol(ANN, "Ann Smith")
    await rig.text(ann, text)
    question = rig.last_bot_message(ann)
    assert QUESTION in (question.plain_text or "")
    return ann, question


async def test_the_question_has_a_button_per_warning_sign_and_the_card_says_so(rig: FastRig) -> None:
    _, question = await asked(rig)
    labels = question.button_texts
    assert len(labels) == 6 and labels[-1] == "None of these"
    assert any("Bleeding" in label for label in labels) and any("breathing" in label for label in labels)
    assert "call" in (question.plain_text or "")  # how to reach the clinic, and when to seek urgent care
    [case] = await cases(rig)
    assert case.level == "concern" and case.asked_back_at is not None and case.ask_back_answer is None
    assert any("Asked the client about warning signs" in t and "no answer yet" in t for t in card_texts(rig))
    assert await realerts(rig) == [], "no answer leaves a concern, not an urgent case"


async def test_a_warning_sign_tap_makes_the_case_urgent_at_once(rig: FastRig) -> None:
    ann, question = await asked(rig)
    none_data = button_data(question, "None of these")
    update = await rig.press(ann, question, button_data(question, "Bleeding"))
    assert "needs attention now" in (rig.last_bot_message(ann).plain_text or "")
    [case] = await cases(rig)
    assert case.level == "urgent" and case.ask_back_answer == "bleeding"
    assert "pressed a warning sign" in case.reasons
    assert [t.subject_id for t in await realerts(rig)] == [case.id], "re-alert and fallback as for words"
    texts = card_texts(rig)
    assert any("URGENT" in t and "Bleeding that will not stop" in t for t in texts)
    assert any("raises the case to URGENT" in t for t in texts)
    assert rig.callback_answer(update) is not None

    # Pressed again (or the update replayed): one answer only, no second safety message.
    sent_before = len(rig.telegram.sent_messages(ann))
    again = await rig.press(ann, question, none_data, forged=True)  # its buttons are gone: a replayed press
    assert "already answered" in (rig.callback_answer(again) or {}).get("text", "")
    assert len(rig.telegram.sent_messages(ann)) == sent_before
    [case] = await cases(rig)
    assert case.level == "urgent" and case.ask_back_answer == "bleeding"


async def test_none_of_these_leaves_a_concern_marked_as_asked_and_answered(rig: FastRig) -> None:
    ann, question = await asked(rig)
    await rig.press(ann, question, button_data(question, "None of these"))
    assert "team has your message" in (rig.last_bot_message(ann).plain_text or "")
    [case] = await cases(rig)
    assert case.level == "concern" and case.ask_back_answer == "none" and case.ask_back_answered_at is not None
    assert await realerts(rig) == []
    assert any("they pressed None of these" in t for t in card_texts(rig))


async def test_someone_elses_or_a_forged_press_changes_nothing(rig: FastRig) -> None:
    ann, question = await asked(rig)
    bo = await rig.enrol(BO, "Bo Lee")
    data = button_data(question, "Bleeding")
    not_yours = await rig.press(bo, question, data)
    assert "not for you" in (rig.callback_answer(not_yours) or {}).get("text", "")
    forged = await rig.press(ann, question, data.replace("bleeding", "allergy"), forged=True)
    assert "no longer valid" in (rig.callback_answer(forged) or {}).get("text", "")
    case_id = data.split(":")[1].split("-")[0]
    other_ref = rig.services.signer.sign("ab", f"{case_id}-{'0' * 12}", "bleeding")
    stale = await rig.press(ann, question, other_ref, forged=True)
    assert "no longer valid" in (rig.callback_answer(stale) or {}).get("text", "")
    [case] = await cases(rig)
    assert case.level == "concern" and case.ask_back_answer is None
    assert await realerts(rig) == []


async def test_questions_and_greetings(rig: FastRig) -> None:
    ann = await rig.enrol(ANN, "Ann Smith")
    await rig.text(ann, "hi there")
    await rig.text(ann, "No change, all calm 👍")
    assert await cases(rig) == [], "greetings and 'all calm' raise no card"
    await rig.text(ann, "r u guys open on sundays")
    [case] = await cases(rig)
    assert case.kind == "question" and case.asked_back_at is None
    assert any("Question" in t and "not a symptom" in t for t in card_texts(rig))
    assert QUESTION not in (rig.last_bot_message(ann).plain_text or "")


# --- small things: wording of timers and of enrolment --------------------------------------------------------


async def test_enrolling_after_every_step_is_past_promises_no_message(make_settings, tmp_path) -> None:
    messages = tmp_path / "messages"
    shutil.copytree(SHIPPED_MESSAGES_DIR, messages)
    plan_file = messages / "plans" / "microneedling.yaml"
    plan = yaml.safe_load(plan_file.read_text(encoding="utf-8"))
    plan["steps"] = [step for step in plan["steps"] if not str(step["due"]).startswith("day 42")]
    plan_file.write_text(yaml.safe_dump(plan, allow_unicode=True, sort_keys=False), encoding="utf-8")
    rig = await FastRig.start(make_settings(messages_dir=messages))
    try:
        session = (rig.clock.now() - timedelta(days=13)).strftime("%Y-%m-%d %H:%M")
        ann = await rig.enrol(ANN, "Ann Smith", options=f"at={session}")
        told = rig.last_bot_message(ann).plain_text or ""
        assert "arrive soon" not in told and "none will be sent" in told
        rig.assert_healthy()
    finally:
        await rig.stop()


async def test_durations_under_a_minute_and_admins_without_a_name(rig: FastRig) -> None:
    texts = rig.services.runtime.escalations.texts
    assert texts.duration(timedelta(seconds=30)) == "30 s"
    assert texts.duration(timedelta(minutes=15)) == "15 min"
    async with rig.services.session_factory() as session:
        admins = await rig.services.runtime.escalations.timers._admins(session)
    assert admins and all(not name.isdigit() for _, name in admins)
