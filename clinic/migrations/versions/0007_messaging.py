"""Messaging: inbound messages and delivery callbacks.

Revision ID: 0007_messaging
Revises: 0006_outreach
Create Date: 2026-11-23

"""
from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = '0007_messaging'
down_revision: str | Sequence[str] | None = '0006_outreach'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
