"""Booking: what the front desk's booking needs to stay correct under concurrent clerks.

One ``booking_lock`` row per clinic day; every booking of that day updates it first, which
serialises the capacity re-check and the insert (row lock on PostgreSQL, write lock on SQLite).

Revision ID: 0002_booking
Revises: 0001_initial
Create Date: 2026-11-23

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002_booking'
down_revision: str | Sequence[str] | None = '0001_initial'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('booking_lock',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('version >= 0', name=op.f('ck_booking_lock_version_not_negative')),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_booking_lock'))
    )


def downgrade() -> None:
    op.drop_table('booking_lock')
