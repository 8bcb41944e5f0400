"""Refill after a cancellation: documented ranking, only candidates that fit, the shift variant."""

import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.book import movable
from scheduling.check import check, check_booked, objective
from scheduling.generate import generate_day
from scheduling.instance import FEASIBLE, Schedule
from scheduling.refill import Candidate, rank_refill, rank_refill_booked, score


@pytest.fixture
def resources(mk):
    return [
        mk.resource("desk", "registration", available=[(480, 1020)]),
        mk.resource("dr-jansen", "consult", available=[(480, 720)]),
        mk.resource("chairs", "chair", capacity=2, available=[(480, 1080)]),
    ]


def assert_offer_valid(instance, offer, candidates):
    moved = {s.request: s.visit for s in offer.shifts}
    booked = tuple(moved.get(v.request, v) for v in instance.booked)
    request = next(c.request for c in candidates if c.request.id == offer.request)
    day = dataclasses.replace(instance, booked=booked, requests=(request,))
    assert check_booked(day) == []
    assert check(day, Schedule(day.name, FEASIBLE, (offer.visit,), (), objective(day, [offer.visit]))) == []


def chair(mk, rid, minutes=60, **kwargs):
    return mk.request(rid, [mk.step("reg", "registration", 10), mk.step("t", "chair", minutes, after=["reg"])],
                      **kwargs)


def test_ranked_by_priority_then_days_waited_then_short_notice(mk, resources):
    day = mk.instance(resources, [])
    cands = [
        Candidate(chair(mk, "a"), priority=1, days_waited=90, accepts_short_notice=True),
        Candidate(chair(mk, "b"), priority=3, days_waited=2),
        Candidate(chair(mk, "c"), priority=2, days_waited=10),
        Candidate(chair(mk, "d"), priority=2, days_waited=10, accepts_short_notice=True),
        Candidate(chair(mk, "e"), priority=2, days_waited=30),
    ]
    offers = rank_refill(day, cands, now=420)
    assert [o.request for o in offers] == ["b", "e", "d", "c", "a"]
    assert [o.rank for o in offers] == [1, 2, 3, 4, 5]
    assert [o.score for o in offers] == sorted((score(c) for c in cands), reverse=True)
    assert "priority 3" in offers[0].explanation and "waited 2 days" in offers[0].explanation
    assert all(not o.shifts for o in offers)
    for offer in offers:
        assert_offer_valid(day, offer, cands)
    assert [o.request for o in rank_refill(day, cands, now=420, limit=2)] == ["b", "e"]


def test_never_offers_a_candidate_that_does_not_fit(mk, resources):
    booked = [mk.visit("x", ("c", "dr-jansen", 480, 700))]
    day = mk.instance(resources, [], booked=booked)
    consult = mk.request("needs-doctor", [mk.step("c", "consult", 30)], arrival=(480, 700))
    short = mk.request("short", [mk.step("c", "consult", 20)], arrival=(480, 700))
    cands = [Candidate(consult, priority=5), Candidate(short, priority=1), Candidate(chair(mk, "chair"), priority=2)]
    offers = rank_refill(day, cands, now=0)
    assert [o.request for o in offers] == ["chair", "short"]
    assert offers[1].visit.steps[0].start == 700
    for offer in offers:
        assert_offer_valid(day, offer, cands)


def test_notice_is_respected(mk, resources):
    day = mk.instance(resources, [])
    soon = Candidate(chair(mk, "soon", arrival=(480, 640)), min_notice_minutes=60)
    later = Candidate(chair(mk, "later", arrival=(480, 700)), min_notice_minutes=60)
    offers = rank_refill(day, [soon, later], now=dt.datetime(2026, 12, 1, 10, 0))
    assert [o.request for o in offers] == ["later"]
    assert offers[0].visit.steps[0].start == 660
    assert rank_refill(day, [later], now=dt.datetime(2026, 11, 30, 23, 0))[0].visit.steps[0].start == 480
    with pytest.raises(ValueError, match="shift_minutes"):
        rank_refill(day, [later], shift_minutes=-5)


