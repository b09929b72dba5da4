"""End to end: an admin edits the plans from Telegram, and enrolled clients get the result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from aftercare_bot.db.models import Delivery, DeliveryState, PlanRevision
from aftercare_bot.plans import typed_edits
from tests.support.admin_helpers import edit_text, open_step, press, say, showing

SESSION = datetime(2026, 1, 13, 14, 0, tzinfo=UTC)


async def test_an_admin_fixes_mistakes_then_the_next_message_uses_the_new_text(bot) -> None:
    bot.clock.set(SESSION)
    ann = await bot.enrol_client(5001, "Ann Smith")
    admin = bot.admin
    card = await open_step(bot, admin, "Micro-needling", "same_evening")
    assert "Sent: 4h after the treatment" in card.plain_text
    assert "Hello Anna, thank you for visiting Glow & Co <Clinic> today." in card.plain_text, "the preview is on it"

    await edit_text(bot, admin, card)
    problem = await say(bot, admin, "Hello {frist_name}, see you soon", "can't be used")
    assert "did you mean {first_name}?" in problem.plain_text
    problem = await say(bot, admin, "Hello <b>{first_name}, see you soon", "can't be used")
    assert "never closed" in problem.plain_text and "</b>" in problem.plain_text
    # same_evening tells about warning signs, so its text keeps the clinic's phone and the emergency advice.
    evening = "Hello <b>{first_name}</b>, see you soon. Call {clinic_phone}; in an emergency, emergency services."
    offer = await say(bot, admin, evening, "Save")
    assert "Hello Anna, see you soon. Call +44 20 7946 0000; in an emergency, emergency services." in offer.plain_text
    saved = await press(bot, admin, offer, "Save", "Saved as")
    assert "version 1" in saved.plain_text

    await bot.jump(timedelta(hours=4, seconds=1))
    message = await bot.telegram.wait_for_message(ann, "see you soon", since=0)
    assert message.plain_text == "Hello Ann, see you soon. Call +44 20 7946 0000; in an emergency, emergency services."
    assert "<b>Ann</b>" in message.text
    async with bot.services.session_factory() as session:
        evening = await session.scalar(select(Delivery).where(Delivery.step_key == "same_evening"))
        revision = await session.scalar(select(PlanRevision))
    assert evening.state == DeliveryState.SENT and evening.plan_revision == 1
    assert (revision.created_by, revision.created_by_name) == (admin.id, "Alex")


async def test_telegram_formatting_becomes_tags_and_a_test_reaches_the_admin(bot) -> None:
    admin = bot.admin
    card = await open_step(bot, admin, "Micro-needling", "day2_sun")
    await edit_text(bot, admin, card)
    since = bot.telegram.last_message_id(admin)
    # As sent by a Telegram app when the admin makes "Sun care" bold with the app's formatting menu.
    formatted = {
        "text": "Sun care, Bo: stay in the shade",
        "entities": [{"type": "bold", "offset": 0, "length": 8}],
    }
    bot.telegram._user_message(admin, None, formatted, None)
    offer = await bot.telegram.wait_for_message(admin, showing("Save"), since=since)
    test = await press(bot, admin, offer, "Send me a test")
    assert test.plain_text == "Sun care, Bo: stay in the shade"
    assert test.text.startswith("<b>Sun care</b>")


async def test_history_lists_versions_and_restores_one(bot) -> None:
    admin = bot.admin
    card = await open_step(bot, admin, "Micro-needling", "day2_sun")
    for version in ("Second version {first_name}", "Third version {first_name}"):
        await edit_text(bot, admin, card)
        offer = await say(bot, admin, version, "Save")
        await press(bot, admin, offer, "Save", "Saved as")

    history = await press(bot, admin, card, "History", "History of")
    lines = history.plain_text.splitlines()
    assert lines[1].startswith("• v0, as shipped in the plan file")
    assert lines[2].startswith("• v1,") and "by Alex: Second version" in lines[2]
    assert lines[3].startswith("• v2,") and "(in use now): Third version" in lines[3]
    assert [b for b in history.button_texts if "Restore" in b] == ["↩️ Restore v0 (en)", "↩️ Restore v1 (en)"]

    offer = await press(bot, admin, history, "Restore v1", "Save")
    assert "Bring back version 1 of Sun protection in en?" in offer.plain_text
    assert "Second version Anna" in offer.plain_text
    await press(bot, admin, offer, "Save", "version 3")
    assert (
        bot.services.catalog.get("microneedling").step("day2_sun").text("en") == "Second version {first_name}"
    )

    recent = await say(bot, admin, "/history", "Recent changes")
    assert "microneedling v3 by Alex: text of Sun protection (en) restored from v1" in recent.plain_text
    history = await press(bot, admin, recent, "day2_sun", "History of")
    assert "v3," in history.plain_text


async def test_timing_off_on_and_a_new_step_reach_enrolled_clients(bot) -> None:
    bot.clock.set(SESSION)
    ann = await bot.enrol_client(5001, "Ann Smith")
    admin = bot.admin
    card = await open_step(bot, admin, "Micro-needling", "day1_checkin")
    await press(bot, admin, card, "Change time", "When should")
    problem = await say(bot, admin, "tomorrow morning", "not a valid time")
    assert "day 1 at 09:00" in problem.plain_text
    offer = await say(bot, admin, "day 1 at 15:30", "Save")
    saved = await press(bot, admin, offer, "Save", "Saved as")
    assert "1 waiting message(s) moved" in saved.plain_text
    async with bot.services.session_factory() as session:
        checkin = await session.scalar(select(Delivery).where(Delivery.step_key == "day1_checkin"))
    assert checkin.send_at == datetime(2026, 1, 14, 15, 30, tzinfo=UTC)

    card = await open_step(bot, admin, "Micro-needling", "day2_sun")
    offer = await press(bot, admin, card, "Turn off", "Turn off")
    saved = await press(bot, admin, offer, "Save", "Saved as")
    assert "1 cancelled" in saved.plain_text

    plans = await say(bot, admin, "/templates", "Aftercare plans")
    plan = await press(bot, admin, plans, "Micro-needling", "Its messages")
    await press(bot, admin, plan, "Add a message", "short name")
    await say(bot, admin, "Day 1", "can't be used as a name")
    await say(bot, admin, "day1_evening", "When should")
    await say(bot, admin, "day 1 at 19:00", "How late")
    await say(bot, admin, "4h", "Send the new text")
    offer = await say(bot, admin, "Good evening {first_name}, day {day}.", "Save")
    assert "Good evening Anna, day 1." in offer.plain_text
    saved = await press(bot, admin, offer, "Save", "Saved as")
    assert "1 added" in saved.plain_text

    await bot.jump(datetime(2026, 1, 14, 19, 0, 5, tzinfo=UTC) - bot.clock.now())
    await bot.telegram.wait_for_message(ann, "Good evening Ann, day 1.", since=0)
    async with bot.services.session_factory() as session:
        states = dict((await session.execute(select(Delivery.step_key, Delivery.state))).all())
    assert states["day2_sun"] == DeliveryState.CANCELLED and states["day1_evening"] == DeliveryState.SENT


async def test_a_plan_for_a_new_treatment_made_in_telegram_reaches_a_new_client(bot) -> None:
    bot.clock.set(SESSION)
    admin = bot.admin
    plans = await say(bot, admin, "/templates", "Aftercare plans")
    plan = await press(bot, admin, plans, "Micro-needling", "Its messages")
    await press(bot, admin, plan, "Copy as a new plan", "short name")
    await say(bot, admin, "microneedling", "already taken")
    await say(bot, admin, "chemical_peel", "name as clients will see it")
    offer = await say(bot, admin, "Chemical peel", "Save")
    saved = await press(bot, admin, offer, "Save", "is ready")
    assert "treatment=chemical_peel" in saved.plain_text

    card = await open_step(bot, admin, "Chemical peel", "same_evening")
    await edit_text(bot, admin, card)
    gentle = "After your {treatment}, {first_name}: be gentle with your skin. Worried? {clinic_phone}, or call 999."
    offer = await say(bot, admin, gentle, "Save")
    await press(bot, admin, offer, "Save", "Saved as")

    bo = await bot.enrol_client(5002, "Bo Jones", options="treatment=chemical_peel")
    consent = [m for m in bot.telegram.bot_messages(bo) if "Chemical peel" in (m.plain_text or "")]
    assert consent, "the consent message names the new treatment"
    await bot.jump(timedelta(hours=4, seconds=1))
    await bot.telegram.wait_for_message(
        bo, "After your Chemical peel, Bo: be gentle with your skin.", since=0
    )


async def test_cancel_and_templates_in_a_group(bot) -> None:
    admin = bot.admin
    card = await open_step(bot, admin, "Micro-needling", "day2_sun")
    await edit_text(bot, admin, card)
    await say(bot, admin, "/cancel", "nothing was changed")
    await say(bot, admin, "/cancel", "nothing to stop")
    # After /cancel, text from the admin is no longer taken as a new plan text.
    assert bot.services.catalog.revision("microneedling") is None
    answer = await say(bot, admin, "/templates", chat=bot.staff_chat)
    assert "private chat" in answer.plain_text and not answer.buttons


async def test_a_language_added_to_a_step_reaches_a_client_using_it(bot) -> None:
    bot.clock.set(SESSION)
    admin = bot.admin
    card = await open_step(bot, admin, "Micro-needling", "same_evening")
    await press(bot, admin, card, "Add a language", "Which language")
    await say(bot, admin, "German", "is not a language code")
    await say(bot, admin, "de", "no title in de")
    await say(bot, admin, "Microneedling", "Send the new text of What to expect tonight in de")
    offer = await say(bot, admin, "Guten Abend {first_name}! Fragen? {clinic_phone}. Im Notfall: Notruf 112", "Save")
    assert "Guten Abend Anna! Fragen? +44 20 7946 0000" in offer.plain_text
    await press(bot, admin, offer, "Save", "Saved as")

    ute = await bot.enrol_client(5003, "Ute Berg", language="de")
    ann = await bot.enrol_client(5001, "Ann Smith")
    await bot.jump(timedelta(hours=4, seconds=1))
    await bot.telegram.wait_for_message(ute, "Guten Abend Ute! Fragen? +44 20 7946 0000", since=0)
    await bot.telegram.wait_for_message(ann, "Hello Ann, thank you for visiting", since=0)
    card = await open_step(bot, admin, "Micro-needling", "day2_sun")
    assert "Languages: en, es, ru ·" in card.plain_text, "other steps get no de text; de clients get English there"


async def test_an_unfinished_edit_stops_after_the_timeout(bot_factory) -> None:
    bot = await bot_factory()
    admin = bot.admin
    card = await open_step(bot, admin, "Micro-needling", "day2_sun")
    await edit_text(bot, admin, card)
    await bot.jump(typed_edits.EDIT_TIMEOUT + timedelta(seconds=1))
    await say(bot, admin, "Too late for the edit", "left unfinished")
    assert "nothing to stop" in (await say(bot, admin, "/cancel")).plain_text
