"""Sessions that end on the server, sign-in throttling, record numbers in capitals (production issue).

``user_account.session_version`` is copied into each session at sign-in; raising it ends every session of
the account. ``sign_in_failure`` holds recent wrong passwords per account and per address. Record numbers
compare case-insensitively, so existing ones are stored in capitals as new ones are; when two differ only
in case the upgrade stops and names them (merge or renumber one first).

Revision ID: 0015_sessions
Revises: 0014_series
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015_sessions'
down_revision: str | Sequence[str] | None = '0014_series'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _capital_record_numbers() -> None:
    connection = op.get_bind()
    clashes = connection.execute(
        sa.text('SELECT upper(mrn) FROM patient GROUP BY upper(mrn) HAVING count(*) > 1 ORDER BY 1')
    ).scalars().all()
    if clashes:
        raise RuntimeError(
            'record numbers that differ only in upper/lower case: ' + ', '.join(clashes)
            + '; merge or renumber these patients, then run the upgrade again'
        )
    connection.execute(sa.text('UPDATE patient SET mrn = upper(mrn) WHERE mrn <> upper(mrn)'))


def upgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), nullable=False, server_default='0'))
    op.create_table(
        'sign_in_failure',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=120), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_failure')),
    )
    op.create_index('ix_sign_in_failure_key_at', 'sign_in_failure', ['key', 'at'], unique=False)
    _capital_record_numbers()


def downgrade() -> None:
    op.drop_index('ix_sign_in_failure_key_at', table_name='sign_in_failure')
    op.drop_table('sign_in_failure')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('session_version')
