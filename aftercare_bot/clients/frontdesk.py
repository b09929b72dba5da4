"""Joining at the front desk: one printed QR code for the clinic (no token in it); the client shares their
phone number with Telegram's contact button, and a pending enrolment made for that number is theirs.

The number is compared in E.164 (clients/phones.py) and erased from the enrolment as soon as it matched.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.clients import enrolment
from aftercare_bot.db.models import Invite
from aftercare_bot.db.repositories import audit, external_enrolments

PAYLOAD = "frontdesk"  # t.me/<bot>?start=frontdesk


def frontdesk_link(bot_username: str) -> str:
    return f"https://t.me/{bot_username}?start={PAYLOAD}"


async def match(session: AsyncSession, phone: str, *, telegram_user_id: int, now: datetime) -> Invite | None:
    """The pending enrolment for this number (the latest session when several), its number erased; or None."""
    candidates = await external_enrolments.pending_with_phone(session, phone, now=now)
    if not candidates:
        return None
    invite = candidates[0]
    invite.phone = None
    await enrolment.mark_opened(session, invite, by=telegram_user_id, now=now)
    await audit.record(session, now=now, action="frontdesk_matched", actor_id=telegram_user_id,
                       detail={"invite_id": invite.id})
    return invite
