"""Hostile and odd input, generated: whatever arrives, the bot keeps running, answers sensibly and logs no error.

Every example feeds a few updates through Application.process_update (the real handlers, conversation and
escalation desk, answered by an in-process Telegram) and then checks: no ERROR log record, the error handler
never ran, no call the Bot API would refuse, private commands were answered, group noise from strangers was not.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from aftercare_bot.bot.handlers import escalations as escalation_handlers
from aftercare_bot.db.models import ConversationMessage, Escalation
from aftercare_bot.db.repositories import clients
from aftercare_bot.sandbox.emulator.models import JSON, UserHandle
from tests.support.fast_rig import BOT_USERNAME, FastRig
from tests.support.harness import START_LINK

ANN_ID, EVE_ID, BOB_ID = 5001, 6666, 7007
STRANGERS_GROUP_ID = -4242
CHANNEL_ID = -1001234567890
COMMANDS = ("start", "stop", "help", "enrol", "client", "open", "mydata", "forget", "staff", "templates", "history",
            "cancel")
# Commands that, in a group, are none of the bot's business (client-only commands and unknown ones).
SILENT_IN_GROUPS = {"start", "stop", "mydata", "forget"}
PRIVATE, STRANGERS_GROUP, STAFF_CHAT = "private", "group", "staff"

# HOSTILE_EXAMPLES=2000 explores more (and with a fresh random seed each run) when looking for new problems.
EXPLORE = os.environ.get("HOSTILE_EXAMPLES")
HYPOTHESIS = settings(
    max_examples=int(EXPLORE or 120), deadline=None, derandomize=not EXPLORE, print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- odd text ------------------------------------------------------------------------------------------------

ODD_SNIPPETS = (
    "שלום, יש לי אדמומיות",  # Hebrew (RTL)
    "مرحبا، لدي احمرار ونزيف",  # Arabic (RTL)
    "\u202eevil\u202c reversed",  # right-to-left override
    "zero\u200bwidth\u200c\u200djoiners\ufeff",
    "Z\u0351\u0352\u0353a\u0300\u0301\u0302\u0303\u0304l\u0336g\u0337o" * 3,  # combining marks
    "👩‍👩‍👧‍👦🏳️‍🌈🇬🇧🫠🧑🏽‍⚕️",  # astral emoji, ZWJ sequences, flags
    "<b>bold</b> &amp; <script>alert(1)</script> <a href='x'>",
    "{first_name} {clinic_phone} {{}} {0} %s %(x)s",
    "bleeding and pus, fever 39°C",  # a red flag, so cases are opened and threaded
    "\t\n\r \u00a0\u2028\u2029",
    "ǅ ß ﬁ İ ı",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙",
    "",
)

plain_characters = st.characters(codec="utf-8", exclude_categories=("Cs",))
odd_text = st.one_of(
    st.text(plain_characters, max_size=80),
    st.sampled_from(ODD_SNIPPETS),
    st.lists(st.sampled_from(ODD_SNIPPETS), min_size=1, max_size=6).map(" ".join),
    st.builds(lambda unit, n: unit * n, st.sampled_from(["a", "é", "👍", "שׁ", "\u200b", "<", "&"]),
              st.integers(4000, 5200)),  # at and beyond Telegram's 4096 characters
)
some_text = odd_text.filter(lambda t: t.strip() != "")
junk_args = st.one_of(st.none(), odd_text, st.sampled_from([
    "Ann", "Ann at=25:99", "x treatment=" + "z" * 4000, "Bo lang=" + "q" * 3000, "at=now", "treatment=",
    "a" * 5000, "Ann at=" + "9" * 4000, "%_%", "'; DROP TABLE clients; --", "treatment=microneedling at=now",
    "add ²", "remove ٣", "add 99999999999999999999999", "add -0 admin", "remove -", "1 2 3 4", "²",
]))
start_payloads = st.one_of(
    st.none(),
    st.text(st.characters(codec="ascii", categories=("L", "N")), max_size=64),
    st.text(st.sampled_from("ABCxyz019_-"), min_size=32, max_size=32),  # right shape, unknown token
    st.text(plain_characters, max_size=70),
    st.sampled_from(["a" * 33, "../../etc/passwd", "%00", "-" * 32, "=" * 64]),
)
callback_junk = st.text(plain_characters, min_size=1, max_size=64).filter(lambda d: len(d.encode()) <= 64)


# -- actions ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Action:
    kind: str
    who: str = "ann"
    where: str = PRIVATE
    text: str | None = None
    command: str | None = None
    mention: str | None = None  # None, "ours" or "other"
    parts: tuple[str, ...] = ()


people = st.sampled_from(["ann", "eve", "bob", "admin", "nurse"])
places = st.sampled_from([PRIVATE, STRANGERS_GROUP, STAFF_CHAT])
command_names = st.one_of(st.sampled_from(COMMANDS), st.from_regex(r"[a-z0-9_]{1,32}", fullmatch=True))

actions = st.one_of(
    st.builds(Action, kind=st.just("text"), who=people, where=places, text=some_text),
    st.builds(Action, kind=st.just("edit"), who=people, where=places, text=some_text,
              parts=st.tuples(some_text)),
    st.builds(Action, kind=st.sampled_from(["sticker", "location", "contact", "photo", "voice", "document"]),
              who=people, where=places, text=odd_text),
    st.builds(Action, kind=st.just("command"), who=people, where=places, command=command_names,
              text=junk_args, mention=st.sampled_from([None, "ours", "other"])),
    st.builds(Action, kind=st.just("start"), who=people, text=start_payloads),
    st.builds(Action, kind=st.just("channel"), text=some_text),
    st.builds(Action, kind=st.just("junk_button"), who=people, text=callback_junk),
    st.builds(Action, kind=st.just("signed_button"), who=people,
              parts=st.tuples(st.sampled_from(["inv", "stop", "ci", "esc", "forget", "nope"]),
                              st.one_of(st.integers(-5, 10**12).map(str), st.sampled_from(["", "x", "²"])),
                              st.sampled_from(["yes", "no", "ok", "worried", "urgent", "claim", "resolve", "?"]))),
    st.builds(Action, kind=st.just("forged_signature"), who=people,
              parts=st.tuples(st.sampled_from(["inv", "stop", "ci", "esc", "forget"]),
                              st.integers(0, 10**6).map(str), st.sampled_from(["yes", "claim", "ok"]),
                              st.text(st.sampled_from("ABCabc012-_"), min_size=12, max_size=12))),
    st.builds(Action, kind=st.just("real_button"), who=people, parts=st.tuples(st.integers(0, 3).map(str))),
    st.builds(Action, kind=st.just("staff_reply"), who=st.sampled_from(["nurse", "admin", "bob"]), text=odd_text),
    st.builds(Action, kind=st.just("replay")),
    st.builds(Action, kind=st.just("membership"), who=people, parts=st.tuples(st.sampled_from(["member", "left"]))),
    st.builds(Action, kind=st.just("time_passes"), parts=st.tuples(st.integers(1, 60).map(str))),
)


@pytest.fixture
async def rig(make_settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FastRig]:
    # A reply to a bot post that is not (yet) part of a case waits up to a second for the post to be recorded;
    # here every post is recorded long before anyone replies, and waiting would only slow the examples down.
    monkeypatch.setattr(escalation_handlers, "REPLY_PATIENCE", 0.0)
    rig = await FastRig.start(make_settings())
    world = rig.world
    await rig.enrol(ANN_ID, "Ann Smith")
    world.user(EVE_ID, "Eve", language_code="zz-Weird")
    world.user(BOB_ID, "Bob", language_code=None)
    group = world.group(STRANGERS_GROUP_ID, "Strangers")
    for person in (EVE_ID, BOB_ID, ANN_ID):
        world.add_member(group, person)
    world.channel(CHANNEL_ID, "Some channel")
    rig.assert_healthy()
    yield rig
    await rig.stop()


class Player:
    """Performs actions in the rig's world and checks that each got a sensible answer."""

    def __init__(self, rig: FastRig) -> None:
        self.rig = rig
        self.world = rig.world
        self.last_update: JSON | None = None

    def user(self, who: str) -> UserHandle:
        ids = {"ann": ANN_ID, "eve": EVE_ID, "bob": BOB_ID, "admin": self.rig.admin.id, "nurse": self.rig.nurse.id}
        return self.world.users[ids[who]]

    def chat(self, user: UserHandle, where: str) -> int:
        if where == STRANGERS_GROUP:
            if self.world.member_status(STRANGERS_GROUP_ID, user) == "left":
                self.world.add_member(STRANGERS_GROUP_ID, user)
            return STRANGERS_GROUP_ID
        if where == STAFF_CHAT:
            # Only the team writes in the staff chat; a stranger's attempt happens in their private chat.
            return self.rig.staff_chat.id if user.id in (self.rig.admin.id, self.rig.nurse.id) else user.id
        return user.id

    def bot_messages(self, chat: int) -> int:
        return len(self.rig.telegram.sent_messages(chat))

    async def feed(self, update: JSON) -> None:
        self.last_update = update
        await self.rig.feed(update)

    async def perform(self, action: Action) -> None:
        event(f"action {action.kind}")  # shown by --hypothesis-show-statistics
        user = self.user(action.who)
        chat = self.chat(user, action.where)
        before = self.bot_messages(chat)
        world = self.world
        if action.kind == "text":
            await self.feed(world.send_text(user, action.text or "", chat))
            self.expect_silence_in_group(chat, before)
            self.expect_stranger_answered(chat, before)
        elif action.kind == "edit":
            original = world.send_text(user, action.text or "", chat)
            await self.feed(original)
            before = self.bot_messages(chat)
            await self.feed(world.edit_text(original["message"], action.parts[0]))
            self.expect_silence_in_group(chat, before)
        elif action.kind in ("sticker", "location", "contact", "photo", "voice", "document"):
            await self.feed(self.media(action.kind, user, chat, action.text))
            self.expect_silence_in_group(chat, before)
            self.expect_stranger_answered(chat, before)
        elif action.kind == "command":
            await self.command(action, user, chat, before)
        elif action.kind == "start":
            await self.feed(world.send_command(user, "start", action.text, user.id))
            assert self.bot_messages(user.id) > before
        elif action.kind == "channel":
            post = world.channel_post(CHANNEL_ID, action.text or "")
            await self.feed(post)
            await self.feed(world.queue_update("edited_channel_post", {**post["channel_post"], "text": "edited",
                                                                       "edit_date": post["channel_post"]["date"]}))
            assert self.bot_messages(CHANNEL_ID) == 0
        elif action.kind in ("junk_button", "signed_button", "forged_signature", "real_button"):
            await self.press(action, user)
        elif action.kind == "staff_reply":
            await self.staff_reply(user, action.text)
        elif action.kind == "membership":
            await self.membership(user, action.parts[0])
        elif action.kind == "replay" and self.last_update is not None:
            await self.rig.feed(self.last_update)
        elif action.kind == "time_passes":
            self.rig.clock.advance(timedelta(hours=int(action.parts[0])))
            await self.rig.run_due()

    async def membership(self, user: UserHandle, status: str) -> None:
        """The bot added to or removed from a group, and someone joining a group: service updates, no answer."""
        world = self.world
        group = world.chats[STRANGERS_GROUP_ID]
        before = self.bot_messages(STRANGERS_GROUP_ID)
        old = "left" if status == "member" else "member"
        await self.feed(world.queue_update("my_chat_member", {
            "chat": group.to_json(), "from": user.to_json(), "date": int(world.clock()),
            "old_chat_member": {"user": world.bot.to_json(), "status": old},
            "new_chat_member": {"user": world.bot.to_json(), "status": status},
        }))
        joined = world.store_message(group, user, {"new_chat_members": [user.to_json()]})
        await self.feed(world.queue_update("message", joined.data))
        assert self.bot_messages(STRANGERS_GROUP_ID) == before

    def media(self, kind: str, user: UserHandle, chat: int, caption: str | None) -> JSON:
        world, caption = self.world, (caption or None) and caption[:1024]
        if kind == "sticker":
            return world.send_sticker(user, caption or "🙂", chat)
        if kind == "location":
            return world.send_location(user, 91.5, -181.0, chat)  # out of range, as a tampered client might send
        if kind == "contact":
            return world.send_contact(user, caption or "+0", chat=chat)
        if kind == "photo":
            return world.send_photo(user, caption, chat)
        if kind == "voice":
            return world.send_voice(user, 0, chat)
        return world.send_document(user, (caption or "x")[:200] or "x", b"\x00\xff" * 10, "application/x-odd",
                                   caption, chat)

    async def command(self, action: Action, user: UserHandle, chat: int, before: int) -> None:
        assert action.command is not None
        text = "/" + action.command
        if action.mention == "ours":
            text += f"@{BOT_USERNAME}"
        elif action.mention == "other":
            text += "@some_other_bot"
        if action.text:
            text += " " + action.text
        await self.feed(self.world.send_text(user, text[:4096], chat))
        if chat > 0:
            assert self.bot_messages(chat) > before, f"no answer to {text[:80]!r}"
        elif chat == STRANGERS_GROUP_ID and (action.command not in COMMANDS or action.mention == "other"
                                             or action.command in SILENT_IN_GROUPS):
            assert self.bot_messages(chat) == before, f"answered {text[:80]!r} in a strangers' group"

    def expect_stranger_answered(self, chat: int, before: int) -> None:
        if chat in (EVE_ID, BOB_ID):  # someone unknown writing privately is told how to join
            assert self.bot_messages(chat) > before, "a stranger got no answer"

    def expect_silence_in_group(self, chat: int, before: int) -> None:
        if chat == STRANGERS_GROUP_ID:
            assert self.bot_messages(chat) == before, "answered small talk in a strangers' group"

    async def press(self, action: Action, user: UserHandle) -> None:
        signer = self.rig.services.signer
        chat = self.rig.staff_chat.id if action.who in ("admin", "nurse") and action.kind != "real_button" else user.id
        messages = self.rig.telegram.sent_messages(chat)
        if not messages:
            await self.feed(self.world.send_command(user, "help", None, user.id))
            chat, messages = user.id, self.rig.telegram.sent_messages(user.id)
        target = messages[-1]
        if action.kind == "junk_button":
            data = action.text or "x"
        elif action.kind == "signed_button":
            data = signer.sign(*action.parts)
        elif action.kind == "forged_signature":
            data = ":".join(action.parts)
        else:  # a real button of any bot message anywhere, pressed by whoever this is (maybe not its owner)
            with_buttons = [m for c in (ANN_ID, EVE_ID, BOB_ID, self.rig.staff_chat.id)
                            for m in self.rig.telegram.sent_messages(c) if m.callback_data]
            if not with_buttons:
                return
            target = with_buttons[-1]
            data = target.callback_data[int(action.parts[0]) % len(target.callback_data)]
        update = self.world.press_button(user, target, data, forged=True)
        await self.feed(update)
        assert self.rig.callback_answer(update) is not None, f"button {data!r} was never answered"

    async def staff_reply(self, user: UserHandle, text: str | None) -> None:
        in_staff_chat = user.id in (self.rig.admin.id, self.rig.nurse.id)
        chat = self.rig.staff_chat.id if in_staff_chat else STRANGERS_GROUP_ID
        if chat == STRANGERS_GROUP_ID and self.world.member_status(chat, user) == "left":
            self.world.add_member(chat, user)
        posts = self.rig.telegram.sent_messages(chat)
        if not posts:
            return
        await self.feed(self.world.send_text(user, text or "ok", chat, reply_to=posts[-1]))