@pytest.fixture
def tight_doctor(mk, resources):
    """Dr Jansen free only 480-490 and 550-600 until a fixed visit at 600: 50 minutes, not 60."""
    booked = [mk.visit("m1", ("c", "dr-jansen", 490, 550)), mk.visit("f", ("c", "dr-jansen", 600, 720))]
    return mk.instance(resources, [], booked=booked)


def test_shift_lets_one_more_in_within_limit(mk, tight_doctor):
    hour = Candidate(mk.request("hour", [mk.step("c", "consult", 60)], arrival=(480, 600)), priority=2)
    fits = Candidate(chair(mk, "fits"), priority=1)
    assert [o.request for o in rank_refill(tight_doctor, [hour, fits], now=0)] == ["fits"]
    offers = rank_refill(tight_doctor, [hour, fits], now=0, shift_minutes=30, movable=frozenset({"m1"}))
    assert [o.request for o in offers] == ["hour", "fits"]
    (shift,) = offers[0].shifts
    assert (shift.request, shift.minutes) == ("m1", -10)
    assert shift.visit.steps[0].start == 480
    assert "m1 -10 min" in offers[0].explanation
    assert offers[1].shifts == ()
    for offer in offers:
        assert_offer_valid(tight_doctor, offer, [hour, fits])


def test_shift_limits_hold(mk, tight_doctor):
    hour = Candidate(mk.request("hour", [mk.step("c", "consult", 60)], arrival=(480, 600)))
    assert rank_refill(tight_doctor, [hour], now=0, shift_minutes=9, movable=frozenset({"m1"})) == []
    assert rank_refill(tight_doctor, [hour], now=0, shift_minutes=30, movable=frozenset({"f"})) == []
    assert rank_refill(tight_doctor, [hour], now=485, shift_minutes=30, movable=frozenset({"m1"})) == []
    longer = Candidate(mk.request("long", [mk.step("c", "consult", 71)], arrival=(480, 600)))
    assert rank_refill(tight_doctor, [longer], now=0, shift_minutes=60, movable=frozenset({"m1"})) == []


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), cancel=st.integers(0, 1_000), shift=st.sampled_from([15, 30]))
def test_offers_on_generated_days_are_valid(seed, cancel, shift):
    full = generate_day(70, seed=seed, booked_share=1.0)
    gone = full.booked[cancel % len(full.booked)].request
    day = dataclasses.replace(full, booked=tuple(v for v in full.booked if v.request != gone), requests=())
    cands = [Candidate(r, priority=r.priority, days_waited=n) for n, r in enumerate(full.requests[:12])]
    movable = frozenset(v.request for v in day.booked[::2])
    plain = rank_refill(day, cands, now=420, limit=20)
    offers = rank_refill(day, cands, now=420, shift_minutes=shift, movable=movable, limit=20)
    fits = {o.request for o in plain}
    assert fits <= {o.request for o in offers}
    for offer in offers:
        assert_offer_valid(day, offer, cands)
        assert all(s.request in movable and 0 < abs(s.minutes) <= shift for s in offer.shifts)
        assert bool(offer.shifts) == (offer.request not in fits)
    keys = [(-o.score, len(o.shifts)) for o in offers]
    assert keys == sorted(keys)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), limit=st.integers(1, 6), shift=st.sampled_from([0, 20]))
