"""New rows for the busy paths (a client's message, a red flag, the outbox), inserted with statements built once.

Composing a statement costs more than running it on SQLite, and the ORM's flush sends one statement per row
when it needs the new ids. The instance given stays out of the session: it is a record of what was written,
with its new id filled in. Columns left unset get their defaults, as with the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Insert, Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from aftercare_bot.db.models import Base

Row = TypeVar("Row", bound=Base)


async def add(session: AsyncSession, row: Row) -> Row:
    """Insert one row and fill in its id."""
    table: Table = row.__table__  # type: ignore[assignment]
    row.id = (await session.execute(_returning_id(table), _values(row, table))).scalar_one()  # type: ignore[attr-defined]
    return row


async def add_all(session: AsyncSession, rows: Sequence[Base]) -> None:
    """Insert rows of one table, all with the same columns set, in one statement; their ids are not needed."""
    if rows:
        table: Table = rows[0].__table__  # type: ignore[assignment]
        await session.execute(_plain(table), [_values(row, table) for row in rows])


def _values(row: Base, table: Table) -> dict[str, Any]:
    state = row.__dict__
    return {column.key: state[column.key] for column in table.columns if column.key in state}


@cache
def _returning_id(table: Table) -> Insert:
    return insert(table).returning(table.c.id)


@cache
def _plain(table: Table) -> Insert:
    return insert(table)
