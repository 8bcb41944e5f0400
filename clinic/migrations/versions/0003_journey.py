"""Check-in and journey: what check-in records beyond the visit's status.

Revision ID: 0003_journey
Revises: 0002_booking
Create Date: 2026-11-23

"""
from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = '0003_journey'
down_revision: str | Sequence[str] | None = '0002_booking'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
