"""What services and screens need to know about the unit from its configuration.

Built once by ``clinic.bootstrap`` from the settings; plain values, so code that takes a ``Unit`` needs
neither the settings nor Flask.
"""

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from clinic.unit.booking_rules import BookingRules


@dataclass(frozen=True)
class Unit:
    #: The clinic's wall clock (an IANA zone name such as ``Europe/Amsterdam``); ``zone`` is its ``ZoneInfo``.
    tz: str
    #: Below ``local_km``: a local patient; below ``regional_km``: regional; from there on: long-distance.
    local_km: int
    regional_km: int
    currency: str
    #: None: each step type's own VAT rate; else the rate of every invoice line (basis points).
    vat_rate_bp: int | None
    languages: tuple[str, ...]
    follow_up_due_working_days: int
    survey_reask_after: timedelta
    #: The front desk's number: given in HELP replies and dialled when a caller presses 3.
    desk_phone: str
    #: Where Twilio and patients reach the app; empty: the request's own URL.
    public_base_url: str
    board_refresh_seconds: int
    #: The segment booking rules (``seed_data/booking_rules.yaml``): hard ones and preferences that may bend.
    booking_rules: BookingRules
    #: The locale whose date and time patterns every screen uses (``FORMAT_LOCALE``), in the reader's words.
    format_locale: str = "nl_NL"
    #: A booking may re-arrange a not-started visit so that its first step starts up to this many
    #: minutes after the arrival the patient was told (never before it).
    arrival_tolerance_minutes: int = 15
    #: How long a ``$hold`` keeps a proposed itinerary's place (``ONEVISIT_HOLD_MINUTES``).
    hold_minutes: int = 5
    #: The unit's name and address, printed on the patient's appointment slip.
    name: str = ""
    address: str = ""

    @property
    def zone(self) -> ZoneInfo:
        """``tz`` as a ``ZoneInfo`` (cached by ``zoneinfo`` itself)."""
        return ZoneInfo(self.tz)
