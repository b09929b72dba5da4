"""The Telegram side of the escalation Messenger: sending (from TelegramSender), editing and copying messages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from telegram import ReplyParameters
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from aftercare_bot.outbound import Button, RecipientBlocked, SendRejected, SendRetryLater
from aftercare_bot.telegram_io import TelegramSender, keyboard


@contextmanager
def domain_errors() -> Iterator[None]:
    """Telegram's errors as the domain's, in the same way TelegramSender.send maps them."""
    try:
        yield
    except Forbidden as exc:
        raise RecipientBlocked(str(exc)) from exc
    except RetryAfter as exc:
        wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        raise SendRetryLater(f"flood control: {exc}", retry_after=seconds) from exc
    except BadRequest as exc:
        raise SendRejected(str(exc)) from exc
    except (TimedOut, NetworkError) as exc:
        raise SendRetryLater(f"network: {exc}") from exc
    except ChatMigrated as exc:
        raise SendRejected(f"chat moved to {exc.new_chat_id}") from exc
    except TelegramError as exc:
        raise SendRetryLater(f"telegram: {exc}") from exc


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
