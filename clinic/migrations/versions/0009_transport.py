"""Transport: the patients' answers to the offer of transport and help at home, and who arranged it.

Revision ID: 0009_transport
Revises: 0008_service
Create Date: 2026-12-04

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009_transport'
down_revision: str | Sequence[str] | None = '0008_service'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('transport_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('wanted', sa.Boolean(), nullable=False),
    sa.Column('channel', sa.Enum('phone', 'sms', 'voice', 'email', 'walk_in', 'web', name='touch_channel', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('arranged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('arranged_by', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['arranged_by'], ['user_account.id'], name=op.f('fk_transport_request_arranged_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_transport_request_patient_id_patient'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_transport_request_visit_id_visit'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transport_request')),
    sa.UniqueConstraint('visit_id', name=op.f('uq_transport_request_visit_id'))
    )
    with op.batch_alter_table('transport_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transport_request_patient_id'), ['patient_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('transport_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transport_request_patient_id'))

    op.drop_table('transport_request')