@HYPOTHESIS
@given(script=st.lists(actions, min_size=1, max_size=6))
async def test_odd_updates_leave_the_bot_healthy_and_answering(rig: FastRig, script: list[Action]) -> None:
    rig.forget_problems()
    player = Player(rig)
    for action in script:
        await player.perform(action)
        rig.assert_healthy()
    # Still alive and answering.
    before = player.bot_messages(ANN_ID)
    await rig.command(player.user("ann"), "help")
    assert player.bot_messages(ANN_ID) == before + 1
    rig.assert_healthy()


@HYPOTHESIS
@given(payload=start_payloads, who=st.sampled_from(["ann", "eve", "bob"]), mention=st.booleans())
async def test_every_start_payload_gets_a_private_answer(rig: FastRig, payload: str | None, who: str,
                                                         mention: bool) -> None:
    rig.forget_problems()
    player = Player(rig)
    user = player.user(who)
    before = player.bot_messages(user.id)
    await rig.feed(rig.world.send_command(user, "start", payload, mention=mention))
    assert player.bot_messages(user.id) == before + 1
    assert rig.telegram.sent_messages(user.id)[-1].callback_data == []  # no consent without a real link
    rig.assert_healthy()


SWEEP_ARGS = (None, "²", "٣", "-1", "0", "99999999999999999999999", "add ²", "remove ²", "add 99999999999999999999",
              "add -0 admin", "1 2 3 ²", "x" * 4080, "🫠" * 2030, "\x00", "<b>&", "treatment=" + "z" * 4080,
              "at=" + "9" * 4080, "lang=" + "q" * 4080, "%", "Ann\nSmith\tat=now")


