"""End to end: staff who are not admins, and clients, are refused every admin command and button."""

from __future__ import annotations

from sqlalchemy import func, select

from aftercare_bot.db.models import PlanDraft, PlanRevision, StaffMember
from tests.support.admin_helpers import edit_text, open_step, press, say

ADMIN_COMMANDS = (
    "/staff",
    "/staff add 5003",
    "/staff add 5003 admin",
    "/staff remove 777",
    "/templates",
    "/history",
    "/cancel",
)


async def counts(bot) -> tuple[int, int, int, list[tuple[int, str]]]:  # type: ignore[no-untyped-def]
    async with bot.services.session_factory() as session:
        revisions = await session.scalar(select(func.count()).select_from(PlanRevision))
        drafts = await session.scalar(select(func.count()).select_from(PlanDraft))
        used = await session.scalar(
            select(func.count()).select_from(PlanDraft).where(PlanDraft.used_at.is_not(None))
        )
        team = await session.execute(
            select(StaffMember.user_id, StaffMember.role).order_by(StaffMember.user_id)
        )
        return revisions, drafts, used, [tuple(row) for row in team.all()]


async def every_admin_button(bot):  # type: ignore[no-untyped-def]
    """Drive the admin screens so that every kind of admin button exists; returns (message, data) pairs."""
    admin = bot.admin
    card = await open_step(bot, admin, "Micro-needling", "day2_sun")
    await edit_text(bot, admin, card)
    offer = await say(bot, admin, "Sun text {first_name}", "Save")
    await press(bot, admin, offer, "Save", "Saved as")
    await press(bot, admin, card, "History", "Restore v0")
    await edit_text(bot, admin, card)
    await say(bot, admin, "Another text", "Discard")  # a draft left waiting for its Save
    await say(bot, admin, "/history", "Recent changes")
    await say(bot, admin, "/staff add 777", "is now staff", chat=bot.staff_chat)
    team = await say(bot, admin, "/staff", "The clinic team", chat=bot.staff_chat)
    await press(bot, admin, team, "Remove", "Yes, remove")
    pairs = []
    for chat in (admin, bot.staff_chat):
        for message in bot.telegram.bot_messages(chat):
            pairs += [(message, data) for data in message.callback_data if data.startswith("ad:")]
    actions = {data.split(":")[1] for _message, data in pairs}
    assert actions >= {
        "ls",
        "pl",
        "st",
        "ed",
        "al",
        "tm",
        "gr",
        "on",
        "hi",
        "te",
        "rs",
        "ns",
        "np",
        "ok",
        "td",
        "no",
        "tl",
        "tr",
        "ty",
        "ta",
    }, actions
    return pairs


async def test_staff_and_clients_are_refused_every_admin_command_and_button(bot) -> None:
    client = await bot.enrol_client(5001, "Ann Smith")
    pairs = await every_admin_button(bot)
    before = await counts(bot)
    catalog_revision = bot.services.catalog.revision("microneedling")

    for intruder, refusal in (
        (bot.nurse, "Only the clinic's admins can do this."),
        (client, "Only the clinic team can do this."),
    ):
        messages_before = len(bot.telegram.bot_messages(intruder))
        for message, data in pairs:
            update = bot.telegram.press_button(intruder, message, data)
            answer = await bot.telegram.wait_for_callback_answer(update["callback_query"]["id"])
            assert answer.get("text") == refusal and answer.get("show_alert"), (data, answer)
        assert len(bot.telegram.bot_messages(intruder)) == messages_before, "no test message, no prompt"

        for command in ADMIN_COMMANDS:
            answer = await say(bot, intruder, command)
            assert "only" in answer.plain_text.lower() and not answer.buttons, (command, answer.plain_text)

    for command in ADMIN_COMMANDS:  # in the staff chat as well, where the nurse is a member
        answer = await say(bot, bot.nurse, command, chat=bot.staff_chat)
        assert answer.plain_text.startswith("Sorry, only the clinic's admins"), command
    answer = await say(bot, bot.nurse, "/staff add admin", chat=bot.staff_chat)
    assert answer.plain_text.startswith("Sorry, only the clinic's admins")

    assert await counts(bot) == before, "nothing was saved, confirmed, discarded or changed in the team"
    assert bot.services.catalog.revision("microneedling") == catalog_revision


async def test_forged_or_altered_buttons_are_not_understood(bot) -> None:
    admin = bot.admin
    plans = await say(bot, admin, "/templates", "Aftercare plans")
    data = plans.callback_data[0]
    forged = data[:-1] + ("A" if data[-1] != "A" else "B")
    plans.data["reply_markup"]["inline_keyboard"].append([{"text": "forged", "callback_data": forged}])
    update = bot.telegram.press_button(admin, plans, forged)
    answer = await bot.telegram.wait_for_callback_answer(update["callback_query"]["id"])
    assert answer.get("text") == "Sorry, this button is no longer valid."
