"""Booking: what the front desk's booking needs to stay correct under concurrent clerks.

Revision ID: 0002_booking
Revises: 0001_initial
Create Date: 2026-11-23

"""
from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = '0002_booking'
down_revision: str | Sequence[str] | None = '0001_initial'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
