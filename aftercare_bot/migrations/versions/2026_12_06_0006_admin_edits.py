"""edits in progress

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 08:00:00

The question an admin is answering while editing a plan, kept where every replica sees it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'admin_edits',
        sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('chat_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('question', sa.String(length=32), nullable=False),
        sa.Column('draft', sa.JSON(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('user_id', 'chat_id'),
    )


def downgrade() -> None:
    op.drop_table('admin_edits')
