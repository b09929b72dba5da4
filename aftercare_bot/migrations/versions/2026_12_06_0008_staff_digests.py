"""staff digests

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 09:10:00

When the staff chat cannot take every case's post soon, the cases are listed together in one message (a
digest), which is edited as they are claimed. New tables only: nothing existing is rebuilt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aftercare_bot.db.models import UTCDateTime

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'staff_digests',
        sa.Column('id', Id, nullable=False),
        sa.Column('chat_id', sa.BigInteger(), nullable=False),
        sa.Column('message_id', sa.BigInteger(), nullable=True),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('posted_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('edited_at', UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'staff_digest_entries',
        sa.Column('id', Id, nullable=False),
        sa.Column('digest_id', Id, nullable=False),
        sa.Column('escalation_id', Id, nullable=False),
        sa.Column('note', sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(['digest_id'], ['staff_digests.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['escalation_id'], ['escalations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_staff_digest_entries_digest_case', 'staff_digest_entries', ['digest_id', 'escalation_id'],
                    unique=True)
    op.create_index('ix_staff_digest_entries_escalation_id', 'staff_digest_entries', ['escalation_id'])


def downgrade() -> None:
    op.drop_index('ix_staff_digest_entries_escalation_id', table_name='staff_digest_entries')
    op.drop_index('ix_staff_digest_entries_digest_case', table_name='staff_digest_entries')
    op.drop_table('staff_digest_entries')
    op.drop_table('staff_digests')
