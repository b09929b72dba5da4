"""enrolment API: keys, enrolments known by a booking system's id, phones for the front desk

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 08:00:00

Booking systems enrol clients over HTTP with API keys (kept hashed) and name each enrolment by their own id.
Invites may carry a phone number (E.164) so a client can join at the front desk by sharing theirs, and record
when the link was first opened.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: rebuilding invites on SQLite would cascade to the enrolments that name them.
    op.add_column('invites', sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('invites', sa.Column('phone', sa.String(length=32), nullable=True))
    op.create_index('ix_invites_phone', 'invites', ['phone'], unique=False)
    op.create_table(
        'api_keys',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('ref', sa.String(length=12), nullable=True),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('created_by', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_by', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key_hash'),
    )
    op.create_table(
        'external_enrolments',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('ref', sa.String(length=12), nullable=True),
        sa.Column('external_id', sa.String(length=128), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('api_key_id', sa.BigInteger(), nullable=True),
        sa.Column('invite_id', sa.BigInteger(), nullable=False),
        sa.Column('invite_ref', sa.String(length=12), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reported_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('external_id'),
    )
    op.create_index('ix_external_enrolments_reported_at', 'external_enrolments', ['reported_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_external_enrolments_reported_at', table_name='external_enrolments')
    op.drop_table('external_enrolments')
    op.drop_table('api_keys')
    op.drop_index('ix_invites_phone', table_name='invites')
    op.drop_column('invites', 'phone')
    op.drop_column('invites', 'opened_at')
