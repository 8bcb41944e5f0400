"""The KBR figures on hand-made records with answers worked out by hand (in each test's comments)."""

import datetime as dt

import pytest

from clinic.kbr import figures as fig
from clinic.kbr.definitions import KbrFileError, parse_kbrs

UTC = dt.UTC
MON = dt.date(2026, 11, 16)  # ISO week 2026-W47
W47, W48 = "2026-W47", "2026-W48"
NEXT_MON = MON + dt.timedelta(days=7)  # 2026-W48
LOCAL, REGIONAL, FAR = frozenset({"local"}), frozenset({"regional"}), frozenset({"long_distance"})
FAR_OLD = frozenset({"long_distance", "70+"})


def at(day: dt.date, hhmm: str) -> dt.datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(hours, minutes), UTC)


def step(
    day: dt.date, start: str, end: str, status: str = "done", end_day: dt.date | None = None
) -> fig.StepRecord:
    return fig.StepRecord(status, at(day, start), at(end_day or day, end), day, end_day or day)


def visit(
    vid: int, day: dt.date, steps=(), status: str = "completed", segments=LOCAL, cp: int = 60, **kw
) -> fig.VisitRecord:
    return fig.VisitRecord(
        id=vid, day=day, status=status, segments=segments, critical_path=cp, steps=tuple(steps), **kw
    )


# --- weeks and p90 ------------------------------------------------------------------------------


def test_weeks() -> None:
    assert fig.week_of(dt.date(2026, 11, 23)) == "2026-W48"
    assert fig.week_of(dt.date(2027, 1, 1)) == "2026-W53"  # ISO: 1 Jan 2027 is a Friday of 2026's week 53
    assert fig.last_weeks(dt.date(2026, 11, 25), 3) == ["2026-W46", "2026-W47", "2026-W48"]
    assert fig.week_bounds(dt.date(2026, 11, 25), 3) == (dt.date(2026, 11, 9), dt.date(2026, 11, 25))


def test_p90_is_the_nearest_rank() -> None:
    assert fig.p90([]) is None
    assert fig.p90([7]) == 7  # ceil(0.9 * 1) = 1st
    assert fig.p90([5, 1, 3, 2, 4]) == 5  # ceil(4.5) = 5th of 1..5
    assert fig.p90(list(range(1, 11))) == 9  # ceil(9) = 9th of 1..10
    assert fig.p90(list(range(1, 12))) == 10  # ceil(9.9) = 10th of 1..11
    assert fig.p90(list(range(1, 21))) == 18  # ceil(18) = 18th of 1..20


# --- visits -------------------------------------------------------------------------------------


def _visits() -> tuple[fig.VisitRecord, ...]:
    return (
        # 1: 09:00-10:30 = 90 min span, critical path 60 -> wait 30; one visit
        visit(1, MON, [step(MON, "09:00", "09:20"), step(MON, "10:00", "10:30")]),
        # 2: 09:00-11:00 = 120 min, cp 60 -> wait 60; a skipped step: not within one visit
        visit(
            2,
            MON,
            [step(MON, "09:00", "09:30"), fig.StepRecord("skipped"), step(MON, "10:30", "11:00")],
            segments=FAR_OLD,
        ),  # fmt: skip
        # 3: 08:00-08:50 = 50 min < cp 60 -> wait 0 (never negative); one visit
        visit(
            3,
            MON + dt.timedelta(days=1),
            [step(MON + dt.timedelta(days=1), "08:00", "08:50")],
            segments=REGIONAL,
        ),
        # 4: the last step ends after midnight (next day): not within one visit; wait 23:00-00:30 = 90 - 60 = 30
        visit(4, MON, [step(MON, "23:00", "00:30", end_day=MON + dt.timedelta(days=1))]),
        # no-show, cancelled and booked visits do not count as completed
        visit(5, MON, status="no_show"),
        visit(6, MON, status="no_show", segments=FAR_OLD),
        visit(7, MON, status="cancelled"),
        visit(8, MON, status="booked"),
        # next week: one completed visit with a 10-minute wait
        visit(9, NEXT_MON, [step(NEXT_MON, "10:00", "11:10")]),
    )


