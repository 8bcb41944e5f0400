"""The access log (``access_log``): which staff member opened which patient's page or export, and when.

Revision ID: 0016_access_log
Revises: 0012_announced (main's head at the last merge of main; the brief named 0011_unknown_outcome,
which would leave two heads on this branch: the lead relinks the chain when merging)
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016_access_log'
down_revision: str | Sequence[str] | None = '0012_announced'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('access_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('page', 'export_json', 'export_pdf', name='kind', native_enum=False, create_constraint=True, length=11), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_access_log_patient_id_patient'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_access_log_user_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_log'))
    )
    op.create_index('ix_access_log_patient_at', 'access_log', ['patient_id', 'at'], unique=False)
    op.create_index('ix_access_log_user_at', 'access_log', ['user_id', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_access_log_user_at', table_name='access_log')
    op.drop_index('ix_access_log_patient_at', table_name='access_log')
    op.drop_table('access_log')
