"""Check-in and journey: what check-in records beyond the visit's status.

Revision ID: 0003_journey
Revises: 0002_booking
Create Date: 2026-11-23

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003_journey'
down_revision: str | Sequence[str] | None = '0002_booking'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('visit_checkin',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('checked_in_by', sa.Integer(), nullable=True),
    sa.Column('late_minutes', sa.Integer(), nullable=False),
    sa.Column('coffee_voucher', sa.String(length=16), nullable=True),
    sa.Column('transport_booked', sa.Boolean(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=True),
    sa.Column('interpreter_needed', sa.Boolean(), nullable=False),
    sa.Column('notes', sa.String(length=500), nullable=False),
    sa.CheckConstraint('late_minutes >= 0', name=op.f('ck_visit_checkin_late_not_negative')),
    sa.ForeignKeyConstraint(['checked_in_by'], ['user_account.id'], name=op.f('fk_visit_checkin_checked_in_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_visit_checkin_visit_id_visit'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteer.id'], name=op.f('fk_visit_checkin_volunteer_id_volunteer'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_checkin')),
    sa.UniqueConstraint('coffee_voucher', name=op.f('uq_visit_checkin_coffee_voucher')),
    sa.UniqueConstraint('visit_id', name=op.f('uq_visit_checkin_visit_id'))
    )


def downgrade() -> None:
    op.drop_table('visit_checkin')