def test_one_visit_share() -> None:
    data = fig.KbrData(visits=_visits())
    # W47: completed 1, 2, 3, 4; within one visit 1 and 3 -> 2/4 = 50 %. W48: 1/1 = 100 %.
    assert fig.one_visit_share(data) == {W47: fig.Figure(50.0, 4), W48: fig.Figure(100.0, 1)}
    # long distance: only visit 2 (skipped step) -> 0 %, which is a figure (a week with nothing would have none)
    assert fig.one_visit_share(data, "long_distance") == {W47: fig.Figure(0.0, 1)}
    assert fig.one_visit_share(data, "regional") == {W47: fig.Figure(100.0, 1)}


def test_wait_beyond_the_critical_path() -> None:
    data = fig.KbrData(visits=_visits())
    # W47 waits: 30, 60, 0, 30 -> mean 30; p90 = ceil(3.6) = 4th of [0, 30, 30, 60] = 60
    assert fig.wait_mean(data)[W47] == fig.Figure(30.0, 4)
    assert fig.wait_p90(data)[W47] == fig.Figure(60, 4)
    # W48: 70 min span - 60 = 10
    assert fig.wait_mean(data)[W48] == fig.Figure(10.0, 1)
    assert fig.wait_p90(data, "70+") == {W47: fig.Figure(60, 1)}


def test_a_visit_without_actual_times_has_no_wait() -> None:
    planned_only = visit(1, MON, [fig.StepRecord("done")])
    assert fig.wait_beyond_critical_path(planned_only) is None
    assert fig.wait_mean(fig.KbrData(visits=(planned_only,))) == {}


def test_no_show_rate() -> None:
    data = fig.KbrData(visits=_visits())
    # W47 took place: 4 completed + 2 no-shows = 6 (cancelled and booked left out); 2/6 = 33.33 %
    result = fig.no_show_rate(data)[W47]
    assert result.count == 6 and result.value == pytest.approx(100 * 2 / 6)
    assert fig.no_show_rate(data)[W48] == fig.Figure(0.0, 1)
    # 70+: visit 2 (completed) and 6 (no-show) -> 50 %
    assert fig.no_show_rate(data, "70+") == {W47: fig.Figure(50.0, 2)}


def test_an_empty_week_has_no_figure_rather_than_zero() -> None:
    empty = fig.KbrData()
    for kbr_id, compute in fig.FIGURES.items():
        assert compute(empty) == {}, kbr_id
    only_cancelled = fig.KbrData(visits=(visit(1, MON, status="cancelled"),))
    assert fig.one_visit_share(only_cancelled) == {}
    assert fig.no_show_rate(only_cancelled) == {}
    assert fig.service_cost(only_cancelled) == {}


def test_unknown_segment_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown segment"):
        fig.one_visit_share(fig.KbrData(), "wheelchair")


# --- refill -------------------------------------------------------------------------------------


def _cancellations() -> tuple[fig.CancelRecord, ...]:
    cancel = at(MON, "08:00")
    return (
        # 120 freed, 90 refilled; first offer after 30 min, accepted after 150 min
        fig.CancelRecord(1, MON, LOCAL, 120, cancel, at(MON, "08:30"), at(MON, "10:30"), 90),
        # 60 freed, 80 refilled -> counts as 60 (capped); offer after 10 min, accepted after 50 min
        fig.CancelRecord(2, MON, FAR, 60, cancel, at(MON, "08:10"), at(MON, "08:50"), 80),
        # 120 freed, no offer at all
        fig.CancelRecord(3, MON, LOCAL, 120, cancel),
        # next week: 100 freed, offered after 60 min, nobody accepted
        fig.CancelRecord(4, NEXT_MON, LOCAL, 100, at(NEXT_MON, "08:00"), at(NEXT_MON, "09:00")),
    )


