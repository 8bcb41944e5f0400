"""Treatment series: cycles of one pathway booked together (``treatment_series``), and each visit's
series and cycle number (``visit.series_id``, ``visit.cycle``).

Revision ID: 0014_series
Revises: 0013_skills (0011_unknown_outcome before main gained 0013_skills)
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014_series'
down_revision: str | Sequence[str] | None = '0013_skills'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('treatment_series',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('pathway_id', sa.Integer(), nullable=False),
    sa.Column('cycles', sa.Integer(), nullable=False),
    sa.Column('interval_days', sa.Integer(), nullable=False),
    sa.Column('tolerance_days', sa.Integer(), nullable=False),
    sa.Column('part_of_day', sa.String(length=9), nullable=False),
    sa.Column('weekdays', sa.String(length=13), nullable=False),
    sa.Column('status', sa.Enum('active', 'cancelled', name='status', native_enum=False, create_constraint=True, length=9), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('cycles BETWEEN 1 AND 24', name=op.f('ck_treatment_series_cycles_range')),
    sa.CheckConstraint('interval_days BETWEEN 1 AND 120', name=op.f('ck_treatment_series_interval_range')),
    sa.CheckConstraint('tolerance_days >= 0 AND 2 * tolerance_days < interval_days', name=op.f('ck_treatment_series_tolerance_range')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_treatment_series_created_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pathway_id'], ['pathway.id'], name=op.f('fk_treatment_series_pathway_id_pathway')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_treatment_series_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_treatment_series'))
    )
    with op.batch_alter_table('treatment_series', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_treatment_series_patient_id'), ['patient_id'], unique=False)
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('series_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cycle', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_visit_series_id'), ['series_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_visit_series_id_treatment_series'), 'treatment_series', ['series_id'], ['id']
        )


def downgrade() -> None:
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_visit_series_id_treatment_series'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_visit_series_id'))
        batch_op.drop_column('cycle')
        batch_op.drop_column('series_id')
    with op.batch_alter_table('treatment_series', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_treatment_series_patient_id'))
    op.drop_table('treatment_series')
