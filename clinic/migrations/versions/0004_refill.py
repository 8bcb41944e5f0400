"""Refill: waitlist offers and their answers.

Revision ID: 0004_refill
Revises: 0003_journey
Create Date: 2026-11-23

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_refill'
down_revision: str | Sequence[str] | None = '0003_journey'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('waitlist_offer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('source_visit_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('slot_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('itinerary', sa.JSON(), nullable=False),
    sa.Column('channel', sa.Enum('phone', 'sms', name='channel', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('wave', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('open', 'accepted', 'declined', 'expired', 'taken', 'withdrawn', name='status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('seconds_after_cancel', sa.Integer(), nullable=True),
    sa.Column('booked_visit_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('expires_at > sent_at', name=op.f('ck_waitlist_offer_expires_after_sent')),
    sa.CheckConstraint('wave >= 1', name=op.f('ck_waitlist_offer_wave_positive')),
    sa.ForeignKeyConstraint(['booked_visit_id'], ['visit.id'], name=op.f('fk_waitlist_offer_booked_visit_id_visit'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['entry_id'], ['waitlist_entry.id'], name=op.f('fk_waitlist_offer_entry_id_waitlist_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_visit_id'], ['visit.id'], name=op.f('fk_waitlist_offer_source_visit_id_visit'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waitlist_offer'))
    )
    with op.batch_alter_table('waitlist_offer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_waitlist_offer_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index('ix_waitlist_offer_source_status', ['source_visit_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('waitlist_offer', schema=None) as batch_op:
        batch_op.drop_index('ix_waitlist_offer_source_status')
        batch_op.drop_index(batch_op.f('ix_waitlist_offer_entry_id'))
    op.drop_table('waitlist_offer')
