"""What a Telegram message holds, in the terms the domain uses."""

from __future__ import annotations

from telegram import Message

# Checked in this order: an animation also carries a document, so it comes first.
_MEDIA_FIELDS = ("animation", "voice", "video_note", "video", "audio", "document", "location", "contact")


def content_of(message: Message) -> tuple[str, str | None, str | None]:
    """(kind, text or caption, file id of a photo) of any message."""
    text = message.text or message.caption
    if message.photo:
        return "photo", text, message.photo[-1].file_id  # the largest size
    if message.sticker:
        return "sticker", message.sticker.emoji, None
    for kind in _MEDIA_FIELDS:
        if getattr(message, kind, None):
            return kind, text, None
    return ("text" if message.text else "other"), text, None
