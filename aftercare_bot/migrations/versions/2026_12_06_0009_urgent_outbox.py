"""urgent outbox messages

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 09:00:00

Safety advice queued for a client is marked urgent (outbox.urgent), so that with SAFETY_PAID_BROADCAST it may be
sent as a paid broadcast while Telegram's overall limit is saturated. Messages queued before are not urgent.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: rebuilding a table on SQLite would cascade-delete its children.
    op.add_column('outbox', sa.Column('urgent', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    op.drop_column('outbox', 'urgent')