def test_a_short_list_is_the_head_of_the_full_ranking(seed, limit, shift):
    """Ranking stops trying candidates once ``limit`` better ones fit; ties on score (equal priority
    and days) still go to fewer shifts and less waiting, as in the full ranking."""
    full = generate_day(80, seed=seed, booked_share=0.5)
    day = dataclasses.replace(full, booked=full.booked[1:], requests=())
    cands = [Candidate(r, priority=1 + n % 2, days_waited=n // 4) for n, r in enumerate(full.requests[:12])]
    assert len(cands) == 12
    movable = frozenset(v.request for v in day.booked[::3])
    everyone = rank_refill(day, cands, now=420, shift_minutes=shift, movable=movable, limit=len(cands))
    short = rank_refill(day, cands, now=420, shift_minutes=shift, movable=movable, limit=limit)
    assert [(o.request, o.visit, o.shifts) for o in short] == [(o.request, o.visit, o.shifts) for o in everyone[:limit]]


def test_candidates_below_a_full_list_are_not_placed(mk, resources, monkeypatch):
    import scheduling.refill as refill

    tried = []
    place = refill.insert_request
    monkeypatch.setattr(refill, "insert_request", lambda day, fixed, request, **kw: tried.append(request.id) or place(day, fixed, request, **kw))
    day = mk.instance(resources, [])
    cands = [Candidate(chair(mk, f"c{n}"), priority=1, days_waited=n) for n in range(6)]
    offers = rank_refill(day, cands, now=420, limit=2)
    assert [o.request for o in offers] == ["c5", "c4"]
    assert tried == ["c5", "c4"]
    with pytest.raises(ValueError, match="limit"):
        rank_refill(day, cands, limit=0)


def _booking_day(mk, resources):
    """Dr Jansen: m1 (booked, not started, told 08:00) has its consult at 500-560 after a 10-minute wait,
    f (fixed) holds 600-720. Free for a 50-minute consult: nothing, unless m1's consult moves to 490."""
    m1_request = mk.request(
        "m1", [mk.step("reg", "registration", 10), mk.step("c", "consult", 60, after=["reg"])]
    )
    m1 = mk.visit("m1", ("reg", "desk", 480, 490), ("c", "dr-jansen", 500, 560))
    f = mk.visit("f", ("c", "dr-jansen", 600, 720))
    day = mk.instance(resources, [movable(m1_request, 480, 15)], booked=[f])
    return day, m1


def test_refill_through_book_rearranges_not_started_visits_never_their_arrival(mk, resources):
    day, m1 = _booking_day(mk, resources)
    fifty = Candidate(mk.request("w", [mk.step("c", "consult", 50)], arrival=(480, 600)), priority=2)
    frozen = mk.instance(resources, [], booked=[*day.booked, m1])
    assert rank_refill(frozen, [fifty], now=0) == []  # with every booking fixed it does not fit
    (offer,) = rank_refill_booked(day, [fifty], current=[m1], now=0)
    (moved,) = offer.rearranged
    assert moved.request == "m1" and "re-arranges m1" in offer.explanation
    assert 480 <= min(s.start for s in moved.steps) <= 480 + 15  # inside its announced arrival + tolerance
    whole = dataclasses.replace(day, requests=(*day.requests, fifty.request))
    visits = (moved, offer.visit)
    schedule = Schedule(whole.name, FEASIBLE, visits, (), objective(whole, visits))
    assert check(whole, schedule) == []


def test_refill_through_book_keeps_the_ranking_and_the_notice(mk, resources):
    day, m1 = _booking_day(mk, resources)
    urgent = Candidate(chair(mk, "urgent"), priority=3, days_waited=1)
    patient = Candidate(chair(mk, "patient"), priority=1, days_waited=40, accepts_short_notice=True)
    early = Candidate(chair(mk, "early"), priority=1, days_waited=2, min_notice_minutes=24 * 60)
    offers = rank_refill_booked(day, [patient, early, urgent], current=[m1], now=420)
    assert [o.request for o in offers] == ["urgent", "patient"]  # ``early`` cannot be told in time
    assert [o.rank for o in offers] == [1, 2]
    for offer in offers:  # ``book`` may also tidy m1 up, never outside its announced arrival + tolerance
        assert all(480 <= min(s.start for s in v.steps) <= 495 for v in offer.rearranged)
    with pytest.raises(ValueError, match="limit"):
        rank_refill_booked(day, [urgent], current=[m1], limit=0)
