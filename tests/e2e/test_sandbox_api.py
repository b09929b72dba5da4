"""The sandbox without a browser: its settings, the page's HTTP API, live events and the clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import aiohttp
import pytest

from aftercare_bot.sandbox import Sandbox
from aftercare_bot.sandbox import settings as sandbox_defaults
from tests.support.sandbox import running_sandbox


@pytest.fixture
async def sandbox(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Sandbox]:
    async with running_sandbox(monkeypatch) as started:
        yield started


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=sandbox.url) as session:
        yield session


def test_sandbox_settings_never_take_the_real_token_database_or_chats(monkeypatch, tmp_path) -> None:
    env = tmp_path / ".env"
    env.write_text("TELEGRAM_BOT_TOKEN=999:REAL-token\nDATABASE_URL=postgresql://prod/db\nSTAFF_CHAT_ID=-5\n"
                   "ADMIN_IDS=42\nCLINIC_NAME=Lumen Clinic\nHEALTH_PORT=9000\n"
                   "SAFETY_PAID_BROADCAST=true\n")  # fmt: skip
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "https://api.telegram.org/bot")
    api = "http://127.0.0.1:1/bot"
    settings = sandbox_defaults.sandbox_settings(api, tmp_path / "s.db", env_file=str(env))
    assert settings.telegram_bot_token.get_secret_value() == sandbox_defaults.SANDBOX_TOKEN
    assert settings.telegram_api_base_url == api
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 's.db'}"
    assert settings.staff_chat_id == sandbox_defaults.STAFF_CHAT_ID
    assert settings.admin_ids == [sandbox_defaults.ADMIN_ID]
    assert settings.health_port is None
    assert not settings.safety_paid_broadcast, "nothing is paid for in the sandbox"
    assert settings.clinic_name == "Lumen Clinic", "the clinic's own wording is previewed"
    bare = sandbox_defaults.sandbox_settings(api, tmp_path / "s.db", env_file=None)
    assert bare.clinic_phone and bare.clinic_name == "Glow Skin Clinic"


def test_the_command_line_starts_the_sandbox_with_its_options() -> None:
    from aftercare_bot.cli import build_parser, cmd_sandbox

    args = build_parser().parse_args(["sandbox", "--port", "9000", "--no-browser"])
    assert (args.func, args.port, args.no_browser) == (cmd_sandbox, 9000, True)
    assert build_parser().parse_args(["sandbox"]).port == 8080
    assert build_parser().parse_args(["sandbox", "--staff-language", "ru"]).staff_language == "ru"
    assert build_parser().parse_args(["sandbox"]).staff_language is None


async def test_the_page_chooses_the_clients_telegram_language_and_shows_the_staff_language(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running_sandbox(monkeypatch, staff_language="de") as sandbox, \
            aiohttp.ClientSession(base_url=sandbox.url) as http:
        state = (await (await http.get("/api/state")).json())["sandbox"]
        assert state["staff_language"] == {"code": "de", "name": "Deutsch"}
        assert {"code": "en", "name": "English", "texts": True} in state["languages"]
        assert {"code": "de", "name": "Deutsch", "texts": False} in state["languages"], "one without texts, to try"
        assert state["client_language"] == "en"

        chosen = await http.post("/api/sandbox/client-language", json={"language_code": "de"})
        assert (await chosen.json()) == {"client_language": "de"}
        enrolled = await (await http.post("/api/sandbox/enrol", json={"name": "Cleo Park"})).json()
        assert enrolled["link"].startswith("https://t.me/")
        opened = await (await http.post("/api/sandbox/open-link", json={"link": enrolled["link"]})).json()
        assert sandbox.telegram.users[opened["user_id"]].language_code == "de"
        again = await http.post("/api/sandbox/client-language", json={"language_code": "en",
                                                                       "user_id": opened["user_id"]})
        assert again.status == 200 and sandbox.telegram.users[opened["user_id"]].language_code == "en"
        for bad in ({"language_code": "<b>"}, {"language_code": 7}, {}):
            refused = await http.post("/api/sandbox/client-language", json=bad)
            assert refused.status == 400
        assert sandbox.client_language == "en", "a refused choice changes nothing"


async def next_event(
    events: aiohttp.ClientResponse, name: str, predicate: Callable[[dict], bool] = lambda data: True
) -> dict:
    """Read server-sent events until one called `name` whose data matches."""
    kind = None
    while True:
        line = (await asyncio.wait_for(events.content.readline(), 5)).decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind == name:
            data = json.loads(line.removeprefix("data: "))
            if predicate(data):
                return data


async def test_typing_as_a_person_reaches_the_bot_and_the_answer_streams_to_the_page(sandbox, http) -> None:
    async with http.get("/api/events") as events:
        assert events.headers["Content-Type"] == "text/event-stream"
        sent = await http.post("/api/send", json={"user_id": sandbox.admin.id, "chat_id": sandbox.admin.id,
                                                  "text": "/help"})  # fmt: skip
        assert sent.status == 200 and (await sent.json())["message"]["text"] == "/help"
        mine = await next_event(events, "message", lambda m: not m["from_bot"])
        assert mine["entities"] == [{"type": "bot_command", "offset": 0, "length": 5}]
        answer = await next_event(events, "message", lambda m: m["from_bot"])
    assert answer["chat_id"] == sandbox.admin.id and sandbox.settings.clinic_phone in answer["text"]
    assert "<" not in answer["text"], "the page gets plain text plus entities, never HTML to insert"
    state = await (await http.get("/api/state")).json()
    assert next(m["text"] for m in state["messages"] if m["chat_id"] == sandbox.admin.id) == "/help"
    assert state["sandbox"]["roles"] == {"1001": "admin", "1002": "front desk", "1003": "nurse"}


async def test_the_page_api_refuses_bad_requests_and_other_sites(sandbox, http) -> None:
    stranger = await http.post("/api/send", json={"user_id": 77, "chat_id": 77, "text": "hi"})
    assert stranger.status == 400 and "no person" in (await stranger.json())["error"]
    bot_id = sandbox.telegram.bot.id
    as_bot = await http.post("/api/send", json={"user_id": bot_id, "chat_id": 1001, "text": "x"})
    assert as_bot.status == 400
    someone_elses_chat = await http.post("/api/send", json={"user_id": 1002, "chat_id": 1001, "text": "x"})
    assert someone_elses_chat.status == 400
    form = await http.post("/api/send", data={"user_id": "1001", "chat_id": "1001", "text": "x"})
    assert form.status == 400, "only JSON, which another site cannot post without asking"
    other_site = await http.post("/api/send", json={"user_id": 1001, "chat_id": 1001, "text": "x"},
                                 headers={"Origin": "https://evil.example"})  # fmt: skip
    assert other_site.status == 403
    rebound = await http.get("/api/state", headers={"Host": "evil.example"})
    assert rebound.status == 403
    not_an_image = aiohttp.FormData({"user_id": "1001", "chat_id": "1001"})
    svg = b"<svg onload=alert(1)>"
    not_an_image.add_field("picture", svg, filename="x.svg", content_type="image/svg+xml")
    assert (await http.post("/api/photo", data=not_an_image)).status == 400
    assert (await http.get("/static/..%2Fsandbox_web.py")).status == 404
    assert sandbox.telegram.messages(1001) == [], "nothing refused was stored"
    page = await http.get("/")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<main" in await page.text()


async def test_enrolment_link_and_clock_jumps_run_the_real_schedule(sandbox, http) -> None:
    assert (await sandbox.move_clock("next"))["moved"] is False, "nothing is scheduled yet"
    enrolled = await (await http.post("/api/sandbox/enrol", json={"name": "Cleo  Park"})).json()
    assert enrolled["link"].startswith(f"https://t.me/{sandbox_defaults.BOT_USERNAME}?start=")
    refused = await http.post("/api/sandbox/open-link", json={"link": "https://t.me/other_bot?start=abc"})
    assert refused.status == 400
    link = {"link": enrolled["link"], "name": "Cleo Park"}
    opened = await (await http.post("/api/sandbox/open-link", json=link)).json()
    cleo = sandbox.telegram.users[opened["user_id"]]
    assert (cleo.first_name, cleo.last_name) == ("Cleo", "Park") and sandbox.is_client(cleo.id)
    consent = await sandbox.telegram.wait_for_message(cleo, since=0)
    sandbox.telegram.press_button(cleo, consent, consent.callback_data[0])
    await sandbox.telegram.wait_for_message(cleo, "all set")

    due = await sandbox.next_due()
    assert due is not None and due - sandbox.clock.now() > timedelta(hours=3)
    before = len(sandbox.telegram.bot_messages(cleo))
    jumped = await (await http.post("/api/sandbox/clock", json={"action": "next"})).json()
    assert jumped["moved"] and jumped["now"] >= due.timestamp()
    assert len(sandbox.telegram.bot_messages(cleo)) == before + 1, "the jump sends what fell due, at once"
    latest = sandbox.telegram.bot_messages(cleo)[-1]
    assert latest.data["date"] >= int(due.timestamp()), "dated in sandbox time"
    start = sandbox.clock.now()
    await sandbox.move_clock("day")
    assert sandbox.clock.now() - start >= timedelta(days=1)
    unknown = await http.post("/api/sandbox/clock", json={"action": "year"})
    assert unknown.status == 400


async def test_after_a_few_simulated_weeks_the_admin_sees_the_report(sandbox, http) -> None:
    enrolled = await (await http.post("/api/sandbox/enrol", json={"name": "Cleo Park"})).json()
    opened = await (await http.post("/api/sandbox/open-link", json={"link": enrolled["link"], "name": "Cleo Park"})
                    ).json()
    cleo = sandbox.telegram.users[opened["user_id"]]
    consent = await sandbox.telegram.wait_for_message(cleo, since=0)
    sandbox.telegram.press_button(cleo, consent, consent.callback_data[0])
    await sandbox.telegram.wait_for_message(cleo, "all set")
    for _ in range(3):
        await sandbox.move_clock("next")
    for _ in range(21):
        await sandbox.move_clock("day")
    sent = await http.post("/api/send", json={"user_id": sandbox.admin.id, "chat_id": sandbox.admin.id,
                                              "text": "/report month"})
    assert sent.status == 200
    report = await sandbox.telegram.wait_for_message(
        sandbox.admin, lambda m: "photo" in m.data and "Aftercare at" in m.data.get("caption", ""), since=0)
    assert "agreed: 1" in report.data["caption"]
    assert "Cleo" not in report.data["caption"]
    # Three or four Mondays passed: a weekly report for each reached the admin's pane as well, none twice.
    weekly = [m.data["caption"] for m in sandbox.telegram.bot_messages(sandbox.admin)
              if "weekly" in (m.data.get("caption") or "")]
    assert len(weekly) in (3, 4) and len(set(weekly)) == len(weekly)
