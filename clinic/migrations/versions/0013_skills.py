"""Skills: what a resource is qualified for and what a pathway step needs (an oncology consult is only
given by an oncologist).

Revision ID: 0013_skills
Revises: 0011_unknown_outcome
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013_skills'
down_revision: str | Sequence[str] | None = '0011_unknown_outcome'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('resource', 'pathway_step')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('skills', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('skills')
