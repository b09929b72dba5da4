"""Signed callback data for inline buttons, so that forged or altered presses are recognised.

A button that names a database object names it by `db.refs.RowRef`: its id and the random ref stored in its
row. The signature stops forged presses; the ref stops a genuine old button from reaching a
later object that was given the same id (SQLite reuses the ids of deleted rows; a restore or a TRUNCATE can
restart PostgreSQL's sequences). A button meant for one person also carries their Telegram user id, checked
against whoever presses it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

_SIGNATURE_CHARS = 12  # 72 bits: plenty against guessing, small enough for Telegram's 64-byte limit
MAX_CALLBACK_BYTES = 64


class CallbackSigner:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"aftercare-callbacks:" + secret).digest()

    def _signature(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:_SIGNATURE_CHARS]

    def sign(self, *parts: str | int) -> str:
        payload = ":".join(str(p) for p in parts)
        data = f"{payload}:{self._signature(payload)}"
        if len(data.encode()) > MAX_CALLBACK_BYTES:
            raise ValueError(f"callback data too long for Telegram: {data!r}")
        return data

    def verify(self, data: str | None) -> list[str] | None:
        """The parts of genuine data, or None for anything forged, altered or malformed."""
        if not data or ":" not in data:
            return None
        payload, _, signature = data.rpartition(":")
        if not hmac.compare_digest(signature, self._signature(payload)):
            return None
        return payload.split(":")
