"""What the domain needs from a messenger, without depending on Telegram's library."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True)
class OutboundMessage:
    chat_id: int
    html: str
    buttons: tuple[tuple[Button, ...], ...] = field(default=())
    reply_to_message_id: int | None = None
    photo_file_id: str | None = None


class RecipientBlocked(Exception):
    """The person blocked the bot or deleted their account; retrying cannot help."""


class SendRetryLater(Exception):
    """A temporary failure: flood control, a timeout or a network fault."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class SendRejected(Exception):
    """Telegram refused the message itself (for example malformed HTML); retrying cannot help."""


class Sender(Protocol):
    async def send(self, message: OutboundMessage) -> int:
        """Deliver the message and return its message id, or raise one of the errors above."""
        ...


class PictureSender(Sender, Protocol):
    async def send_picture(self, chat_id: int, png: bytes, *, filename: str, caption_html: str) -> int:
        """Send a PNG picture with a caption (at most 1024 characters as shown); errors as for send()."""
        ...
