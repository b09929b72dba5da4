"""The Telegram side of the escalation Messenger: sending (from TelegramSender), editing and copying messages."""

from __future__ import annotations

from telegram import ReplyParameters

from aftercare_bot.bot.telegram.sender import TelegramSender, domain_errors, keyboard
from aftercare_bot.delivery.ports import Button, SendRejected


class TelegramMessenger(TelegramSender):
    async def edit(
        self, chat_id: int, message_id: int, html: str, buttons: tuple[tuple[Button, ...], ...] = ()
    ) -> None:
        try:
            with domain_errors():
                await self.bot.edit_message_text(
                    html, chat_id=chat_id, message_id=message_id, reply_markup=keyboard(buttons)
                )
        except SendRejected as exc:
            if "not modified" not in str(exc).lower():  # the card already shows this: nothing to do
                raise

    async def copy(
        self, chat_id: int, from_chat_id: int, message_id: int, *, reply_to_message_id: int | None = None
    ) -> int:
        reply = None
        if reply_to_message_id is not None:
            reply = ReplyParameters(reply_to_message_id, allow_sending_without_reply=True)
        with domain_errors():
            copied = await self.bot.copy_message(chat_id, from_chat_id, message_id, reply_parameters=reply)
        return copied.message_id
