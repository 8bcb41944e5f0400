"""The patient's calendar file and the SIU feed: ``visit.calendar_sequence`` / ``calendar_arrival``, and the
outbox's ``hl7`` channel (``clinic.messaging.calendar``, ``clinic.messaging.siu``).

Widens the channel CHECK constraints of ``outbox_message`` only (a patient's own channel never is ``hl7``);
batch mode recreates that table on SQLite (nothing refers to it).

Revision ID: 0022_calendar
Revises: 0020_holds
Create Date: 2026-12-07

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0022_calendar'
down_revision: str | Sequence[str] | None = '0020_holds'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ('sms', 'voice', 'email')
NEW = (*OLD, 'hl7')
COLUMNS = ('channel', 'fallback_channel')


def _channels(values: tuple[str, ...]) -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        for column in COLUMNS:
            batch_op.drop_constraint(op.f(f'ck_outbox_message_{column}'), type_='check')
            batch_op.create_check_constraint(op.f(f'ck_outbox_message_{column}'), sa.column(column).in_(values))


def upgrade() -> None:
    # plain ALTER TABLE on ``visit``: batch mode would recreate it, and with foreign keys on dropping the old
    # table cascades to every visit's steps (as in 0012_announced)
    op.add_column('visit', sa.Column('calendar_sequence', sa.Integer(), server_default='0', nullable=False))
    op.add_column('visit', sa.Column('calendar_arrival', sa.DateTime(timezone=True), nullable=True))
    _channels(NEW)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM outbox_message WHERE channel = 'hl7'"))
    _channels(OLD)
    op.drop_column('visit', 'calendar_arrival')
    op.drop_column('visit', 'calendar_sequence')
