"""The KBR loader on a small hand-made database (figures in tests/clinic/kbr_data.py), and the dashboard."""

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from clinic.errors import ValidationError
from clinic.kbr import figures as fig
from clinic.kbr import services as kbr
from tests.clinic.kbr.kbr_data import build
from tests.factories import make_patient, make_unit, make_visit

UNIT = make_unit()

MONDAY = dt.date(2026, 11, 16)
TODAY = dt.date(2026, 11, 25)  # Wednesday of the next week


@pytest.fixture
def history(session: Session):
    return build(session, MONDAY)


def test_records_and_figures_from_the_database(session: Session, history) -> None:
    data = kbr.load_data(session=session, unit=UNIT, today=TODAY, unit_costs=dict(kbr.definitions().unit_costs))
    w1, w2 = history.week1, history.week2
    v = history.visits
    assert {r.id for r in data.visits} == {v["v1"].id, v["v2"].id, v["v3"].id, v["v4"].id, v["v5"].id}
    two = next(r for r in data.visits if r.id == v["v2"].id)
    assert two.segments == {"long_distance", "70+"} and two.critical_path == 40
    assert (two.coffee_voucher, two.transport_booked, two.volunteer_minutes) == (True, True, 90)

    assert fig.one_visit_share(data)[w1] == fig.Figure(50.0, 2)
    assert fig.wait_mean(data)[w1] == fig.Figure(15.0, 2)
    assert fig.wait_p90(data)[w1] == fig.Figure(30, 2)
    assert fig.no_show_rate(data) == {w1: fig.Figure(0.0, 2), w2: fig.Figure(100.0, 1)}
    assert fig.refill_share(data) == {w1: fig.Figure(100.0, 1)}
    assert fig.refill_first_offer(data) == {w1: fig.Figure(20.0, 1)}
    assert fig.refill_accepted(data) == {w1: fig.Figure(60.0, 1)}
    delivered = fig.reminder_delivered(data)[w1]
    assert delivered.count == 3 and delivered.value == pytest.approx(200 / 3)
    assert fig.reminder_answered(data) == {w1: fig.Figure(50.0, 2)}
    assert fig.reminder_delivered(data, channel="voice") == {w1: fig.Figure(0.0, 1)}
    assert fig.yes_rate(data) == {w1: fig.Figure(50.0, 2)}
    assert fig.followup_hours(data) == {w1: fig.Figure(12.0, 1)}
    line = fig.cost_lines(data)[w1]
    assert (line.total_cents, line.completed, line.rebooked) == (8800, 2, 1)
    assert fig.service_cost(data)[w1] == fig.Figure(44.0, 2)
    assert fig.service_cost(data, "local") == {w1: fig.Figure(0.0, 1)}


def test_records_outside_the_twelve_weeks_are_not_read(session: Session, history) -> None:
    data = kbr.load_data(session=session, unit=UNIT, today=MONDAY + dt.timedelta(weeks=13))
    assert fig.one_visit_share(data) == {}
    data = kbr.load_data(session=session, unit=UNIT, today=MONDAY - dt.timedelta(days=1))
    assert data.visits == () and data.messages == ()


def test_the_loader_uses_a_fixed_number_of_queries(session: Session, history) -> None:
    pathway_id = history.visits["v1"].pathway_id
    from clinic.unit.models import Pathway

    pathway = session.get(Pathway, pathway_id)

    def count_queries() -> int:
        statements: list[str] = []

        def listener(*args) -> None:
            statements.append(args[2])

        engine = session.get_bind()
        sa.event.listen(engine, "before_cursor_execute", listener)
        try:
            kbr.load_data(session=session, unit=UNIT, today=TODAY)
        finally:
            sa.event.remove(engine, "before_cursor_execute", listener)
        return len(statements)

    before = count_queries()
    for n in range(15):
        make_visit(session, patient=make_patient(session), pathway=pathway, day=MONDAY,
                   start=dt.datetime(2026, 11, 16, 8, n, tzinfo=dt.UTC))  # fmt: skip
    session.expire_all()
    assert count_queries() == before <= 15


