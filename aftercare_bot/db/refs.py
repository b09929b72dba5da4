"""References to rows that leave the database: on buttons, in links, anywhere a person can press or replay them.

A row that buttons name has a random ref of its own besides its id (models.HasRef), and a button names it by
both, as `RowRef`. The id alone is not enough: SQLite gives a deleted row's id to the next row, and a restore or
a TRUNCATE can restart PostgreSQL's sequences too, so a button made for an erased case could otherwise act on a
new one. The ref is random, so a later row never inherits it; the callback signature (callbacks.py) stops
anyone from writing a ref of their choosing.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Protocol

REF_CHARS = 12  # 48 random bits
NO_ROW = "none"  # on a button made when there was no row to name (a person with no client record, say)


def new_ref() -> str:
    return secrets.token_hex(REF_CHARS // 2)


class _Referenced(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def ref(self) -> str | None: ...


_REF_TOKEN = re.compile(r"(\d{1,19})-([0-9a-f]{12})")


@dataclass(frozen=True, slots=True)
class RowRef:
    """One database row as a button names it: `<id>-<ref>`."""

    id: int
    ref: str

    @classmethod
    def of(cls, row: _Referenced) -> RowRef:
        if not row.ref:
            raise ValueError(f"row {row.id} has no ref to put on a button")
        return cls(row.id, row.ref)

    @classmethod
    def parse(cls, token: str) -> RowRef | None:
        match = _REF_TOKEN.fullmatch(token)
        return cls(int(match[1]), match[2]) if match else None

    @classmethod
    def token_of(cls, row: _Referenced | None) -> str:
        """The row's token, or NO_ROW for none."""
        return NO_ROW if row is None else str(cls.of(row))

    def __str__(self) -> str:
        return f"{self.id}-{self.ref}"
