"""Visit.announced_at: the arrival time the patient was told when the visit was booked.

Backfilled from the first planned step of every visit that has steps (what the patient was told so
far); a requested visit without steps keeps it empty.

Revision ID: 0012_announced
Revises: 0015_sessions
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012_announced'
down_revision: str | Sequence[str] | None = '0015_sessions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ALTER TABLE (SQLite >= 3.35 too): batch mode would recreate ``visit``, and with foreign keys on
    # dropping the old table cascades to every visit's steps
    op.add_column('visit', sa.Column('announced_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(
        sa.text(
            "UPDATE visit SET announced_at = "
            "(SELECT MIN(visit_step.planned_start) FROM visit_step WHERE visit_step.visit_id = visit.id) "
            "WHERE status != 'requested'"
        )
    )


def downgrade() -> None:
    op.drop_column('visit', 'announced_at')
