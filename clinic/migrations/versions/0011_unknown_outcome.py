"""Outbox status "unknown": a message whose outcome the provider has not told (issue 25, item 5).

Widens the status CHECK constraints of ``outbox_message`` and ``volunteer_notice`` (both use
``OutboxStatus``); batch mode recreates the tables on SQLite.

Revision ID: 0011_unknown_outcome
Revises: 0010_names
Create Date: 2026-12-09

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011_unknown_outcome'
down_revision: str | Sequence[str] | None = '0010_names'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('outbox_message', 'volunteer_notice')
OLD = ('queued', 'sending', 'sent', 'delivered', 'failed', 'withdrawn', 'skipped')
NEW = (*OLD, 'unknown')


def _status(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name='status', native_enum=False, create_constraint=True, length=9)


def _widen(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f'ck_{table}_status'), type_='check')
            batch_op.create_check_constraint(
                op.f(f'ck_{table}_status'), sa.column('status').in_(new)
            )


def upgrade() -> None:
    _widen(OLD, NEW)


def downgrade() -> None:
    # an unknown outcome was "failed, please call" before this revision
    for table in TABLES:
        op.execute(sa.text(f"UPDATE {table} SET status = 'failed' WHERE status = 'unknown'"))
    _widen(NEW, OLD)
