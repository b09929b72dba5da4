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


async def add_together(session: AsyncSession, rows: Sequence[Base], *, key: tuple[str, ...]) -> None:
    """Insert rows of one table in one statement and fill in their ids. The rows' `key` columns must tell them
    apart: they tell which new id is whose, since the order of RETURNING rows is not promised. Columns left
    unset in some rows get their column's default (only plain values are supported) or NULL."""
    table: Table = rows[0].__table__  # type: ignore[assignment]
    values = [_values(row, table) for row in rows]
    names = {name for row_values in values for name in row_values}
    for row_values in values:
        for name in names - row_values.keys():
            row_values[name] = _plain_default(table, name)
    by_key = {tuple(getattr(row, name) for name in key): row for row in rows}
    if len(by_key) != len(rows):
        raise ValueError(f"rows inserted together need different values of {key}")
    for *row_key, row_id in await session.execute(_returning_key_and_id(table, key), values):
        by_key[tuple(row_key)].id = row_id  # type: ignore[attr-defined]


def _plain_default(table: Table, name: str) -> Any:
    default = table.c[name].default
    if default is None:
        return None
    if not default.is_scalar:  # type: ignore[attr-defined]
        raise ValueError(f"{table.name}.{name} has a computed default; set it before inserting rows together")
    return default.arg  # type: ignore[attr-defined]


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
def _returning_key_and_id(table: Table, key: tuple[str, ...]) -> Insert:
    return insert(table).returning(*(table.c[name] for name in key), table.c.id)


@cache
def _plain(table: Table) -> Insert:
    return insert(table)
