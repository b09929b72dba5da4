"""what the manager's report needs: messages held by quiet hours, plans by last step

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 09:00:00

The report counts enrolment links opened (invites.opened_at, added in 0004; older links show as not opened),
plan messages that quiet hours held back (deliveries.quiet_held, from now on), and finds the last message of
each plan from an index alone (ix_deliveries_enrolment_id_due_at). The plan message figures are read from one
covering index in its order (ix_deliveries_report): a year of a million rows without a sort or a table read.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN and CREATE INDEX: rebuilding a table on SQLite would cascade-delete its children.
    op.add_column('deliveries', sa.Column('quiet_held', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index('ix_deliveries_enrolment_id_due_at', 'deliveries', ['enrolment_id', 'due_at'], unique=False)
    op.create_index('ix_deliveries_report', 'deliveries',
                    ['step_key', 'checkin', 'state', 'quiet_held', 'due_at', 'answer'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_deliveries_report', table_name='deliveries')
    op.drop_index('ix_deliveries_enrolment_id_due_at', table_name='deliveries')
    op.drop_column('deliveries', 'quiet_held')
