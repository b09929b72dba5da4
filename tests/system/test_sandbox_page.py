"""The sandbox page in a real headless Chromium: the whole journey from enrolment to a staff reply."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

from aftercare_bot.sandbox import Sandbox
from tests.support.paths import ROOT
from tests.support.sandbox import running_sandbox

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = ROOT / "test-artifacts"
URGENT_BUTTON = "🚨 Bleeding, pus, fever or spreading redness"


@pytest.fixture
async def sandbox(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Sandbox]:
    async with running_sandbox(monkeypatch) as started:
        yield started


@pytest.fixture
async def page(sandbox: Sandbox) -> AsyncIterator[Page]:
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1560, "height": 1000})
        opened = await context.new_page()
        opened.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        opened.on("console", lambda m: problems.append(f"console: {m.text} {m.location}")
                  if m.type == "error" else None)  # fmt: skip
        opened.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}")
                  if not r.url.endswith("/api/events") else None)  # fmt: skip
        opened.on("request", lambda r: problems.append(f"outside request: {r.url}")
                  if not r.url.startswith(sandbox.url) else None)  # fmt: skip
        await opened.goto(sandbox.url)
        await expect(opened.locator("#connection")).to_have_text("Live")
        yield opened
        await browser.close()
    assert problems == [], "the page must work without errors and without the internet"


async def test_enrol_agree_escalate_claim_and_reply_from_the_page(sandbox: Sandbox, page: Page) -> None:
    expect.set_options(timeout=10_000)
    client_pane, staff_pane = page.locator("[data-pane=client]"), page.locator("[data-pane=staff]")

    # Front desk: enrol "Ann <b>Smith</b>"; the name must show as typed, never as markup.
    await page.get_by_label("client's name").fill("Ann <b>Smith</b>")
    await page.get_by_role("button", name="Enrol", exact=True).click()
    await expect(page.locator("#enrol-result")).to_contain_text("?start=")
    await expect(staff_pane.locator(".log")).to_contain_text("Enrolment link for Ann <b>Smith</b>")
    assert await staff_pane.locator(".text strong", has_text="Enrolment link").count() == 1
    assert await page.locator("b").count() == 0
    await expect(staff_pane.locator("img.photo")).to_be_visible()  # the QR code

    # The client opens the link with one click and agrees; the plan is scheduled.
    await expect(page.locator("#clock-next")).to_have_text("Nothing is scheduled.")
    await page.get_by_role("button", name="Open the link on Ann's phone").click()
    await expect(client_pane.locator(".log")).to_contain_text("/start")
    await client_pane.get_by_role("button", name="Yes, send me aftercare advice").click()
    await expect(client_pane.locator(".log")).to_contain_text("all set")
    await expect(client_pane.get_by_role("button", name="Yes, send me aftercare advice")).to_have_count(0)
    consent = client_pane.locator(".msg", has_text="Would you like")
    await expect(consent.locator(".edited")).to_have_count(0)  # only the buttons went away
    await expect(page.locator("#clock-next")).to_contain_text("Next scheduled:")

    # Jump to the same-evening message (formatting rendered), then to the day-1 check-in.
    jump = page.get_by_role("button", name="Jump to the next scheduled message")
    await jump.click()
    await expect(client_pane.locator(".text strong", has_text="What to expect:")).to_be_visible()
    await jump.click()
    checkin = client_pane.locator(".msg", has_text="how is your skin today?")
    await expect(checkin.get_by_role("button", name=URGENT_BUTTON)).to_be_visible()
    await expect(page.locator("#clock-now")).to_contain_text("10:00")

    # A red flag: the check-in is edited to show the answer, and a case card reaches the staff group.
    await checkin.get_by_role("button", name=URGENT_BUTTON).click()
    await expect(checkin).to_contain_text("Your answer")
    await expect(checkin.locator(".edited")).to_be_visible()
    await expect(checkin.locator(".key")).to_have_count(0)
    card = staff_pane.locator(".msg", has_text="URGENT")
    await expect(card.get_by_role("button", name="Claim")).to_be_visible()

    # The nurse claims the case and replies to the card; the client gets the reply.
    await card.get_by_role("button", name="Claim").click()
    await expect(page.locator("#toasts")).to_contain_text("You have claimed this case")
    await expect(card).to_contain_text("Claimed by Nina")
    await card.get_by_role("button", name="Reply").click()
    composer = page.get_by_label("Message (Staff group)")
    await expect(composer).to_be_focused()
    await composer.fill("Hello Ann, this is Nina. Please call us now so we can look at it today.")
    await composer.press("Enter")
    await expect(staff_pane.locator(".msg.out .quote")).to_contain_text("URGENT")
    await expect(client_pane.locator(".log")).to_contain_text("Please call us now")

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "sandbox.png", full_page=True)


async def test_pictures_and_admin_commands_from_the_page(sandbox: Sandbox, page: Page, tmp_path: Path) -> None:
    expect.set_options(timeout=10_000)
    client_pane, admin_pane = page.locator("[data-pane=client]"), page.locator("[data-pane=admin]")
    link = (await sandbox.enrol("Bo Lee"))["link"]
    user_id = sandbox.open_link(link, name="Bo Lee")
    await expect(page.locator("#client-select")).to_have_value(str(user_id))
    await client_pane.get_by_role("button", name="Yes, send me aftercare advice").click()
    await expect(client_pane.locator(".log")).to_contain_text("all set")

    await client_pane.get_by_role("button", name="Send sample photo").click()
    await expect(client_pane.locator(".msg.out img.photo")).to_have_count(1)
    picture = tmp_path / "cheek.png"
    picture.write_bytes(sandbox.telegram.files[next(iter(sandbox.telegram.files))].content)
    await client_pane.get_by_label("Message (Client's private chat)").fill("my cheek this morning")
    await client_pane.locator("input[type=file]").set_input_files(picture)
    with_caption = client_pane.locator(".msg.out", has_text="my cheek this morning")
    await expect(with_caption.locator("img")).to_be_visible()

    await admin_pane.get_by_label("Message (Admin's private chat)").fill("/help")
    await admin_pane.get_by_role("button", name="Send", exact=True).click()
    await expect(admin_pane.locator(".msg.in")).to_contain_text(sandbox.settings.clinic_phone)
    assert await page.locator("#staff-select option").count() == 3


async def test_the_warning_sign_question_from_the_page(sandbox: Sandbox, page: Page) -> None:
    """Words the rules cannot place are answered with the warning-sign question; a tap makes the case urgent."""
    expect.set_options(timeout=10_000)
    client_pane, staff_pane = page.locator("[data-pane=client]"), page.locator("[data-pane=staff]")
    link = (await sandbox.enrol("Cy Park"))["link"]
    sandbox.open_link(link, name="Cy Park")
    await client_pane.get_by_role("button", name="Yes, send me aftercare advice").click()
    await expect(client_pane.locator(".log")).to_contain_text("all set")

    composer = client_pane.get_by_label("Message (Client's private chat)")
    await composer.fill("my cheek looks kind of like a pizza")
    await composer.press("Enter")
    question = client_pane.locator(".msg.in", has_text="is any of these happening now?")
    await expect(question.get_by_role("button", name="None of these")).to_be_visible()
    card = staff_pane.locator(".msg", has_text="a pizza")
    await expect(card).to_be_visible()
    await expect(card).not_to_contain_text("URGENT")

    await question.get_by_role("button", name="🌡 Pus, fever or spreading redness").click()
    await expect(client_pane.locator(".log")).to_contain_text("needs attention now")
    urgent_card = staff_pane.locator(".msg", has_text="URGENT").filter(has_text="Why it was flagged")
    await expect(urgent_card).to_contain_text("pressed a warning sign")
    await expect(urgent_card).not_to_contain_text("by a later message")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "sandbox-ask-back.png", full_page=True)
