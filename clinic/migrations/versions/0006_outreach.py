"""Outreach: rule sets, the outbox and the dispatcher's lease.

Revision ID: 0006_outreach
Revises: 0005_invoicing
Create Date: 2026-11-23

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006_outreach'
down_revision: str | Sequence[str] | None = '0005_invoicing'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHANNELS = ('sms', 'voice', 'email')


def upgrade() -> None:
    op.create_table('outbox_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('rule_id', sa.String(length=80), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('queued', 'sending', 'sent', 'delivered', 'failed', 'withdrawn', 'skipped', name='status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('channel', sa.Enum(*_CHANNELS, name='channel', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('fallback_channel', sa.Enum(*_CHANNELS, name='fallback_channel', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('language', sa.Enum('en', 'nl', 'fr', name='language', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('essential', sa.Boolean(), nullable=False),
    sa.Column('recipient', sa.String(length=254), nullable=False),
    sa.Column('body', sa.String(length=2000), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('on_call_list', sa.Boolean(), nullable=False),
    sa.Column('claimed_by', sa.String(length=80), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('provider_id', sa.String(length=80), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_outbox_message_attempts_not_negative')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_outbox_message_patient_id_patient')),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_outbox_message_visit_id_visit'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_message')),
    sa.UniqueConstraint('visit_id', 'action', 'due_at', name=op.f('uq_outbox_message_visit_id_action_due_at'))
    )
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_message_visit_id'), ['visit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_message_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_message_provider_id'), ['provider_id'], unique=False)
        batch_op.create_index('ix_outbox_message_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)

    op.create_table('outreach_rule_set',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('version >= 1', name=op.f('ck_outreach_rule_set_version_positive')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_outreach_rule_set_created_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outreach_rule_set')),
    sa.UniqueConstraint('version', name=op.f('uq_outreach_rule_set_version'))
    )
    op.create_table('dispatcher_lease',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('owner', sa.String(length=80), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_dispatcher_lease'))
    )
    op.create_table('apscheduler_jobs',
    sa.Column('id', sa.Unicode(length=191), nullable=False),
    sa.Column('next_run_time', sa.Float(precision=25), nullable=True),
    sa.Column('job_state', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apscheduler_jobs'))
    )
    with op.batch_alter_table('apscheduler_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apscheduler_jobs_next_run_time'), ['next_run_time'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('apscheduler_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apscheduler_jobs_next_run_time'))
    op.drop_table('apscheduler_jobs')
    op.drop_table('dispatcher_lease')
    op.drop_table('outreach_rule_set')
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_message_status_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_outbox_message_provider_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_message_patient_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_message_visit_id'))
    op.drop_table('outbox_message')