def test_refill_share_of_freed_minutes() -> None:
    data = fig.KbrData(cancellations=_cancellations())
    # W47: (90 + 60) / (120 + 60 + 120) = 150 / 300 = 50 %; W48: 0 / 100 = 0 %
    assert fig.refill_share(data) == {W47: fig.Figure(50.0, 3), W48: fig.Figure(0.0, 1)}
    assert fig.refill_share(data, "long_distance") == {W47: fig.Figure(100.0, 1)}


def test_time_from_cancel_to_first_and_accepted_offer() -> None:
    data = fig.KbrData(cancellations=_cancellations())
    # first offers W47: 30 and 10 -> mean 20 (the cancellation without an offer is not counted); W48: 60
    assert fig.refill_first_offer(data) == {W47: fig.Figure(20.0, 2), W48: fig.Figure(60.0, 1)}
    # accepted W47: 150 and 50 -> 100; W48: none accepted -> no figure
    assert fig.refill_accepted(data) == {W47: fig.Figure(100.0, 2)}


# --- reminders ----------------------------------------------------------------------------------


def test_reminder_reach_by_channel() -> None:
    def msg(mid, status, channel="sms", answered=False, action="reminder", segments=LOCAL):
        return fig.MessageRecord(mid, MON, action, channel, status, segments, answered)

    data = fig.KbrData(
        messages=(
            msg(1, "delivered", answered=True),
            msg(2, "delivered"),
            msg(3, "failed"),
            msg(4, "sent"),  # sent, no delivery report yet: attempted, not delivered
            msg(5, "delivered", "voice", answered=True),
            msg(6, "queued"),  # not attempted: left out
            msg(7, "withdrawn"),  # left out
            msg(8, "delivered", action="confirmation", answered=True),  # not a reminder: left out
            msg(9, "unknown"),  # outcome unknown after a crash: neither delivered nor failed, left out
        )
    )
    # attempted: 1-5 = 5; delivered 1, 2, 5 -> 60 %; answered of delivered: 1 and 5 -> 2/3
    assert fig.reminder_delivered(data) == {W47: fig.Figure(60.0, 5)}
    answered = fig.reminder_answered(data)[W47]
    assert answered.count == 3 and answered.value == pytest.approx(200 / 3)
    # SMS only: attempted 1-4, delivered 1 and 2 -> 50 %; answered 1 of 2 -> 50 %
    assert fig.reminder_delivered(data, channel="sms") == {W47: fig.Figure(50.0, 4)}
    assert fig.reminder_answered(data, channel="sms") == {W47: fig.Figure(50.0, 2)}
    assert fig.reminder_delivered(data, channel="email") == {}


# --- two questions, follow-ups ------------------------------------------------------------------


def test_yes_rate_and_follow_up_resolution() -> None:
    surveys = (
        fig.SurveyRecord(1, MON, "answered", LOCAL, True, True),
        fig.SurveyRecord(2, MON, "answered", LOCAL, True, False),  # one "no" is not a yes
        fig.SurveyRecord(3, MON, "answered", FAR, True, True),
        fig.SurveyRecord(4, MON, "unanswered", LOCAL),  # not answered: left out
        fig.SurveyRecord(5, MON, "pending", LOCAL),
    )
    followups = (
        fig.FollowUpRecord(
            1, LOCAL, at(MON, "09:00"), at(MON + dt.timedelta(days=1), "09:00"), MON + dt.timedelta(days=1)
        ),
        fig.FollowUpRecord(2, LOCAL, at(MON, "09:00"), at(MON, "21:00"), MON),
        fig.FollowUpRecord(3, LOCAL, at(MON, "09:00")),  # still open: no resolution time
        fig.FollowUpRecord(4, FAR, at(MON, "10:00"), at(NEXT_MON, "10:00"), NEXT_MON),
    )
    data = fig.KbrData(surveys=surveys, followups=followups)
    # 2 of 3 answered surveys are yes to both
    result = fig.yes_rate(data)[W47]
    assert result.count == 3 and result.value == pytest.approx(200 / 3)
    # closed in W47: 24 h and 12 h -> 18 h; closed in W48 (by week of closing): 168 h
    assert fig.followup_hours(data) == {W47: fig.Figure(18.0, 2), W48: fig.Figure(168.0, 1)}
    assert fig.followup_hours(data, "long_distance") == {W48: fig.Figure(168.0, 1)}