async def test_every_command_with_junk_arguments_from_anyone_anywhere(rig: FastRig) -> None:
    """Not left to chance: each command, with each kind of junk, from an admin, a nurse in the staff chat and a
    stranger privately and in a group."""
    world, eve = rig.world, rig.world.users[EVE_ID]
    senders = ((rig.admin, rig.admin.id), (rig.nurse, rig.staff_chat.id), (eve, EVE_ID), (eve, STRANGERS_GROUP_ID))
    for command in (*COMMANDS, "frobnicate"):
        for args in SWEEP_ARGS:
            text = (f"/{command} {args}" if args else f"/{command}")[:4096]
            for user, chat in senders:
                before = len(rig.telegram.sent_messages(chat))
                await rig.feed(world.send_text(user, text, chat))
                if chat > 0:
                    assert len(rig.telegram.sent_messages(chat)) > before, f"no answer to {text[:60]!r}"
                if chat == STRANGERS_GROUP_ID and command in {*SILENT_IN_GROUPS, "frobnicate"}:
                    assert len(rig.telegram.sent_messages(chat)) == before
            rig.assert_healthy()


async def test_a_replayed_client_message_is_stored_and_escalated_once(rig: FastRig) -> None:
    ann = rig.world.users[ANN_ID]
    update = rig.world.send_text(ann, "There is pus and it is bleeding, I have a fever")
    await rig.feed(update)
    staff_posts = len(rig.telegram.sent_messages(rig.staff_chat))
    answers = len(rig.telegram.sent_messages(ann))
    await rig.feed(update)  # delivered again while running: dropped by its update id
    rig.forget_seen_updates()
    await rig.feed(update)  # delivered again after a restart: recognised in the database
    async with rig.services.session_factory() as session:
        inbound = await session.scalar(select(func.count()).select_from(ConversationMessage)
                                       .where(ConversationMessage.direction == "in"))
        cases = await session.scalar(select(func.count()).select_from(Escalation))
    assert (inbound, cases) == (1, 1)
    assert len(rig.telegram.sent_messages(rig.staff_chat)) == staff_posts
    assert len(rig.telegram.sent_messages(ann)) == answers
    rig.assert_healthy()


