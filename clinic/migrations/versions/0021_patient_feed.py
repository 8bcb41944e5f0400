"""Patient feed: the HL7 messages received with their ACKs, and record numbers merged into another patient.

Revision ID: 0021_patient_feed
Revises: 0018_oidc
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021_patient_feed'
down_revision: str | Sequence[str] | None = '0018_oidc'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('hl7_inbound',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sending_application', sa.String(length=227), nullable=False),
    sa.Column('sending_facility', sa.String(length=227), nullable=False),
    sa.Column('control_id', sa.String(length=199), nullable=True),
    sa.Column('trigger', sa.String(length=20), nullable=True),
    sa.Column('ack_code', sa.String(length=2), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('ack', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hl7_inbound'))
    )
    op.create_index('ix_hl7_inbound_received_at', 'hl7_inbound', ['received_at'], unique=False)
    op.create_index('ux_hl7_inbound_applied', 'hl7_inbound', ['sending_application', 'sending_facility', 'control_id'],
                    unique=True, sqlite_where=sa.text("ack_code = 'AA'"), postgresql_where=sa.text("ack_code = 'AA'"))
    op.create_table('patient_merge',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merged_mrn', sa.String(length=20), nullable=False),
    sa.Column('merged_patient_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('merged_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_patient_merge_patient_id_patient'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_merge')),
    sa.UniqueConstraint('merged_mrn', name=op.f('uq_patient_merge_merged_mrn'))
    )
    op.create_index(op.f('ix_patient_merge_patient_id'), 'patient_merge', ['patient_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_patient_merge_patient_id'), table_name='patient_merge')
    op.drop_table('patient_merge')
    op.drop_index('ux_hl7_inbound_applied', table_name='hl7_inbound')
    op.drop_index('ix_hl7_inbound_received_at', table_name='hl7_inbound')
    op.drop_table('hl7_inbound')
