"""random refs, invite owner, staff chat memberships

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 07:30:00

Rows that buttons name get a random ref, so a button never reaches a later row given the same id.
Invites record the client they belong to, so erasing a client erases the links made for them.
What Telegram says about membership of the staff chat is kept where every replica sees it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

REF_TABLES = ('clients', 'invites', 'deliveries', 'escalations', 'plan_drafts')


def _random_ref() -> str:
    if op.get_bind().dialect.name == 'sqlite':
        return 'lower(hex(randomblob(6)))'
    return "substr(md5(random()::text || clock_timestamp()::text || id::text), 1, 12)"


def upgrade() -> None:
    for table in REF_TABLES:
        op.add_column(table, sa.Column('ref', sa.String(length=12), nullable=True))
        op.execute(f'UPDATE {table} SET ref = {_random_ref()}')  # noqa: S608 (names are constants)
    # Plain ADD and DROP COLUMN throughout: rebuilding a table on SQLite would cascade-delete its children.
    op.add_column('invites', sa.Column('client_id', sa.BigInteger(), nullable=True))
    op.create_index('ix_invites_client_id', 'invites', ['client_id'], unique=False)
    for column in ('opened_by', 'renewed_by_id'):
        op.add_column('invites', sa.Column(column, sa.BigInteger(), nullable=True))
        op.create_index(f'ix_invites_{column}', 'invites', [column], unique=False)
    # Links already used belong to the client of their enrolment; a pending link for the same person and
    # session as a used one was replaced by it.
    op.execute(
        "UPDATE invites SET client_id = (SELECT e.client_id FROM enrolments e WHERE e.invite_id = invites.id"
        " ORDER BY e.id LIMIT 1) WHERE status = 'used'"
    )
    same_session = (
        "FROM invites u WHERE u.status = 'used' AND u.client_id IS NOT NULL"
        " AND lower(u.client_name) = lower(invites.client_name) AND u.treatment = invites.treatment"
        " AND u.session_at = invites.session_at"
    )
    op.execute(
        f"UPDATE invites SET status = 'replaced', client_id = (SELECT u.client_id {same_session} ORDER BY u.id"
        f" LIMIT 1) WHERE status = 'pending' AND EXISTS (SELECT 1 {same_session})"
    )


    op.create_table(
        'staff_chat_memberships',
        sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('is_member', sa.Boolean(), nullable=False),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('user_id'),
    )


def downgrade() -> None:
    op.drop_table('staff_chat_memberships')
    op.execute("UPDATE invites SET status = 'pending' WHERE status = 'replaced'")
    for column in ('opened_by', 'renewed_by_id'):
        op.drop_index(f'ix_invites_{column}', table_name='invites')
        op.drop_column('invites', column)
    op.drop_index('ix_invites_client_id', table_name='invites')
    op.drop_column('invites', 'client_id')
    for table in REF_TABLES:
        op.drop_column(table, 'ref')
