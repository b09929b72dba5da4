"""End to end: admins add and remove staff and admins from Telegram; roles are checked on every update."""

from __future__ import annotations

from tests.conftest import ADMIN_ID
from tests.support.admin_helpers import edit_text, open_step, press, say


async def test_promote_by_reply_then_remove_even_from_the_staff_chat(bot) -> None:
    admin, nurse, chat = bot.admin, bot.nurse, bot.staff_chat
    refused = await say(bot, nurse, "/templates")
    assert refused.plain_text.startswith("Sorry, only the clinic's admins")

    since = bot.telegram.last_message_id(chat)
    bot.telegram.send_text(nurse, "Hello team", chat=chat)
    hello = await bot.telegram.wait_for_message(chat, "Hello team", since=since, from_bot=False)
    since = bot.telegram.last_message_id(chat)
    bot.telegram.send_text(admin, "/staff add admin", chat=chat, reply_to=hello)
    added = await bot.telegram.wait_for_message(chat, since=since)
    assert added.plain_text == "Nina is now admin."
    assert "Aftercare plans" in (await say(bot, nurse, "/templates")).plain_text

    team = await say(bot, admin, "/staff", "The clinic team", chat=chat)
    assert f"• Alex — admin, set in the bot's settings (id {ADMIN_ID})" in team.plain_text
    assert "• Nina — admin (id 900002)" in team.plain_text
    confirm = await press(bot, admin, team, "Remove Nina", "Remove Nina from the team?")
    removed = await press(bot, admin, confirm, "Yes, remove", "no longer on the team")
    assert removed.plain_text.startswith("Nina is no longer on the team")

    # Still a member of the staff chat, but no staff access any more.
    refused = await say(bot, nurse, "/enrol Ann", chat=chat)
    assert refused.plain_text == "Sorry, this is only for the clinic team."
    assert "Nina" not in (await say(bot, admin, "/staff", "The clinic team", chat=chat)).plain_text

    await say(bot, admin, "/staff add 900002", "is now staff", chat=chat)
    answer = await say(bot, nurse, "/enrol Ann", chat=chat)
    assert "Enrolment link" in answer.plain_text


async def test_by_id_the_fixed_admins_and_yourself(bot) -> None:
    admin, chat = bot.admin, bot.staff_chat
    added = await say(bot, admin, "/staff add 12345 admin")
    assert added.plain_text == "user 12345 is now admin."
    menu = bot.telegram.commands_by_scope[('chat{"chat_id": 12345}', "")]
    assert {"templates", "history", "staff", "cancel"} <= {command["command"] for command in menu}
    admin_menu = bot.telegram.commands_by_scope[(f'chat{{"chat_id": {ADMIN_ID}}}', "")]
    assert "templates" in {command["command"] for command in admin_menu}, "set at start-up"
    refused = await say(bot, admin, f"/staff remove {ADMIN_ID}")
    assert "named in the bot's settings (ADMIN_IDS)" in refused.plain_text
    refused = await say(bot, admin, f"/staff add {ADMIN_ID}", chat=chat)
    assert "cannot be changed from Telegram" in refused.plain_text
    usage = await say(bot, admin, "/staff fire everyone")
    assert "/staff remove 12345" in usage.plain_text
    team = await say(bot, admin, "/staff", "The clinic team")
    demote = await press(bot, admin, team, "Make (name not known yet) staff only", "is now staff")
    assert demote.plain_text == "user 12345 is now staff."
    removed = await say(bot, admin, "/staff remove 12345")
    assert removed.plain_text.startswith("user 12345 is no longer on the team")
    assert ('chat{"chat_id": 12345}', "") not in bot.telegram.commands_by_scope


async def test_an_admin_removed_in_the_middle_of_an_edit_is_stopped(bot) -> None:
    admin, nurse = bot.admin, bot.nurse
    await say(bot, admin, "/staff add 900002 admin", "is now admin")
    card = await open_step(bot, nurse, "Micro-needling", "day2_sun")
    await edit_text(bot, nurse, card)
    await say(bot, admin, "/staff remove 900002", "no longer on the team")
    answer = await say(bot, nurse, "A new sun text {first_name}")
    assert "Save" not in answer.button_texts and "as a client will see it" not in (answer.plain_text or "")
    async with bot.services.session_factory() as session:
        from sqlalchemy import func, select

        from aftercare_bot.db.models import PlanDraft

        assert await session.scalar(select(func.count()).select_from(PlanDraft)) == 0
