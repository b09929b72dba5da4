"""Plain records of the emulated Telegram world: users, chats, messages, files and events."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


class ApiError(Exception):
    """A Bot API error answer: HTTP status, Telegram's description, optional parameters."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass(frozen=True)
class UserHandle:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    is_bot: bool = False

    @property
    def chat_id(self) -> int:
        """A user's private chat with the bot has the user's id."""
        return self.id

    def to_json(self) -> JSON:
        data: JSON = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


@dataclass(frozen=True)
class ChatHandle:
    id: int
    type: str  # "private", "group", "supergroup" or "channel"
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    @property
    def chat_id(self) -> int:
        return self.id

    def to_json(self) -> JSON:
        data: JSON = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


@dataclass
class StoredMessage:
    """A message as the emulator keeps it: Telegram's JSON plus what the sender actually sent."""

    data: JSON  # the current Message object, as Telegram would return it
    from_bot: bool
    raw_text: str | None = None  # text or caption as sent, e.g. HTML source
    parse_mode: str | None = None
    keyboard: JSON | None = None  # a reply keyboard sent along; Telegram's Message does not echo it
    edits: list[JSON] = field(default_factory=list)  # earlier versions, oldest first
    deleted: bool = False

    @property
    def message_id(self) -> int:
        return self.data["message_id"]

    @property
    def chat_id(self) -> int:
        return self.data["chat"]["id"]

    @property
    def sender_id(self) -> int | None:
        return self.data.get("from", {}).get("id")

    @property
    def kind(self) -> str:
        for kind in ("text", "photo", "document", "voice", "video", "sticker", "location", "contact"):
            if kind in self.data:
                return kind
        return "other"

    @property
    def text(self) -> str | None:
        """Text or caption as sent (HTML source for the bot's messages)."""
        return self.raw_text if self.raw_text is not None else self.plain_text

    @property
    def plain_text(self) -> str | None:
        """Text or caption as the user sees it."""
        return self.data.get("text", self.data.get("caption"))

    @property
    def entities(self) -> list[JSON]:
        return self.data.get("entities", self.data.get("caption_entities", []))

    @property
    def reply_markup(self) -> JSON | None:
        return self.data.get("reply_markup")

    @property
    def photo(self) -> list[JSON] | None:
        return self.data.get("photo")

    @property
    def reply_to_message_id(self) -> int | None:
        return self.data.get("reply_to_message", {}).get("message_id")

    @property
    def buttons(self) -> list[JSON]:
        """Inline keyboard buttons, row by row flattened."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button for row in rows for button in row]

    @property
    def button_texts(self) -> list[str]:
        return [button["text"] for button in self.buttons]

    @property
    def callback_data(self) -> list[str]:
        return [b["callback_data"] for b in self.buttons if "callback_data" in b]

    def __repr__(self) -> str:
        who = "bot" if self.from_bot else self.sender_id
        return f"<StoredMessage {self.chat_id}/{self.message_id} from {who}: {self.plain_text!r}>"


@dataclass
class FileRecord:
    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes

    def to_json(self) -> JSON:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }


@dataclass(frozen=True)
class Event:
    """Something that happened in the emulated world, for listeners such as a live web page.

    Kinds: update_queued, api_call, message_sent, message_edited, message_deleted,
    callback_answered, error_response, spec_violation, webhook_changed.
    """

    kind: str
    data: JSON
    time: float = field(default_factory=time.time)


@dataclass
class Stats:
    calls: Counter[str] = field(default_factory=Counter)  # per method
    too_many_requests: int = 0  # 429 answers sent, injected or from flood limits
    flood_limited: int = 0  # 429 answers caused by flood limits
    paid_broadcasts: int = 0  # messages sent with allow_paid_broadcast, 0.1 Telegram Stars each
    dropped_connections: int = 0


@dataclass(frozen=True)
class SpecViolation:
    method: str
    problem: str
    params: JSON
