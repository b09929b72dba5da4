"""API keys for booking systems: made by an admin (Telegram or the command line), shown once, kept hashed."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import ApiKey
from aftercare_bot.db.refs import RowRef
from aftercare_bot.db.repositories import api_keys, audit

KEY_PREFIX = "ak_"
KEY_BYTES = 32
PREFIX_CHARS = 10  # "ak_" and seven characters: enough to tell keys apart in a list, useless to guess with
MAX_NAME = 100


class KeyProblem(StrEnum):
    MISSING = "missing"
    UNKNOWN = "unknown"
    REVOKED = "revoked"


@dataclass(frozen=True)
class KeyCheck:
    key: ApiKey | None
    problem: KeyProblem | None


def hash_key(secret: str) -> str:
    # The key is 256 random bits, so a plain hash is as good as a slow one here and costs nothing per call.
    return hashlib.sha256(secret.encode()).hexdigest()


def clean_name(name: str) -> str | None:
    cleaned = " ".join(name.split())
    return cleaned if 0 < len(cleaned) <= MAX_NAME else None


async def create(session: AsyncSession, name: str, *, created_by: int | None, now: datetime) -> tuple[ApiKey, str]:
    """The new key and its secret, which is never stored and cannot be shown again."""
    secret = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
    key = ApiKey(name=name, key_hash=hash_key(secret), prefix=secret[:PREFIX_CHARS], created_by=created_by,
                 created_at=now)
    session.add(key)
    await session.flush()
    await audit.record(session, now=now, action="api_key_created", actor_id=created_by,
                       detail={"api_key_id": key.id, "name": name})
    return key, secret


async def check(session: AsyncSession, secret: str | None) -> KeyCheck:
    if not secret:
        return KeyCheck(None, KeyProblem.MISSING)
    key = await api_keys.by_hash(session, hash_key(secret))
    if key is None:
        return KeyCheck(None, KeyProblem.UNKNOWN)
    return KeyCheck(key, KeyProblem.REVOKED if key.revoked_at is not None else None)


async def revoke(session: AsyncSession, key: RowRef, *, by: int | None, now: datetime) -> ApiKey | None:
    """The key revoked (or revoked already); None when there is no such key."""
    row = await api_keys.get(session, key)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at, row.revoked_by = now, by
        await audit.record(session, now=now, action="api_key_revoked", actor_id=by,
                           detail={"api_key_id": row.id, "name": row.name})
    return row
