"""Which channel a survey goes by: the patient's own, unless they opted out (then only the tablet)."""

from clinic.columns import Channel
from clinic.feedback.models import SurveyChannel
from clinic.patients.models import Patient


def channel_for(patient: Patient) -> SurveyChannel | None:
    """The patient's own channel for a survey; ``None`` when they opted out (then: tablet only)."""
    if patient.opted_out:
        return None
    if patient.channel == Channel.EMAIL and patient.email:
        return SurveyChannel.EMAIL
    if patient.channel == Channel.VOICE:
        return SurveyChannel.VOICE
    return SurveyChannel.SMS
