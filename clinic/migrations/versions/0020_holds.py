"""Held itineraries (IHE ITI-116 ``$hold``): a proposed visit's capacity kept for a few minutes.

Revision ID: 0020_holds
Revises: 0019_api_clients
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020_holds'
down_revision: str | Sequence[str] | None = '0019_api_clients'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('booking_hold',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('pathway_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('choice', sa.String(length=2000), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('held', 'booked', 'released', 'expired', name='hold_status', native_enum=False, create_constraint=True, length=8), nullable=False),
    sa.Column('client', sa.String(length=120), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_booking_hold_actor_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pathway_id'], ['pathway.id'], name=op.f('fk_booking_hold_pathway_id_pathway')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_booking_hold_patient_id_patient'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_booking_hold_visit_id_visit'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_booking_hold'))
    )
    with op.batch_alter_table('booking_hold', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_booking_hold_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_booking_hold_live', ['day', 'status', 'expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('booking_hold', schema=None) as batch_op:
        batch_op.drop_index('ix_booking_hold_live')
        batch_op.drop_index(batch_op.f('ix_booking_hold_patient_id'))
    op.drop_table('booking_hold')
