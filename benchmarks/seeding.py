"""Fills a database quickly with enrolled clients and their scheduled messages.

SQLite gets executemany through SQLAlchemy Core (so every value is stored exactly as the bot stores it);
PostgreSQL gets COPY. Rows are made and written in chunks, so a million of them need little memory.
Telegram user ids double as chat ids, as they do for private chats.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from aftercare_bot.config import SHIPPED_MESSAGES_DIR
from aftercare_bot.db.models import Client, ClientStatus, Delivery, DeliveryState, Enrolment, EnrolmentState
from aftercare_bot.db.refs import new_ref
from aftercare_bot.plans.catalog import PlanCatalog

TREATMENT = "microneedling"
CLIENTS_PER_CHUNK = 10_000

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Backlog:
    """`clients` clients with Telegram ids from `first_user`, each with `rows_per_client` messages,
    sent from `send_at` on, spread evenly over `spread`."""

    first_user: int
    clients: int
    send_at: datetime
    rows_per_client: int = 1
    spread: timedelta = timedelta(0)
    grace: timedelta = timedelta(days=2)

    @property
    def rows(self) -> int:
        return self.clients * self.rows_per_client

    @property
    def user_ids(self) -> range:
        return range(self.first_user, self.first_user + self.clients)


def plan_steps() -> list[tuple[str, bool]]:
    """(key, is a check-in) of each step of the shipped plan."""
    plan = PlanCatalog.from_files(SHIPPED_MESSAGES_DIR).get(TREATMENT)
    assert plan is not None, f"the shipped plans have no {TREATMENT} plan"
    return [(step.key, step.checkin) for step in plan.enabled_steps]


def _chunks(backlog: Backlog, first_id: int) -> Iterator[tuple[Rows, Rows, Rows]]:
    """Clients, enrolments and deliveries, a chunk of clients at a time; clients and enrolments share ids."""
    now = datetime.now(UTC)
    steps = plan_steps()
    total = max(backlog.rows, 1)
    for start in range(0, backlog.clients, CLIENTS_PER_CHUNK):
        clients, enrolments, deliveries = [], [], []
        for number in range(start, min(start + CLIENTS_PER_CHUNK, backlog.clients)):
            user_id, row_id = backlog.first_user + number, first_id + number
            clients.append({
                "id": row_id, "telegram_user_id": user_id, "chat_id": user_id, "name": f"Client {user_id}",
                "first_name": f"Client {user_id}", "language": "en", "status": ClientStatus.ACTIVE.value,
                "created_at": now, "updated_at": now, "ref": new_ref(),
            })
            enrolments.append({
                "id": row_id, "client_id": row_id, "treatment": TREATMENT,
                "session_at": now - timedelta(hours=5), "language": "en",
                "state": EnrolmentState.ACTIVE.value, "created_at": now, "ended_at": None,
            })
            for index in range(backlog.rows_per_client):
                # One client's rows are different steps; consecutive clients rotate through the plan.
                key, checkin = steps[(number + index) % len(steps)]
                position = (number * backlog.rows_per_client + index) / total
                send_at = backlog.send_at + backlog.spread * position
                deliveries.append({
                    "enrolment_id": row_id, "client_id": row_id, "chat_id": user_id, "step_key": key,
                    "due_at": send_at, "send_at": send_at, "expires_at": send_at + backlog.grace,
                    "state": DeliveryState.PENDING.value, "attempts": 0, "checkin": checkin,
                    "ref": new_ref(),  # a check-in's buttons name it (COPY fills no Python-side defaults)
                })
        yield clients, enrolments, deliveries


async def seed(database_url: str, backlog: Backlog) -> None:
    """Add the backlog's clients, enrolments and pending rows. Blocks the loop: call it before measuring."""
    url = make_url(database_url)
    if url.drivername.startswith("sqlite"):
        _seed_sqlite(url.set(drivername="sqlite").render_as_string(hide_password=False), backlog)
    else:
        await _seed_postgres(database_url, backlog)


def _seed_sqlite(url: str, backlog: Backlog) -> None:
    engine = create_sync_engine(url)
    try:
        with engine.begin() as connection:
            first_id = (connection.scalar(select(func.max(Client.id))) or 0) + 1
            for clients, enrolments, deliveries in _chunks(backlog, first_id):
                for table, rows in ((Client, clients), (Enrolment, enrolments), (Delivery, deliveries)):
                    connection.execute(insert(table), rows)
    finally:
        engine.dispose()


async def _seed_postgres(database_url: str, backlog: Backlog) -> None:
    import asyncpg

    plain = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(plain)
    try:
        first_id = (await connection.fetchval("SELECT max(id) FROM clients") or 0) + 1
        async with connection.transaction():
            for chunk in _chunks(backlog, first_id):
                for table, rows in zip(("clients", "enrolments", "deliveries"), chunk, strict=True):
                    columns = list(rows[0])
                    await connection.copy_records_to_table(
                        table, records=[tuple(row[c] for c in columns) for row in rows], columns=columns
                    )
            for table in ("clients", "enrolments"):
                await connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
