"""Phone numbers shown on screens."""

import phonenumbers

from clinic.patients.models import DEFAULT_PHONE_REGION


def format_phone(value: str) -> str:
    """A stored E.164 number as people read it (``+31 6 12345678``); unreadable values as they are."""
    try:
        return phonenumbers.format_number(
            phonenumbers.parse(value, DEFAULT_PHONE_REGION), phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
    except phonenumbers.NumberParseException:
        return value
