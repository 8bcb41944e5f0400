"""Messaging: inbound messages and delivery callbacks.

Revision ID: 0007_messaging
Revises: 0006_outreach
Create Date: 2026-11-23

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007_messaging'
down_revision: str | Sequence[str] | None = '0006_outreach'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('inbound_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('channel', sa.Enum('sms', 'voice', 'email', name='channel', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('provider_id', sa.String(length=80), nullable=True),
    sa.Column('from_number', sa.String(length=32), nullable=False),
    sa.Column('body', sa.String(length=1600), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('keyword', sa.String(length=20), nullable=True),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('reply', sa.String(length=1600), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_inbound_message_patient_id_patient'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_inbound_message_visit_id_visit'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_message')),
    sa.UniqueConstraint('provider_id', name=op.f('uq_inbound_message_provider_id'))
    )
    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_message_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_inbound_message_from_number_received_at', ['from_number', 'received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_message_from_number_received_at')
        batch_op.drop_index(batch_op.f('ix_inbound_message_patient_id'))
    op.drop_table('inbound_message')
