"""The Telegram side of outbound messages: PTB calls and the mapping of its errors to domain errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, ReplyParameters
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from aftercare_bot.bot.telegram.paid_broadcast import PaidBroadcast
from aftercare_bot.delivery.ports import Button, OutboundMessage, RecipientBlocked, SendRejected, SendRetryLater

log = logging.getLogger(__name__)


def keyboard(rows: tuple[tuple[Button, ...], ...] | list[list[Button]]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(button.label, callback_data=button.data) for button in row] for row in rows]
    )


@contextmanager
def domain_errors() -> Iterator[None]:
    """Telegram's errors as the domain's: blocked, try again later, or refused for good."""
    try:
        yield
    except Forbidden as exc:
        raise RecipientBlocked(str(exc)) from exc
    except RetryAfter as exc:
        raise SendRetryLater(f"flood control: {exc}", retry_after=_seconds(exc.retry_after)) from exc
    except BadRequest as exc:  # before NetworkError, of which PTB makes it a subclass
        raise SendRejected(str(exc)) from exc
    except (TimedOut, NetworkError) as exc:
        raise SendRetryLater(f"network: {exc}") from exc
    except ChatMigrated as exc:
        raise SendRejected(f"chat moved to {exc.new_chat_id}") from exc
    except TelegramError as exc:
        raise SendRetryLater(f"telegram: {exc}") from exc


class TelegramSender:
    def __init__(self, bot: Bot, paid: PaidBroadcast | None = None) -> None:
        self.bot = bot
        self.paid = paid  # with SAFETY_PAID_BROADCAST: urgent messages skip a saturated overall limit

    async def send(self, message: OutboundMessage) -> int:
        paid = self.paid
        if paid is None or not message.urgent or not paid.wanted():
            return await self._send(message, paid=False)
        try:
            sent_id = await self._send(message, paid=True)
        except SendRejected as refusal:
            paid.refused(str(refusal))  # at once, so that no other message tries paying meanwhile
            try:
                return await self._send(message, paid=False)
            except SendRejected:
                paid.not_about_paying()
                raise
        paid.accepted()
        return sent_id

    async def _send(self, message: OutboundMessage, *, paid: bool) -> int:
        with domain_errors():
            if message.photo_file_id:
                sent = await self.bot.send_photo(
                    message.chat_id, message.photo_file_id, caption=message.html or None,
                    reply_markup=keyboard(message.buttons), reply_parameters=_reply(message),
                    allow_paid_broadcast=paid or None,
                )
            else:
                sent = await self.bot.send_message(
                    message.chat_id, message.html, reply_markup=keyboard(message.buttons),
                    reply_parameters=_reply(message), allow_paid_broadcast=paid or None,
                )
        return sent.message_id

    async def send_picture(self, chat_id: int, png: bytes, *, filename: str, caption_html: str) -> int:
        with domain_errors():
            sent = await self.bot.send_photo(chat_id, InputFile(png, filename=filename), caption=caption_html or None)
        return sent.message_id


def _reply(message: OutboundMessage) -> ReplyParameters | None:
    if message.reply_to_message_id is None:
        return None
    return ReplyParameters(message.reply_to_message_id, allow_sending_without_reply=True)


def _seconds(value: object) -> float:
    total_seconds = getattr(value, "total_seconds", None)
    return float(total_seconds()) if callable(total_seconds) else float(value)  # type: ignore[arg-type]
