"""Accounts for a real hospital: a forced password change after a reset, and which passwords met the policy.

``must_change_password`` is set by a reset (a one-time password); ``password_meets_policy`` marks a password
chosen under the password policy, so the start-up check for published demo passwords hashes only the others.
Existing accounts get false for both: every one of them is checked once at the next start outside
development.

Revision ID: 0017_accounts
Revises: 0016_access_log
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017_accounts'
down_revision: str | Sequence[str] | None = '0016_access_log'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('password_meets_policy', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('password_meets_policy')
        batch_op.drop_column('must_change_password')
