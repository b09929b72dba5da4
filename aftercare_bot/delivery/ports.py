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
    # Safety advice a client must have within seconds: may be paid for to skip a saturated overall flood limit.
    urgent: bool = False


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


class Pacing(Protocol):
    """How much a chat can take without waiting: the bot's view of Telegram's flood limits for that chat, so that
    nobody blocks behind a busy chat (bot/telegram/rate_limit.py implements it)."""

    def room(self, chat_id: int, within: float) -> int:
        """How many more messages could leave for the chat within `within` seconds, after those already waiting."""
        ...

    def admit(self, chat_id: int, keep: int = 0) -> bool:
        """Whether one message may go to the chat now without waiting, leaving `keep` of its longer window unused;
        if so, its place is held for the next message to that chat (or a few seconds), see release()."""
        ...

    def release(self, chat_id: int) -> None:
        """Give back a place held by admit() that is not used after all."""
        ...


class Unlimited:
    """No flood limits (FLOOD_LIMITS=false, tests): every chat can always take more."""

    ROOM = 1_000_000

    def room(self, chat_id: int, within: float) -> int:
        return self.ROOM

    def admit(self, chat_id: int, keep: int = 0) -> bool:
        return True

    def release(self, chat_id: int) -> None:
        """Nothing was held."""
