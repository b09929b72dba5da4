"""End to end: a client whose Telegram is in Russian is asked, answered and sent the plan in Russian."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

SESSION = datetime(2026, 1, 13, 14, 0, tzinfo=UTC)


async def test_a_russian_client_gets_consent_replies_and_the_plan_in_russian(bot) -> None:
    bot.clock.set(SESSION)
    telegram = bot.telegram
    anna = telegram.user(5101, "Анна", language_code="ru")
    token = await bot.invite_link_token("Анна Смирнова", "")
    telegram.send_command(anna, "start", token)
    consent = await telegram.wait_for_message(anna, "Мы хотели бы присылать вам советы", since=0)
    assert "после процедуры Микронидлинг" in consent.plain_text, "the plan's Russian title"
    assert "6 коротких сообщений примерно за 6 недель" in consent.plain_text, "Russian plural forms"
    assert [button["text"] for button in consent.buttons] == ["Да, присылайте советы", "Нет, спасибо"]

    since = telegram.last_message_id(anna)
    telegram.press_button(anna, consent, consent.callback_data[0])
    await telegram.wait_for_message(anna, "Спасибо, всё готово", since=since)

    await bot.jump(timedelta(hours=4, seconds=1))
    evening = await telegram.wait_for_message(anna, "Здравствуйте, Анна! Спасибо, что пришли", since=since)
    assert "+44 20 7946 0000" in evening.plain_text and "вызовите скорую помощь" in evening.plain_text

    since = telegram.last_message_id(anna)
    telegram.send_command(anna, "help")
    help_text = (await telegram.wait_for_message(anna, "Этот бот присылает советы", since=since)).plain_text
    assert "Телефон клиники: +44 20 7946 0000" in help_text and "вызовите скорую помощь" in help_text
