"""Invoicing: what checkout and credit notes need beyond the first schema.

Revision ID: 0005_invoicing
Revises: 0004_refill
Create Date: 2026-11-23

"""
from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = '0005_invoicing'
down_revision: str | Sequence[str] | None = '0004_refill'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
