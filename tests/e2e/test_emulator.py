"""The Bot API emulator, driven by a real python-telegram-bot Bot over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dtm
import importlib.util
import json
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, ChatMemberAdministrator, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Conflict, EndPointNotFound, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import CommandHandler, ContextTypes

from aftercare_bot.sandbox.emulator import BotApi, BotApiEmulator, load_spec
from aftercare_bot.sandbox.emulator.html_entities import HtmlParseError, parse_html
from aftercare_bot.sandbox.emulator.media import image_size, solid_png
from aftercare_bot.sandbox.emulator.spec import IMPLEMENTED_METHODS
from tests.support.paths import ROOT
from tests.support.recording_request import RecordingRequest, make_command_update

TOKEN = "4242:emulator-test_token"
ANN, BOB = 1001, 1002
STAFF = -100777


@pytest.fixture
async def telegram() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator(token=TOKEN) as emulator:
        emulator.user(ANN, "Ann")
        emulator.user(BOB, "Bob", language_code="de", username="bob")
        emulator.group(STAFF, "Staff")
        yield emulator


@pytest.fixture
async def bot(telegram: BotApiEmulator) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=telegram.base_url, base_file_url=telegram.base_file_url) as bot:
        yield bot


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d.title(), callback_data=d) for d in data]])


async def test_get_me_describes_the_bot(telegram: BotApiEmulator, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (4242, "aftercare_test_bot", True)
    assert telegram.stats.calls["getMe"] >= 1
    assert telegram.spec_violations == []


async def test_html_message_is_stored_with_source_plain_text_and_keyboard(telegram: BotApiEmulator, bot: Bot) -> None:
    sent = await bot.send_message(ANN, "<b>Day 1</b> &amp; rest 😊 <i>gently</i>", parse_mode="HTML",
                                  reply_markup=keyboard("yes", "no"))  # fmt: skip
    assert sent.text == "Day 1 & rest 😊 gently"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 5), ("italic", 16, 6)]
    assert sent.parse_entity(sent.entities[1]) == "gently"
    [stored] = telegram.messages(ANN)
    assert stored.text == "<b>Day 1</b> &amp; rest 😊 <i>gently</i>"
    assert stored.plain_text == sent.text
    assert stored.from_bot and stored.callback_data == ["yes", "no"]
    assert telegram.spec_violations == []


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("<p>para</p>", 'Unsupported start tag "p"'),
        ("<b>open", "Can't find end tag"),
        ("<b><i>x</b></i>", "Unmatched end tag"),
        ("fish & chips", "Unsupported HTML entity"),
        ("1 < 2", "start tag"),
        ("<span>x</span>", "tg-spoiler"),
        ("&nbsp;", "Unsupported HTML entity"),
    ],
)
async def test_invalid_html_is_refused_like_telegram(telegram: BotApiEmulator, bot: Bot, html: str, error: str) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities") as raised:
        await bot.send_message(ANN, html, parse_mode="HTML")
    assert error.lower() in raised.value.message.lower()
    assert telegram.messages(ANN) == []


def test_html_parser_knows_telegrams_tags_and_utf16_offsets() -> None:
    source = (
        '😀 <a href="https://x.org/?a=1&amp;b=2">link</a> <tg-spoiler>s</tg-spoiler> <s>d</s> &#x1F600;'
        '<blockquote expandable>q</blockquote><pre><code class="language-python">x = 1</code></pre>'
    )
    plain, entities = parse_html(source)
    assert plain == "😀 link s d 😀qx = 1"
    assert entities[0] == {"type": "text_link", "url": "https://x.org/?a=1&b=2", "offset": 3, "length": 4}
    assert {"type": "expandable_blockquote", "offset": 14, "length": 1} in entities
    assert {"type": "pre", "language": "python", "offset": 15, "length": 5} in entities
    with pytest.raises(HtmlParseError):
        parse_html("<br>")


async def test_text_length_and_emptiness_are_checked_after_parsing(bot: Bot) -> None:
    await bot.send_message(ANN, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(ANN, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(ANN, "<b> </b>", parse_mode="HTML")


async def test_edits_apply_keep_history_and_drop_a_keyboard_not_sent_again(telegram: BotApiEmulator, bot: Bot) -> None:
    sent = await bot.send_message(ANN, "Plan", reply_markup=keyboard("ok"))
    await bot.edit_message_reply_markup(ANN, sent.message_id, reply_markup=keyboard("done"))
    edited = await bot.edit_message_text("Plan <b>updated</b>", ANN, sent.message_id, parse_mode="HTML")
    assert edited.text == "Plan updated" and edited.reply_markup is None
    [stored] = telegram.messages(ANN)
    assert stored.text == "Plan <b>updated</b>"
    assert [version.get("reply_markup", {}).get("inline_keyboard") for version in stored.edits] == [
        [[{"text": "Ok", "callback_data": "ok"}]],
        [[{"text": "Done", "callback_data": "done"}]],
    ]
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("Plan <b>updated</b>", ANN, sent.message_id, parse_mode="HTML")
    assert await bot.delete_message(ANN, sent.message_id)
    assert telegram.messages(ANN) == []
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(ANN, sent.message_id)


async def test_blocked_user_gives_forbidden_until_unblocked(telegram: BotApiEmulator, bot: Bot) -> None:
    telegram.block(ANN)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(ANN, "hello")
    await bot.send_message(BOB, "others still reachable")
    telegram.unblock(ANN)
    await bot.send_message(ANN, "hello again")
    assert [m.plain_text for m in telegram.messages(ANN)] == ["hello again"]


async def test_injected_errors(telegram: BotApiEmulator, bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    telegram.fail_next("sendMessage", status=429, retry_after=7)
    telegram.fail_next("getChat", status=500)
    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(ANN, "hi")
    assert raised.value.retry_after == dtm.timedelta(seconds=7)
    with pytest.raises(NetworkError, match=r"(?i)Internal Server Error"):
        await bot.get_chat(ANN)
    await bot.send_message(ANN, "hi")  # only the next call failed
    assert telegram.stats.too_many_requests == 1


async def test_flood_limit_of_one_message_per_second_per_private_chat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    async with BotApiEmulator(token=TOKEN, flood_limits=True) as telegram:
        telegram.user(ANN, "Ann")
        telegram.user(BOB, "Bob")
        async with Bot(TOKEN, base_url=telegram.base_url) as bot:
            await bot.send_message(ANN, "one")
            with pytest.raises(RetryAfter) as raised:
                await bot.send_message(ANN, "two")
            await bot.send_message(BOB, "another chat is fine")
    assert raised.value.retry_after == dtm.timedelta(seconds=1)
    assert (telegram.stats.flood_limited, telegram.stats.too_many_requests) == (1, 1)


async def test_paid_broadcasts_skip_the_overall_limit_but_not_a_chats_and_cost_stars(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    async with BotApiEmulator(token=TOKEN, flood_limits=True) as telegram:
        chats = [telegram.user(5000 + number, f"Client {number}").id for number in range(34)]
        async with Bot(TOKEN, base_url=telegram.base_url) as bot:
            for chat in chats[:30]:
                await bot.send_message(chat, "free")
            with pytest.raises(RetryAfter):
                await bot.send_message(chats[30], "the 31st free message within a second")
            await bot.send_message(chats[30], "paid", allow_paid_broadcast=True)
            await bot.send_message(chats[31], "paid", allow_paid_broadcast=True)
            with pytest.raises(RetryAfter):
                await bot.send_message(chats[31], "paid, but the chat had one this second", allow_paid_broadcast=True)

            telegram.star_balance = Decimal("0.15")  # enough for one more
            await bot.send_message(chats[32], "paid", allow_paid_broadcast=True)
            with pytest.raises(BadRequest, match=r"(?i)balance_too_low"):
                await bot.send_message(chats[33], "paid", allow_paid_broadcast=True)
    assert (telegram.stats.paid_broadcasts, telegram.star_balance) == (3, Decimal("0.05"))
    assert telegram.stats.flood_limited == 2
    assert [m.plain_text for m in telegram.messages(chats[30])] == ["paid"]


async def test_slow_dropped_and_down_server(telegram: BotApiEmulator, bot: Bot) -> None:
    telegram.set_delay("getChat", 0.5)
    with pytest.raises(TimedOut):
        await bot.get_chat(ANN, read_timeout=0.05)
    telegram.set_delay("getChat", None)
    telegram.drop_connections(1, method="getChat")
    with pytest.raises(NetworkError):
        await bot.get_chat(ANN)
    assert (await bot.get_chat(ANN)).first_name == "Ann"
    telegram.set_down(True)
    with pytest.raises(NetworkError):
        await bot.get_me()
    telegram.set_down(False)
    assert telegram.stats.dropped_connections == 2


async def test_long_poll_returns_as_soon_as_an_update_is_queued(telegram: BotApiEmulator, bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    telegram.send_text(BOB, "/start hello", chat=None)
    [update] = await poll
    assert loop.time() - started < 1
    assert isinstance(update.message, Message)
    assert update.message.text == "/start hello" and update.message.from_user.language_code == "de"
    assert update.message.parse_entities(["bot_command"]) == {update.message.entities[0]: "/start"}
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
    assert telegram.pending_updates == []


async def test_allowed_updates_filter_and_offset(telegram: BotApiEmulator, bot: Bot) -> None:
    telegram.send_text(ANN, "first")
    telegram.send_text(ANN, "second")
    _first, second = await bot.get_updates(timeout=0)
    assert (await bot.get_updates(offset=second.update_id, timeout=0))[0].message.text == "second"
    telegram.send_photo(ANN)
    sent = await bot.send_message(ANN, "choose", reply_markup=keyboard("a"))
    telegram.press_button(ANN, sent.to_dict(), "a")
    updates = await bot.get_updates(offset=second.update_id + 1, timeout=0, allowed_updates=["callback_query"])
    assert [u.callback_query.data for u in updates] == ["a"]


async def test_photo_upload_and_download(telegram: BotApiEmulator, bot: Bot) -> None:
    png = solid_png(3, 2, (200, 10, 10))
    sent = await bot.send_photo(ANN, photo=png, caption="<b>scan</b>", parse_mode="HTML")
    assert (sent.photo[-1].width, sent.photo[-1].height, sent.caption) == (3, 2, "scan")
    assert telegram.calls_to("sendPhoto")[0]["photo"].content == png
    file = await bot.get_file(sent.photo[-1].file_id)
    assert bytes(await file.download_as_bytearray()) == png
    again = await bot.send_photo(BOB, photo=sent.photo[-1].file_id)
    assert again.photo[-1].file_unique_id == sent.photo[-1].file_unique_id

    update = telegram.send_photo(ANN, caption="my skin today")
    largest = update["message"]["photo"][-1]
    downloaded = await (await bot.get_file(largest["file_id"])).download_as_bytearray()
    assert image_size(bytes(downloaded)) == (largest["width"], largest["height"])


async def test_spec_violations_are_refused_and_recorded(telegram: BotApiEmulator, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r'(?i)unknown parameter "bogus"'):
        await bot.send_message(ANN, "hi", api_kwargs={"bogus": 1})
    with pytest.raises(BadRequest, match=r"(?i)callback_data"):
        await bot.send_message(ANN, "hi", reply_markup=keyboard("x" * 65))
    await bot.send_message(BOB, "a hundred buttons", reply_markup=keyboard(*(f"b{n}" for n in range(100))))
    with pytest.raises(BadRequest, match=r"(?i)reply markup is too long"):
        await bot.send_message(ANN, "hi", reply_markup=keyboard(*(f"b{n}" for n in range(101))))
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelegram", api_kwargs={"chat_id": ANN})
    assert [(v.method, v.problem.split(" ")[0]) for v in telegram.spec_violations] == [
        ("sendMessage", "unknown"),
        ("sendMessage", "parameter"),
        ("sendMessage", "reply"),
        ("sendTelegram", "unknown"),
    ]
    assert telegram.messages(ANN) == []


async def test_spec_checks_types_and_required_parameters() -> None:
    api = BotApi(BotApiEmulator())
    status, body = await api.handle("sendMessage", {"chat_id": "x1", "text": "hi", "disable_notification": "maybe"})
    assert (status, body["ok"]) == (400, False)
    assert 'parameter "disable_notification" must be Boolean' in body["description"]
    status, body = await api.handle("getFile", {})
    assert body["description"] == 'Bad Request: parameter "file_id" is required'


async def test_buttons_callback_answers_and_membership(telegram: BotApiEmulator, bot: Bot) -> None:
    sent = await bot.send_message(ANN, "How are you?", reply_markup=keyboard("good", "bad"))
    with pytest.raises(ValueError, match=r"(?i)no button"):
        telegram.press_button(ANN, telegram.messages(ANN)[0], "ugly")
    query_id = telegram.press_button(ANN, telegram.messages(ANN)[0], "bad")["callback_query"]["id"]
    [update] = await bot.get_updates(timeout=0)
    assert update.callback_query.message.message_id == sent.message_id
    await update.callback_query.answer("Noted")
    assert (await telegram.wait_for_callback_answer(query_id))["text"] == "Noted"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await update.callback_query.answer("twice")

    assert (await bot.get_chat_member(STAFF, BOB)).status == "left"
    telegram.add_member(STAFF, BOB, "administrator")
    assert isinstance(await bot.get_chat_member(STAFF, BOB), ChatMemberAdministrator)


async def test_wait_for_message_and_events(telegram: BotApiEmulator, bot: Bot) -> None:
    telegram.add_member(STAFF, ANN)
    events = telegram.subscribe()
    telegram.send_command(ANN, "help", chat=STAFF, mention=True)

    async def reply_later() -> None:
        await asyncio.sleep(0.05)
        await bot.send_message(STAFF, "first")
        await bot.send_message(STAFF, "<i>second</i>", parse_mode="HTML")

    task = asyncio.create_task(reply_later())
    found = await telegram.wait_for_message(STAFF, "second", timeout=2)
    await task
    assert found.plain_text == "second" and found.text == "<i>second</i>"
    with pytest.raises(TimeoutError, match=r"(?i)sendMessage"):
        await telegram.wait_for_message(STAFF, timeout=0.05)
    kinds = [event.kind for event in events.drain()]
    assert kinds.index("update_queued") < kinds.index("message_sent")
    events.close()
    assert telegram.messages(STAFF)[0].plain_text == "/help@aftercare_test_bot"


async def test_commands_descriptions_and_copies(telegram: BotApiEmulator, bot: Bot) -> None:
    await bot.set_my_commands([("start", "Begin"), ("help", "Get help")])
    await bot.set_my_commands([("start", "Anfangen")], language_code="de")
    assert [c["command"] for c in telegram.commands] == ["start", "help"]
    assert [c.description for c in await bot.get_my_commands(language_code="de")] == ["Anfangen"]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([("Start!", "Begin")])
    with pytest.raises(BadRequest, match=r"(?i)LANG_CODE_INVALID"):
        await bot.set_my_commands([("start", "Begin")], language_code="de-AT")
    with pytest.raises(BadRequest, match=r"(?i)LANG_CODE_INVALID"):
        await bot.set_my_description("Hallo", language_code="German")
    german = telegram.user(8001, "Uwe", language_code="de-AT")
    assert [c["description"] for c in telegram.menu_for(german)] == ["Anfangen"], "the menu of its base language"
    assert [c["command"] for c in telegram.menu_for(telegram.user(8002, "Ola", language_code="nb"))] == [
        "start", "help"], "no menu in that language: the one for everyone"
    await bot.set_my_description("Aftercare reminders")
    await bot.set_my_short_description("Aftercare")
    assert (await bot.get_my_description()).description == "Aftercare reminders"
    assert (await bot.get_my_short_description()).short_description == "Aftercare"

    update = telegram.send_text(ANN, "my photo looked red")
    copied = await bot.copy_message(STAFF, ANN, update["message"]["message_id"])
    forwarded = await bot.forward_message(STAFF, ANN, update["message"]["message_id"])
    assert telegram.find_message(STAFF, copied.message_id).plain_text == "my photo looked red"
    assert forwarded.forward_origin.sender_user.id == ANN


async def test_webhook_delivery_with_secret_token(telegram: BotApiEmulator, bot: Bot) -> None:
    received: list[tuple[str | None, dict]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
        await bot.set_webhook(url, secret_token="s3cret")
        with pytest.raises(Conflict):
            await bot.get_updates(timeout=0)
        telegram.send_text(ANN, "via webhook")
        await telegram.wait_for(lambda: received, timeout=2)
        assert received[0][0] == "s3cret" and received[0][1]["message"]["text"] == "via webhook"
        assert (await bot.get_webhook_info()).url == url
        await bot.delete_webhook()
    finally:
        await runner.cleanup()


async def test_everything_produced_matches_the_official_types(telegram: BotApiEmulator, bot: Bot) -> None:
    spec = load_spec()
    telegram.add_member(STAFF, ANN, "creator")
    telegram.add_member(STAFF, BOB, "restricted")
    telegram.send_photo(ANN, caption="/help me")
    telegram.send_voice(ANN)
    telegram.send_video(ANN)
    telegram.send_document(ANN)
    telegram.send_sticker(ANN)
    telegram.send_location(ANN)
    telegram.send_contact(ANN)
    text = telegram.send_text(BOB, "hi", chat=STAFF)
    telegram.edit_text(text, "hi there")
    telegram.channel_post(telegram.channel(-100555, "News"), "post")
    sent = await bot.send_message(ANN, "<b>q</b>", parse_mode="HTML", reply_markup=keyboard("a"),
                                  reply_parameters={"message_id": 1})  # fmt: skip
    telegram.press_button(ANN, sent.to_dict(), "a")
    for update in telegram.pending_updates:
        assert spec.check_value(update, ("Update",), "update") is None, update
    calls = [("getChat", {"chat_id": STAFF}), ("getWebhookInfo", {}), ("getMe", {})]
    calls += [("getChatMember", {"chat_id": STAFF, "user_id": user}) for user in (ANN, BOB, telegram.bot.id)]
    for method, params in calls:
        status, body = await telegram.api.handle(method, params)
        assert status == 200
        problem = spec.check_value(body["result"], spec.returns[method], "result")
        assert problem is None, (method, body)


def test_subset_covers_exactly_the_implemented_methods() -> None:
    spec = load_spec()
    assert set(spec.methods) == set(IMPLEMENTED_METHODS)
    assert all(callable(getattr(BotApi, f"api_{method}", None)) for method in IMPLEMENTED_METHODS)
    assert spec.version.startswith("Bot API")
    assert "InlineKeyboardButton" in spec.types and "callback_data" in json.dumps(spec.types["InlineKeyboardButton"])


async def test_recording_request_answers_handlers_in_process() -> None:
    telegram = RecordingRequest(token=TOKEN)
    app = telegram.application_builder().build()

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_html(f"Hello <b>{update.effective_user.first_name}</b>")

    app.add_handler(CommandHandler("start", start))
    ann = telegram.world.user(ANN, "Ann")
    async with app:
        await app.process_update(make_command_update(telegram, app.bot, ann, "start"))
    assert telegram.sent_texts(ann) == ["Hello Ann"]
    assert telegram.calls_to("sendMessage")[0]["parse_mode"] == "HTML"
    assert [method for method, _ in telegram.calls] == ["getMe", "sendMessage"]
    assert telegram.spec_violations == []


async def test_json_urlencoded_and_query_parameters_are_understood(telegram: BotApiEmulator) -> None:
    url = f"{telegram.base_url}{TOKEN}"
    markup = {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/sendMessage", json={"chat_id": ANN, "text": "json", "reply_markup": markup}) as r:
            assert (r.status, (await r.json())["result"]["reply_markup"]) == (200, markup)
        form = {"chat_id": str(ANN), "text": "form", "reply_markup": json.dumps(markup)}
        async with http.post(f"{url}/SENDMESSAGE", data=form) as r:
            assert r.status == 200
        async with http.get(f"{url}/getChat", params={"chat_id": "@bob"}) as r:
            assert (await r.json())["result"]["id"] == BOB
        async with http.post(f"{telegram.base_url}1:wrong/getMe") as r:
            assert r.status == 401
    assert [m.plain_text for m in telegram.messages(ANN)] == ["json", "form"]
    assert telegram.messages(ANN)[1].callback_data == ["yes"]
    assert telegram.spec_violations == []


def test_extract_script_follows_parameter_types_but_not_produced_ones() -> None:
    path = ROOT / "tools" / "extract_api_subset.py"
    module_spec = importlib.util.spec_from_file_location("extract_api_subset", path)
    assert module_spec and module_spec.loader
    script = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(script)

    def field(name: str, *types: str) -> dict:
        return {"name": name, "types": list(types), "required": False, "description": "..."}

    api = {
        "version": "Bot API 99",
        "methods": {m: {"fields": [], "returns": ["Boolean"]} for m in IMPLEMENTED_METHODS},
        "types": {
            "InlineKeyboardMarkup": {"fields": [field("inline_keyboard", "Array of Array of InlineKeyboardButton")]},
            "InlineKeyboardButton": {"fields": [field("text", "String"), field("web_app", "WebAppInfo")]},
            "WebAppInfo": {"fields": [field("url", "String")]},
            "Message": {"fields": [field("poll", "Poll")]},
            "Poll": {"fields": [field("id", "String")]},
            "Sticker": {"fields": []},
        },
    }
    api["methods"]["sendMessage"]["fields"] = [field("reply_markup", "InlineKeyboardMarkup")]
    subset = script.build_subset(api)
    assert set(subset["types"]) == {"InlineKeyboardMarkup", "InlineKeyboardButton", "WebAppInfo", "Message", "Sticker"}
    assert subset["methods"]["sendMessage"]["fields"] == [
        {"name": "reply_markup", "types": ["InlineKeyboardMarkup"], "required": False}
    ]