# --- cost ---------------------------------------------------------------------------------------


def test_cost_of_segment_services() -> None:
    costs = {"coffee_voucher": 350, "volunteer_hour": 1800, "transport_ride": 4500}
    data = fig.KbrData(
        visits=(
            # long distance, 70+: coffee 350 + 90 volunteer minutes (2700) + transport 4500 = 7550
            visit(
                1,
                MON,
                [step(MON, "10:00", "11:00")],
                segments=FAR_OLD,
                coffee_voucher=True,
                transport_booked=True,
                volunteer_minutes=90,
            ),  # fmt: skip
            visit(2, MON, [step(MON, "09:00", "10:00")]),  # local, no services
            visit(3, MON, status="no_show", segments=FAR, volunteer_minutes=0),
            # still under way: its coffee and volunteer count once it has ended, not against visit 1 and 2
            visit(4, MON, [step(MON, "12:00", "13:00")], status="in_progress", segments=FAR,
                  coffee_voucher=True, volunteer_minutes=60),  # fmt: skip
        ),
        gestures=(fig.GestureRecord(1, MON, LOCAL, 1250),),
        cancellations=(
            fig.CancelRecord(9, MON, LOCAL, 60, at(MON, "07:00"), at(MON, "07:10"), at(MON, "07:40"), 60),
        ),
        unit_costs=costs,
    )
    line = fig.cost_lines(data)[W47]
    assert (line.coffee_cents, line.volunteer_cents, line.transport_cents, line.gesture_cents) == (
        350,
        2700,
        4500,
        1250,
    )
    assert (line.total_cents, line.completed, line.no_shows, line.rebooked) == (8800, 2, 1, 1)
    # 88.00 EUR over 2 completed visits = 44.00 per visit
    assert fig.service_cost(data) == {W47: fig.Figure(44.0, 2)}
    # long distance: 7550 cents over 1 completed visit = 75.50; local: the gesture 12.50 over 1 visit
    assert fig.service_cost(data, "long_distance") == {W47: fig.Figure(75.5, 1)}
    assert fig.service_cost(data, "local") == {W47: fig.Figure(12.5, 1)}


def test_over_period_pools_the_weeks() -> None:
    data = fig.KbrData(visits=_visits())
    # W47 + W48: completed 5, within one visit 1, 3, 9 -> 60 %
    assert fig.over_period("one_visit_share", data, [W47, W48]) == fig.Figure(60.0, 5)
    # only W48 counted when only W48 is asked for
    assert fig.over_period("one_visit_share", data, [W48]) == fig.Figure(100.0, 1)
    assert fig.over_period("one_visit_share", data, ["2026-W01"]) is None


# --- definitions --------------------------------------------------------------------------------

GOOD = """
version: 1
unit_costs: {coffee_voucher: 350, volunteer_hour: 1800, transport_ride: 4500}
kbrs:
  - id: wait_mean
    name: Mean wait
    measures: Minutes beyond the critical path.
    unit: minutes
    direction: lower
    promise: {value: 45, text: Less than 45 minutes.}
    target: 30
"""


def test_the_shipped_kbr_file_is_valid_and_names_every_figure() -> None:
    from clinic.kbr.services import definitions

    kbrs = definitions()
    assert {k.id for k in kbrs.kbrs} == set(fig.FIGURES)
    for kbr in kbrs.kbrs:
        assert kbr.promise_text and kbr.measures
        if kbr.promise is not None:  # the internal target is at least as strict as the promise
            assert kbr.met(kbr.target, kbr.promise)


