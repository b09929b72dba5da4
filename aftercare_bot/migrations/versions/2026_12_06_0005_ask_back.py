"""ask back: buttons on queued messages, and what a case asked the client

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 09:00:00

When triage cannot place a symptom, the bot asks the client which warning sign applies, with a button per
sign. The question goes through the outbox, which now keeps a message's buttons; the case records when it
asked, what the client pressed and when.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: rebuilding a table on SQLite would cascade-delete its children.
    op.add_column('outbox', sa.Column('buttons', sa.Text(), nullable=True))
    op.add_column('escalations', sa.Column('asked_back_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('escalations', sa.Column('ask_back_answer', sa.String(length=16), nullable=True))
    op.add_column('escalations', sa.Column('ask_back_answered_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('escalations', 'ask_back_answered_at')
    op.drop_column('escalations', 'ask_back_answer')
    op.drop_column('escalations', 'asked_back_at')
    op.drop_column('outbox', 'buttons')
