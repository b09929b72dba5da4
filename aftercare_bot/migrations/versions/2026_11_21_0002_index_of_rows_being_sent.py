"""index of rows being sent

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 09:10:00

Finding what a dead sender left in flight (state 'sending', claimed before the lease) looks at these rows only,
whatever ANALYZE concludes about the state column.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index(
            'ix_deliveries_sending_claimed_at', ['claimed_at'], unique=False,
            sqlite_where=sa.text("state = 'sending'"), postgresql_where=sa.text("state = 'sending'"),
        )


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(
            'ix_deliveries_sending_claimed_at',
            sqlite_where=sa.text("state = 'sending'"), postgresql_where=sa.text("state = 'sending'"),
        )