def test_dashboard_views(session: Session, history) -> None:
    board = kbr.dashboard(session=session, unit=UNIT, today=TODAY, minimum=1)
    assert board.current_week == history.week2 and len(board.weeks) == 12
    assert [v.kbr.id for v in board.kbrs] == [k.id for k in kbr.definitions().kbrs]
    no_show = board.view("no_show_rate")
    assert no_show.current == fig.Figure(100.0, 1) and no_show.target_met is False
    one_visit = board.view("one_visit_share")
    assert one_visit.current is None and one_visit.target_met is None  # no completed visit this week
    assert one_visit.points[-2].figure == fig.Figure(50.0, 2)
    rows = {b.key: b for b in one_visit.segments}
    assert rows["long_distance"].period == fig.Figure(0.0, 1) and rows["local"].period == fig.Figure(100.0, 1)
    assert rows["all"].period == fig.Figure(50.0, 2) and rows["regional"].period is None
    channels = {b.key: b for b in board.view("reminder_delivered").channels}
    assert channels["voice"].period == fig.Figure(0.0, 1) and channels["email"].period is None
    assert dict(board.costs)["long_distance"].total_cents == 8800
    assert board.level_counts == {"generic": 1, "expected": 2, "augmented": 6, "potential": 3}
    assert any(r.id == "wheelchair-parking" and not r.in_force for r in board.rules)

    far = kbr.dashboard(session=session, unit=UNIT, today=TODAY, segment="long_distance")
    assert far.view("one_visit_share").points[-2].figure == fig.Figure(0.0, 1)
    with pytest.raises(ValidationError):
        kbr.dashboard(session=session, unit=UNIT, today=TODAY, segment="mars")


def test_the_week_under_way_needs_enough_data(session: Session, history) -> None:
    """One visit this week is almost no data: no figure ("not measured yet"), never a 0 or 100 %; the
    full weeks keep theirs, however few records."""
    board = kbr.dashboard(session=session, unit=UNIT, today=TODAY)
    no_show = board.view("no_show_rate")
    assert no_show.current is None and no_show.points[-1].figure is None and no_show.target_met is None
    assert all(b.current is None for b in no_show.segments)
    assert no_show.points[-2].figure == fig.Figure(0.0, 2)
    assert all(b.current is None for b in board.view("reminder_delivered").channels)
    assert kbr.dashboard(session=session, unit=UNIT, today=TODAY, minimum=2).view("no_show_rate").current is None
    assert kbr.dashboard(session=session, unit=UNIT, today=TODAY, minimum=1).view("no_show_rate").current


def test_csv_rows_hold_the_page_figures(session: Session, history) -> None:
    board = kbr.dashboard(session=session, unit=UNIT, today=TODAY, minimum=1)
    rows = kbr.csv_rows(board=board, kbr_id="no_show_rate")
    assert rows[0] == list(kbr.CSV_HEADER)
    by_key = {(r[4], r[5], r[6]): r for r in rows[1:]}
    assert by_key[(history.week2, "all", "")][7:] == ["100.00", "1", "3.00", "", "no"]
    assert by_key[(history.week1, "all", "")][7:9] == ["0.00", "2"]
    assert by_key[(board.weeks[0], "all", "")][7:9] == ["", "0"]  # a week without visits: no figure
    period = f"{board.weeks[0]}/{board.weeks[-1]}"
    # local over the period: v1 completed and v5 no-show took place (v3 cancelled, v4 still booked) -> 1/2
    assert by_key[(period, "local", "")][7:9] == ["50.00", "2"]
    assert len(rows) == 1 + 12 + 2 * 5
    every = kbr.csv_rows(board=board)
    assert {r[0] for r in every[1:]} == {v.kbr.id for v in board.kbrs}