def test_a_good_file_parses() -> None:
    kbrs = parse_kbrs(GOOD, known_ids=fig.FIGURES)
    kbr = kbrs.get("wait_mean")
    assert (kbr.target, kbr.promise, kbr.direction, kbr.period) == (30.0, 45.0, "lower", "week")
    assert kbr.met(29, kbr.target) and not kbr.met(31, kbr.target) and kbr.met(None, 30) is None
    assert kbrs.unit_costs["volunteer_hour"] == 1800


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("id: wait_mean", "id: wait_median"), "KBR wait_median: field id: must name a figure"),
        (("unit: minutes", "unit: seconds"), "KBR wait_mean: field unit: must be one of percent"),
        (("direction: lower", "direction: down"), "KBR wait_mean: field direction"),
        (
            ("target: 30", "target: 50"),
            "KBR wait_mean: field target: the internal target (50) must be at least as strict",
        ),
        (("target: 30", "target: thirty"), "KBR wait_mean: field target: required"),
        (
            ("promise: {value: 45, text: Less than 45 minutes.}", "promise: {value: 45}"),
            "field promise.text: required",
        ),
        (("    target: 30", "    target: 30\n    colour: red"), "KBR wait_mean: field colour: unknown field"),
        (("transport_ride: 4500", "transport_ride: -1"), "field unit_costs.transport_ride"),
        (("version: 1", "version: 2"), "field version: must be 1"),
        (("name: Mean wait", "name: {nl: Gemiddelde wachttijd}"), "KBR wait_mean: field name.en: required"),
        (
            ("name: Mean wait", "name: {en: Mean wait, de: Wartezeit}"),
            "KBR wait_mean: field name.de: unknown language",
        ),
    ],
)
def test_a_bad_file_names_file_kbr_and_field(change: tuple[str, str], expected: str) -> None:
    with pytest.raises(KbrFileError) as error:
        parse_kbrs(GOOD.replace(*change), filename="kbrs.yaml", known_ids=fig.FIGURES)
    assert any(p.startswith("kbrs.yaml: ") and expected in p for p in error.value.problems), (
        error.value.problems
    )


def test_texts_per_language_fall_back_to_english() -> None:
    text = GOOD.replace("name: Mean wait", "name: {en: Mean wait, nl: Gemiddelde wachttijd}")
    kbr = parse_kbrs(text, known_ids=fig.FIGURES).get("wait_mean")
    assert kbr.name == "Mean wait" and kbr.text("name", "nl") == "Gemiddelde wachttijd"
    assert kbr.text("name", "fr") == "Mean wait" and kbr.text("promise", "nl") == "Less than 45 minutes."


def test_not_yaml_and_duplicates() -> None:
    with pytest.raises(KbrFileError, match="not valid YAML"):
        parse_kbrs("kbrs: [", known_ids=fig.FIGURES)
    doubled = GOOD + GOOD.split("kbrs:\n")[1]
    with pytest.raises(KbrFileError, match="used twice"):
        parse_kbrs(doubled, known_ids=fig.FIGURES)


def test_a_week_under_way_shows_a_figure_only_on_enough_records() -> None:
    few, enough = fig.Figure(0.0, fig.MIN_PARTIAL_COUNT - 1), fig.Figure(0.0, fig.MIN_PARTIAL_COUNT)
    assert fig.measured(few, partial=True) is None
    assert fig.measured(enough, partial=True) == enough
    assert fig.measured(few, partial=False) == few  # a full week keeps its figure
    assert fig.measured(None, partial=True) is None and fig.measured(None, partial=False) is None
    assert fig.measured(fig.Figure(50.0, 1), partial=True, minimum=1) == fig.Figure(50.0, 1)
