"""Translated names for the values the domain stores as codes (visit statuses, segments, weekdays, the
volunteer matching's reasons and notes)."""

from babel import Locale, UnknownLocaleError
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

VISIT_STATUS_LABELS = {
    "requested": _l("Requested"),
    "booked": _l("Booked"),
    "confirmed": _l("Confirmed"),
    "checked_in": _l("Checked in"),
    "in_progress": _l("In progress"),
    "completed": _l("Completed"),
    "cancelled": _l("Cancelled"),
    "no_show": _l("No-show"),
}

SEGMENT_LABELS = {
    "local": _l("Local"),
    "regional": _l("Regional"),
    "long_distance": _l("Long distance"),
    "70+": _l("70+"),
    "wheelchair": _l("Wheelchair"),
    "interpreter": _l("Interpreter"),
    "hearing": _l("Hearing support"),
}


CONTACT_CHANNEL_LABELS = {"sms": _l("SMS"), "voice": _l("Phone call"), "email": _l("E-mail")}
TOUCH_CHANNEL_LABELS = {
    "phone": _l("Phone"),
    "sms": _l("SMS"),
    "voice": _l("Voice call"),
    "email": _l("E-mail"),
    "walk_in": _l("Walk-in"),
    "web": _l("Web"),
}
"""How a contact took place (``TouchChannel``): touch-points, gestures, transport answers."""

