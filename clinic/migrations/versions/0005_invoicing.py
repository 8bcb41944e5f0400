"""Invoicing: at most one open (issued, not credited) invoice per visit, one credit note per invoice.

Revision ID: 0005_invoicing
Revises: 0004_refill
Create Date: 2026-11-23

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_invoicing"
down_revision: str | Sequence[str] | None = "0004_refill"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_INVOICE_WHERE = "status = 'issued' AND credit_for_id IS NULL"
CREDIT_WHERE = "credit_for_id IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.create_index(
            "ux_invoice_open_visit",
            ["visit_id"],
            unique=True,
            sqlite_where=sa.text(OPEN_INVOICE_WHERE),
            postgresql_where=sa.text(OPEN_INVOICE_WHERE),
        )
        batch_op.create_index(
            "ux_invoice_credit_for",
            ["credit_for_id"],
            unique=True,
            sqlite_where=sa.text(CREDIT_WHERE),
            postgresql_where=sa.text(CREDIT_WHERE),
        )


def downgrade() -> None:
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.drop_index("ux_invoice_credit_for")
        batch_op.drop_index("ux_invoice_open_visit")
