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
import re
from enum import StrEnum


class Press(StrEnum):
    """Every kind of button the bot shows, by the start of its signed data. app.register_handlers says which
    handler takes each; the values never change, so buttons already in chats keep working across upgrades."""

    # Clients
    CONSENT = "inv"  # agree to (or decline) the plan, after opening their link
    STOP = "stop"  # confirm /stop
    CHECKIN = "ci"  # answer a check-in
    ASK_BACK = "ab"  # say which warning sign, if any, a message was about
    FORGET = "forget"  # confirm /forget (anyone)
    LANGUAGE = "lang"  # choose the language of the messages (/language)
    # Staff
    CASE = "esc"  # claim or resolve a case on its card
    DIGEST = "dg"  # claim a case listed in a digest (many cases in one message, when the staff chat is busy)
    # Admins: the team
    TEAM = "ad:tl"  # list the team
    TEAM_REMOVE = "ad:tr"  # ask before removing someone
    TEAM_REMOVE_CONFIRMED = "ad:ty"  # remove them
    TEAM_ADD = "ad:ta"  # add someone as staff or admin
    API_KEY_REVOKE = "ak"  # revoke a booking-system API key
    # Admins: plans, without typing
    PLANS = "ad:ls"  # list the plans
    PLAN = "ad:pl"  # open a plan
    STEP = "ad:st"  # open a step
    STEP_ON_OFF = "ad:on"  # turn a step on or off
    STEP_HISTORY = "ad:hi"  # earlier texts of a step
    RESTORE = "ad:rs"  # bring an earlier text back
    TEST_STEP = "ad:te"  # send oneself a step as a client would get it
    TEST_DRAFT = "ad:td"  # the same for a change not yet saved
    SAVE = "ad:ok"  # save a prepared change
    DISCARD = "ad:no"  # drop it
    # Admins: plans, by typing (they start the edit conversation)
    EDIT_TEXT = "ad:ed"
    ADD_LANGUAGE = "ad:al"
    EDIT_TIMING = "ad:tm"
    EDIT_GRACE = "ad:gr"
    NEW_STEP = "ad:ns"
    COPY_PLAN = "ad:np"


def pattern(press: Press) -> str:
    """What a handler for `press` matches: the kind, then signed parts."""
    return rf"^{re.escape(press.value)}:[\w:-]+$"


_SIGNATURE_CHARS = 12  # 72 bits: plenty against guessing, small enough for Telegram's 64-byte limit
MAX_CALLBACK_BYTES = 64


class CallbackSigner:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"aftercare-callbacks:" + secret).digest()

    def _signature(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:_SIGNATURE_CHARS]

    def sign(self, *parts: object) -> str:
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
