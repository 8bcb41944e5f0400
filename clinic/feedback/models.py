"""The two questions (surveys) and the follow-ups a "no" opens.
"""

import datetime as dt
import enum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from clinic.columns import Language, enum_column, utc_column, utcnow


class SurveyTrigger(enum.StrEnum):
    VISIT = "visit"
    CALL = "call"
    INBOUND = "inbound"
    FOLLOW_UP = "follow_up"


class SurveyChannel(enum.StrEnum):
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    TABLET = "tablet"


class SurveyStatus(enum.StrEnum):
    PENDING = "pending"
    ANSWERED = "answered"
    UNANSWERED = "unanswered"
    WITHDRAWN = "withdrawn"


class Survey(SQLModel, table=True):
    """The two questions after an interaction: *Did you get what you needed?* and *Did we do a good
    job?* ``source_ref`` names the interaction (a visit, an outbox message, an inbound message, a
    follow-up), so each is asked once."""

    __table_args__ = (
        sa.UniqueConstraint("trigger", "source_ref"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        sa.Index("ix_survey_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", ondelete="CASCADE", index=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id", ondelete="SET NULL")
    trigger: SurveyTrigger = Field(sa_column=enum_column(SurveyTrigger, "survey_trigger"))
    source_ref: str = Field(max_length=60)
    channel: SurveyChannel = Field(sa_column=enum_column(SurveyChannel, "survey_channel"))
    language: Language = Field(sa_column=enum_column(Language, "language"))
    status: SurveyStatus = Field(
        default=SurveyStatus.PENDING,
        sa_column=enum_column(SurveyStatus, "survey_status", default=SurveyStatus.PENDING),
    )
    attempts: int = 0
    next_attempt_at: dt.datetime = Field(sa_column=utc_column())
    asked_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    got_what_needed: bool | None = None
    good_job: bool | None = None
    comment: str = Field(default="", max_length=1000)
    answered_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))


class FollowUpReason(enum.StrEnum):
    ANSWERED_NO = "answered_no"
    NO_ANSWER = "no_answer"


class FollowUpStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class FollowUp(SQLModel, table=True):
    """Opened by a "no" (or no answer after two attempts); stays open until the patient answers "yes"
    to both questions; escalated to the coordinator when overdue."""

    __tablename__ = "follow_up"
    __table_args__ = (sa.Index("ix_follow_up_status_due_at", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", ondelete="CASCADE", index=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id", ondelete="SET NULL")
    survey_id: int | None = Field(default=None, foreign_key="survey.id", ondelete="SET NULL")
    reason: FollowUpReason = Field(sa_column=enum_column(FollowUpReason, "follow_up_reason"))
    status: FollowUpStatus = Field(
        default=FollowUpStatus.OPEN,
        sa_column=enum_column(FollowUpStatus, "follow_up_status", default=FollowUpStatus.OPEN),
    )
    owner_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    due_at: dt.datetime = Field(sa_column=utc_column())
    escalated_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    closed_at: dt.datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    closing_survey_id: int | None = Field(default=None, foreign_key="survey.id", ondelete="SET NULL")
    summary: str = Field(default="", max_length=500)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))


class FollowUpEvent(SQLModel, table=True):
    """The history of one follow-up: opened, called, note, re-asked, escalated, closed."""

    __tablename__ = "follow_up_event"

    id: int | None = Field(default=None, primary_key=True)
    follow_up_id: int = Field(foreign_key="follow_up.id", ondelete="CASCADE", index=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_column=utc_column(default=utcnow))
    kind: str = Field(max_length=30)
    user_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    note: str = Field(default="", max_length=1000)
