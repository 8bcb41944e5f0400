"""Reading an encoded itinerary (``2026-12-01|reg@desk-1@480-490|...``, written by
``clinic.booking.services.encode_choice``): its day and placed steps. Kept apart from the booking services
so that ``clinic.planning`` can read held itineraries without importing them."""

import datetime as dt
import re

from clinic.errors import ValidationError
from scheduling import instance as engine

_STEP = re.compile(r"^([^@|]{1,40})@([^@|]{1,40})@(\d{1,4})-(\d{1,4})$")


def decode_choice(choice: str) -> tuple[dt.date, tuple[engine.PlacedStep, ...]]:
    """The day and placed steps of an encoded choice; ``ValidationError`` on anything else."""
    bad = ValidationError("the chosen itinerary is not readable", code="bad_choice", field="choice")
    parts = (choice or "").strip().split("|")
    if len(parts) < 2 or len(choice) > 2000:
        raise bad
    try:
        day = dt.date.fromisoformat(parts[0].split(";", 1)[0])
    except ValueError:
        raise bad from None
    steps = []
    for part in parts[1:]:
        match = _STEP.match(part)
        if match is None:
            raise bad
        start, end = int(match.group(3)), int(match.group(4))
        if not 0 <= start < end <= engine.DAY_MINUTES:
            raise bad
        steps.append(engine.PlacedStep(id=match.group(1), resource=match.group(2), start=start, end=end))
    return day, tuple(steps)
