"""Checkout happens on the visit's own day: the screens' tests run on the day of their visits."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tests.clinic.billing.test_services_checkout import DAY


@pytest.fixture(autouse=True)
def _on_the_visits_day(clock) -> None:
    """The clinic's clock at 14:00 on ``DAY``, the day the tests' visits take place."""
    clock.move_to(dt.datetime.combine(DAY, dt.time(14), ZoneInfo("Europe/Amsterdam")))
