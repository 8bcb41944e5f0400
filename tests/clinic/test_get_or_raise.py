"""``get_or_raise``: one wording and one field name for a row that is not there."""

import pytest
from sqlmodel import Session

from clinic.errors import NotFound, get_or_raise
from clinic.refill.models import WaitlistEntry
from clinic.visits.models import Visit
from tests.factories import make_visit


def test_an_existing_row_is_returned(session: Session) -> None:
    visit = make_visit(session)
    assert get_or_raise(session, Visit, visit.id, what="visit") is visit


@pytest.mark.parametrize("row_id", [0, -1, 987654, 2**31, 10**20])
def test_a_missing_row_is_not_found_in_one_wording(session: Session, row_id: int) -> None:
    with pytest.raises(NotFound) as info:
        get_or_raise(session, Visit, row_id, what="visit")
    assert (info.value.message, info.value.field) == (f"visit {row_id} does not exist", "visit_id")


def test_the_field_can_be_named(session: Session) -> None:
    with pytest.raises(NotFound) as info:
        get_or_raise(session, WaitlistEntry, 5, what="waitlist entry", field="entry_id")
    assert str(info.value) == "entry_id: waitlist entry 5 does not exist"