async def test_a_replayed_button_press_is_answered_once(rig: FastRig) -> None:
    eve = rig.world.users[EVE_ID]
    await rig.command(eve, "stop")
    pressed = await rig.press(eve, rig.last_bot_message(eve), "stop:1:yes:forgedsignat", forged=True)
    await rig.feed(pressed)
    assert len([p for p in rig.telegram.calls_to("answerCallbackQuery")
                if p["callback_query_id"] == pressed["callback_query"]["id"]]) == 1
    rig.assert_healthy()


async def test_a_replayed_edit_is_stored_once_but_a_second_edit_is_kept(rig: FastRig) -> None:
    ann = rig.world.users[ANN_ID]
    original = rig.world.send_text(ann, "all fine")
    await rig.feed(original)
    edit = rig.world.edit_text(original["message"], "all fine, a little red")
    await rig.feed(edit)
    rig.forget_seen_updates()
    await rig.feed(edit)
    await rig.feed(rig.world.edit_text(original["message"], "all fine, a little red and warm"))
    async with rig.services.session_factory() as session:
        kinds = (await session.scalars(select(ConversationMessage.kind).where(ConversationMessage.direction == "in")
                                       .order_by(ConversationMessage.id))).all()
    assert kinds == ["text", "edit", "edit"]
    rig.assert_healthy()


async def test_a_consent_button_pressed_by_someone_else_enrols_nobody(rig: FastRig) -> None:
    world = rig.world
    await rig.command(rig.nurse, "enrol", "Carol", chat=rig.staff_chat)
    token = START_LINK.search(rig.last_bot_message(rig.staff_chat).plain_text).group(1)
    carol = world.user(8008, "Carol")
    await rig.command(carol, "start", token)
    consent = rig.last_bot_message(carol)
    eve = world.user(EVE_ID, "Eve")
    pressed = await rig.press(eve, consent, consent.callback_data[0])
    assert rig.callback_answer(pressed)["show_alert"] is True
    async with rig.services.session_factory() as session:
        assert await clients.by_telegram_id(session, EVE_ID) is None
    # Carol herself can still agree.
    await rig.press(carol, consent, consent.callback_data[0])
    assert "all set" in rig.telegram.sent_texts(carol)[-1]
    rig.assert_healthy()
