"""Service: volunteer assignments and notices, the two questions, follow-ups, touch-points, recovery gestures.

Revision ID: 0008_service
Revises: 0007_messaging
Create Date: 2026-11-23

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008_service'
down_revision: str | Sequence[str] | None = '0007_messaging'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('volunteer_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('recipient', sa.String(length=32), nullable=False),
    sa.Column('body', sa.String(length=2000), nullable=False),
    sa.Column('status', sa.Enum('queued', 'sending', 'sent', 'delivered', 'failed', 'withdrawn', 'skipped', name='status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('provider_id', sa.String(length=80), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteer.id'], name=op.f('fk_volunteer_notice_volunteer_id_volunteer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer_notice')),
    sa.UniqueConstraint('volunteer_id', 'day', name=op.f('uq_volunteer_notice_volunteer_id_day'))
    )
    op.create_table('recovery_gesture',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('cost_cents', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('status', sa.Enum('granted', 'pending', 'declined', name='gesture_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('granted_by', sa.Integer(), nullable=True),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('cost_cents > 0', name=op.f('ck_recovery_gesture_cost_positive')),
    sa.ForeignKeyConstraint(['decided_by'], ['user_account.id'], name=op.f('fk_recovery_gesture_decided_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['granted_by'], ['user_account.id'], name=op.f('fk_recovery_gesture_granted_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_recovery_gesture_patient_id_patient'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_recovery_gesture_visit_id_visit'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_gesture'))
    )
    with op.batch_alter_table('recovery_gesture', schema=None) as batch_op:
        batch_op.create_index('ix_recovery_gesture_granted_by_created_at', ['granted_by', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_recovery_gesture_patient_id'), ['patient_id'], unique=False)

    op.create_table('survey',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('trigger', sa.Enum('visit', 'call', 'inbound', 'follow_up', name='survey_trigger', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('source_ref', sa.String(length=60), nullable=False),
    sa.Column('channel', sa.Enum('sms', 'voice', 'email', 'tablet', name='survey_channel', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('language', sa.Enum('en', 'nl', 'fr', name='language', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('status', sa.Enum('pending', 'answered', 'unanswered', 'withdrawn', name='survey_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('asked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('got_what_needed', sa.Boolean(), nullable=True),
    sa.Column('good_job', sa.Boolean(), nullable=True),
    sa.Column('comment', sa.String(length=1000), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_survey_attempts_not_negative')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_survey_patient_id_patient'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_survey_visit_id_visit'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey')),
    sa.UniqueConstraint('trigger', 'source_ref', name=op.f('uq_survey_trigger_source_ref'))
    )
    with op.batch_alter_table('survey', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_survey_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)

    op.create_table('touch_point',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('channel', sa.Enum('phone', 'sms', 'voice', 'email', 'walk_in', 'web', name='touch_channel', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('direction', sa.Enum('inbound', 'outbound', name='touch_direction', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('expectation_met', sa.Boolean(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('ref', sa.String(length=60), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_touch_point_patient_id_patient'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_touch_point_user_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_touch_point_visit_id_visit'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_touch_point')),
    sa.UniqueConstraint('purpose', 'ref', name=op.f('uq_touch_point_purpose_ref'))
    )
    with op.batch_alter_table('touch_point', schema=None) as batch_op:
        batch_op.create_index('ix_touch_point_patient_at', ['patient_id', 'at'], unique=False)

    op.create_table('volunteer_assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Enum('long_distance', 'flagged', name='assignment_reason', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('source', sa.Enum('auto', 'override', name='assignment_source', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('flagged_by', sa.Integer(), nullable=True),
    sa.Column('meet_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('leave_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('meeting_place', sa.String(length=120), nullable=False),
    sa.Column('match_note', sa.String(length=200), nullable=False),
    sa.Column('outcome', sa.Enum('met', 'not_met', name='meeting_outcome', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('outcome_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['flagged_by'], ['user_account.id'], name=op.f('fk_volunteer_assignment_flagged_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_volunteer_assignment_visit_id_visit'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteer.id'], name=op.f('fk_volunteer_assignment_volunteer_id_volunteer'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer_assignment')),
    sa.UniqueConstraint('visit_id', name=op.f('uq_volunteer_assignment_visit_id'))
    )
    with op.batch_alter_table('volunteer_assignment', schema=None) as batch_op:
        batch_op.create_index('ix_volunteer_assignment_day_volunteer', ['day', 'volunteer_id'], unique=False)

    op.create_table('follow_up',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('survey_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Enum('answered_no', 'no_answer', name='follow_up_reason', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('status', sa.Enum('open', 'closed', name='follow_up_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closing_survey_id', sa.Integer(), nullable=True),
    sa.Column('summary', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['closing_survey_id'], ['survey.id'], name=op.f('fk_follow_up_closing_survey_id_survey'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], name=op.f('fk_follow_up_owner_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_follow_up_patient_id_patient'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_follow_up_survey_id_survey'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_follow_up_visit_id_visit'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up'))
    )
    with op.batch_alter_table('follow_up', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_follow_up_status_due_at', ['status', 'due_at'], unique=False)

    op.create_table('follow_up_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('follow_up_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=1000), nullable=False),
    sa.ForeignKeyConstraint(['follow_up_id'], ['follow_up.id'], name=op.f('fk_follow_up_event_follow_up_id_follow_up'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_follow_up_event_user_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up_event'))
    )
    with op.batch_alter_table('follow_up_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_event_follow_up_id'), ['follow_up_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('follow_up_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_follow_up_event_follow_up_id'))

    op.drop_table('follow_up_event')
    with op.batch_alter_table('follow_up', schema=None) as batch_op:
        batch_op.drop_index('ix_follow_up_status_due_at')
        batch_op.drop_index(batch_op.f('ix_follow_up_patient_id'))

    op.drop_table('follow_up')
    with op.batch_alter_table('volunteer_assignment', schema=None) as batch_op:
        batch_op.drop_index('ix_volunteer_assignment_day_volunteer')

    op.drop_table('volunteer_assignment')
    with op.batch_alter_table('touch_point', schema=None) as batch_op:
        batch_op.drop_index('ix_touch_point_patient_at')

    op.drop_table('touch_point')
    with op.batch_alter_table('survey', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_status_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_survey_patient_id'))

    op.drop_table('survey')
    with op.batch_alter_table('recovery_gesture', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_gesture_patient_id'))
        batch_op.drop_index('ix_recovery_gesture_granted_by_created_at')

    op.drop_table('recovery_gesture')
    op.drop_table('volunteer_notice')