# what the outbox holds: its statuses, channels and actions (the Outbox screen and the patient page)
OUTBOX_STATUS_LABELS = {
    "queued": _l("Queued"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "delivered": _l("Delivered"),
    "failed": _l("Failed"),
    "unknown": _l("Outcome unknown"),
    "withdrawn": _l("Withdrawn"),
    "skipped": _l("Skipped"),
}
CHANNEL_LABELS = {
    "sms": _l("SMS"),
    "voice": _l("Call"),
    "email": _l("E-mail"),
    "hl7": _l("HL7 feed (SIU)"),
    "patient": _l("Patient's own channel"),
}
ACTION_LABELS = {
    "confirmation": _l("Booking confirmation"),
    "reminder": _l("Reminder"),
    "coffee_voucher": _l("Coffee voucher"),
    "transport_offer": _l("Transport and help at home offer"),
    "volunteer_meet": _l("Volunteer meets the patient"),
    "volunteer": _l("Volunteer announced to the patient"),
    "reoffer": _l("Re-offer the freed place"),
    "calendar_update": _l("Calendar update (visit moved)"),
    "calendar_cancel": _l("Calendar cancellation"),
    "siu_s12": _l("SIU S12: visit booked"),
    "siu_s13": _l("SIU S13: visit moved"),
    "siu_s14": _l("SIU S14: visit changed"),
    "siu_s15": _l("SIU S15: visit cancelled"),
    "siu_s26": _l("SIU S26: no-show"),
}


def message_labels() -> dict:
    """Label functions for outbox rows, for templates: ``status``, ``channel``, ``action``."""
    return {
        "status": lambda code: label(OUTBOX_STATUS_LABELS, code),
        "channel": lambda code: label(CHANNEL_LABELS, code),
        "action": lambda code: label(ACTION_LABELS, code),
    }


def label(mapping: dict, code: object) -> str:
    """The translated label of ``code`` (an enum member or its value); unknown codes are shown as they are."""
    value = str(getattr(code, "value", code))
    return str(mapping.get(value, value))


def language_label(code: object) -> str:
    """The name of a patient's language in the language of the page ("Engels" on a Dutch page)."""
    value = str(getattr(code, "value", code))
    try:
        name = Locale.parse(value).get_display_name(get_locale())
    except (ValueError, UnknownLocaleError):
        return value
    return name[:1].upper() + name[1:] if name else value


VOLUNTEER_REASON_LABELS = {"long_distance": _l("Long distance"), "flagged": _l("Asked for by the desk")}
VOLUNTEER_NOTE_LABELS = {
    "nobody_available": _l("No volunteer is available this day: find someone for the day."),
    "no_cover": _l("Nobody is available for the whole stay: extend someone's hours or choose a volunteer for part of it."),
    "all_busy": _l("Every volunteer available for the stay meets another patient at nearly the same time: choose one below."),
    "other_language": _l("Does not speak the patient's language"),
    "returning": _l("Met this patient before"),
    "moved": _l("The visit moved to another day"),
}
MEETING_OUTCOME_LABELS = {"met": _l("Met"), "not_met": _l("Not met")}
MEETING_PLACE_LABELS = {"main_entrance": _l("Main entrance")}


def volunteer_labels() -> dict:
    """Template helpers naming the volunteer matching's codes (reasons, notes, outcomes, places)."""
    return {
        "reason_label": lambda code: label(VOLUNTEER_REASON_LABELS, code),
        "note_labels": lambda note: [label(VOLUNTEER_NOTE_LABELS, code) for code in (note or "").split()],
        "outcome_label": lambda code: label(MEETING_OUTCOME_LABELS, code),
        "place_label": lambda code: label(MEETING_PLACE_LABELS, code),
    }


AUDIT_ACTION_LABELS = {
    "visit.booked": _l("Visit booked"),
    "visit.moved": _l("Visit moved"),
    "visit.cancelled": _l("Visit cancelled"),
    "visit.no_show": _l("No-show"),
    "visit.confirmed": _l("Visit confirmed"),
    "visit.checked_in": _l("Checked in"),
    "visit.checked_out": _l("Checked out"),
    "visit.completed": _l("Visit completed"),
    "visit.in_progress": _l("Visit in progress"),
    "visit.replanned": _l("Day re-planned"),
    "visit.outreach_planned": _l("Outreach planned"),
    "visit.outreach_withdrawn": _l("Outreach withdrawn"),
    "step.start": _l("Step started"),
    "step.finish": _l("Step finished"),
    "step.skip": _l("Step skipped"),
    "series.booked": _l("Series booked"),
    "series.cancelled": _l("Series cancelled"),
    "waitlist.added": _l("Added to the waitlist"),
    "waitlist.prioritised": _l("Waitlist priority changed"),
    "waitlist.waiting": _l("Waiting again on the waitlist"),
    "waitlist.offered": _l("Offered a place"),
    "waitlist.booked": _l("Booked from the waitlist"),
    "waitlist.removed": _l("Removed from the waitlist"),
    "offer.sent": _l("Offer sent"),
    "offer.sms_sent": _l("Offer sent by SMS"),
    "offer.sms_failed": _l("Offer SMS failed"),
    "offer.open": _l("Offer open"),
    "offer.accepted": _l("Offer accepted"),
    "offer.declined": _l("Offer declined"),
    "offer.expired": _l("Offer expired"),
    "offer.taken": _l("Offer taken by someone else"),
    "offer.withdrawn": _l("Offer withdrawn"),
    "patient.created": _l("Patient registered"),
    "patient.contact_preferences": _l("Contact preferences changed"),
    "patient.updated": _l("Patient details updated"),
    "patient.merged": _l("Patient record merged into this one"),
    "outreach.rules_saved": _l("Outreach rules saved"),
    "invoice.issued": _l("Invoice issued"),
    "invoice.credited": _l("Invoice credited"),
    "invoice.credit_note_issued": _l("Credit note issued"),
    "gesture.granted": _l("Gesture granted"),
    "gesture.requested": _l("Gesture requested"),
    "gesture.approved": _l("Gesture approved"),
    "gesture.declined": _l("Gesture declined"),
    "touchpoint.logged": _l("Contact logged"),
    "transport_wanted": _l("Transport wanted"),
    "transport_declined": _l("Transport declined"),
    "transport_arranged": _l("Transport arranged"),
    "volunteer.flag": _l("Volunteer asked for"),
    "volunteer.override": _l("Volunteer chosen by hand"),
    "volunteer.met": _l("Volunteer met the patient"),
    "volunteer.not_met": _l("Volunteer did not meet the patient"),
    "user.created": _l("Account created"),
    "user.role_changed": _l("Account role changed"),
    "user.disabled": _l("Account disabled"),
    "user.enabled": _l("Account enabled"),
    "user.password_reset": _l("Password reset"),
    "user.password_set": _l("Password set by an administrator"),
    "user.password_changed": _l("Password changed"),
    "api_client.created": _l("API client registered"),
    "api_client.keys_registered": _l("API client keys registered"),
    "api_client.token_issued": _l("API token issued"),
    "api_client.token_revoked": _l("API token revoked"),
    "api_client.deactivated": _l("API client deactivated"),
}
"""What each audit ``action`` code means; the code itself stays visible beside it for searching."""
AUDIT_ENTITY_LABELS = {
    "visit": _l("Visit"),
    "patient": _l("Patient"),
    "invoice": _l("Invoice"),
    "waitlist_entry": _l("Waitlist entry"),
    "waitlist_offer": _l("Offer"),
    "treatment_series": _l("Series"),
    "recovery_gesture": _l("Gesture"),
    "outreach_rule_set": _l("Outreach rules"),
    "touch_point": _l("Contact"),
    "user": _l("Account"),
    "api_client": _l("API client"),
}
UNDO_LABELS = {
    "visit.checked_in": _l("check-in"),
    "step.start": _l("step started"),
    "step.finish": _l("step finished"),
    "step.skip": _l("step skipped"),
}
"""The actions a clerk can undo (``clinic.visits.undo``), as the undo button names them."""

ACCESS_KIND_LABELS = {
    "page": _l("Opened the patient page"),
    "export_json": _l("Exported the data (JSON)"),
    "export_pdf": _l("Exported the data (PDF)"),
}
