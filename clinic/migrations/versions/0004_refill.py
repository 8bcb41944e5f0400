"""Refill: waitlist offers and their answers.

Revision ID: 0004_refill
Revises: 0003_journey
Create Date: 2026-11-23

"""
from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = '0004_refill'
down_revision: str | Sequence[str] | None = '0003_journey'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
