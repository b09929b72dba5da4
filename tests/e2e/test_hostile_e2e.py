"""A burst of odd updates through the real HTTP path (the Application polling the Bot API emulator): the bot
takes them all, answers each private command, ignores strangers' group chatter and logs no error."""

from __future__ import annotations

import logging

import pytest

from tests.support.harness import BotHarness

ODD = ("\u202eevil\u202c", "zero\u200bwidth", "Z\u0351\u0352a\u0300l\u0336g\u0337o", "👩‍👩‍👧‍👦🇬🇧🫠",
       "<b>&amp;</script>", "{first_name}", "é" * 4100)


async def test_a_burst_of_odd_updates_is_taken_calmly(bot: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    telegram = bot.telegram
    caplog.set_level(logging.WARNING)
    ann = await bot.enrol_client(5001, "Ann Smith")
    eve = telegram.user(6666, "Eve", language_code="zz")
    group = telegram.group(-4242, "Strangers")
    telegram.add_member(group, eve)
    channel = telegram.channel(-1001234567890, "Some channel")
    answered_before = {chat: telegram.last_message_id(chat) for chat in (ann.id, eve.id, group.id)}

    for text in ODD:
        telegram.send_text(eve, text)  # a stranger writing privately
        telegram.send_text(eve, text, chat=group)  # small talk in a group
        telegram.send_text(ann, text[:4096])  # a client writing
        telegram.channel_post(channel, text[:4096])
    telegram.send_sticker(eve, chat=group)
    telegram.send_location(eve, chat=group)
    telegram.send_contact(ann)
    telegram.send_command(eve, "frobnicate@some_other_bot", chat=group)
    # Each private command, and the answer it must get.
    commands = ((eve, "start", "x" * 64, "doesn't look complete"), (eve, "start", "A" * 32, "don't recognise"),
                (eve, "enrol", "Mallory", "only for the clinic team"), (eve, "client", "%", "only for the clinic"),
                (ann, "stop", "please?", "Do you want to stop"), (ann, "help", "é" * 100, "/stop"),
                (ann, "mydata", None, "holds about you"), (eve, "forget", "now", "holds nothing about you"),
                (eve, "nonsense", "🫠", "don't know that command"))
    for user, command, args, _ in commands:
        telegram.send_command(user, command, args, mention=command == "help")
    welcome = telegram.bot_messages(ann)[-1]
    presses = [telegram.press_button(ann, welcome, "ci:1:ok:forgedforged", forged=True),
               telegram.press_button(eve, welcome, "\x00\xff junk", forged=True)]  # someone else's message

    await telegram.wait_for(lambda: not telegram.pending_updates, timeout=20, what="every update taken")
    for user, command, _, answer in commands:
        await telegram.wait_for(
            lambda user=user, answer=answer: [m for m in telegram.bot_messages(user)
                                              if m.message_id > answered_before[user.id] and answer in (m.text or "")],
            timeout=20, what=f"the answer to {user.first_name}'s /{command}",
        )
    for press in presses:
        answer = await telegram.wait_for_callback_answer(press["callback_query"]["id"], timeout=10)
        assert answer.get("show_alert") is True  # "this button is no longer valid"
    assert [m for m in telegram.bot_messages(group) if m.message_id > answered_before[group.id]] == []
    assert telegram.bot_messages(channel) == []

    since = telegram.last_message_id(ann)
    telegram.send_command(ann, "help")
    await telegram.wait_for_message(ann, "/stop", since=since, timeout=10)  # still running and answering
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
