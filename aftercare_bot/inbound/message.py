"""A message a person sent the bot, as the domain needs it, and what triage needs to know of its kind."""

from __future__ import annotations

from dataclasses import dataclass

# Media that triage should treat as "something to look at" (a photo is told apart by has_photo).
TRIAGE_MEDIA_KINDS = frozenset({"voice", "video", "video_note", "audio", "document", "animation"})
# The safety text an urgent message earns.
CLIENT_SAFETY_KEY = "esc_safety_urgent"


@dataclass(frozen=True)
class InboundMessage:
    """A message a person sent the bot in a private chat, as the domain needs it."""

    telegram_user_id: int
    chat_id: int
    message_id: int
    kind: str  # text, photo, voice, video, document, sticker, ... ; "edit" for an edited text
    text: str | None = None
    file_id: str | None = None
    language: str | None = None
    edited: bool = False
