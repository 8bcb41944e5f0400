"""Outreach: rule sets, the outbox and the dispatcher's lease.

Revision ID: 0006_outreach
Revises: 0005_invoicing
Create Date: 2026-11-23

"""
from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = '0006_outreach'
down_revision: str | Sequence[str] | None = '0005_invoicing'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
