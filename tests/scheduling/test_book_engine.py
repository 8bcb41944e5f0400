"""``book``: one request placed beside the day's bookings, which may move inside their announced windows."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling.book import book, movable
from scheduling.check import check, objective
from scheduling.generate import generate_day
from scheduling.insert import arrival, wait_minutes
from scheduling.instance import FEASIBLE, Schedule


def _desk_day(mk, *bookings):
    desk = mk.resource("desk", "registration", available=((480, 600),))
    return mk.instance([desk], list(bookings))


def _day_check(day, request, booking):
    full = dataclasses.replace(day, requests=(*day.requests, request))
    visits = (*booking.others, booking.visit)
    return check(full, Schedule(full.name, FEASIBLE, visits, (), objective(full, visits)))


def test_movable_narrows_the_arrival_and_keeps_the_rest(mk):
    r = mk.chain("r-1", ("registration", 15), arrival=(480, 660), leave_by=900, priority=2)
    m = movable(r, 600, 15)
    assert m.must_place and m.arrival == (600, 615)
    assert dataclasses.replace(m, must_place=False, arrival=r.arrival) == r
    assert movable(r, 655, 15).arrival == (655, 660)  # never past the patient's own latest arrival


def test_room_left_is_taken_without_moving_anyone(mk):
    r1 = movable(mk.chain("r-1", ("registration", 15)), 480, 15)
    day = _desk_day(mk, r1)
    current = [mk.visit("r-1", ("s0", "desk", 480, 495))]
    new = mk.chain("r-2", ("registration", 15), arrival=(480, 540))
    booking = book(day, new, current=current, time_limit=0.5)
    assert booking is not None and booking.moved == ()
    assert arrival(booking.visit) == 495
    assert booking.others == tuple(current)
    assert _day_check(day, new, booking) == []


def test_an_earlier_booking_moves_inside_its_window_to_let_a_request_in(mk):
    r1 = movable(mk.chain("r-1", ("registration", 15)), 480, 15)
    day = _desk_day(mk, r1)
    current = [mk.visit("r-1", ("s0", "desk", 480, 495))]
    new = mk.chain("r-2", ("registration", 15), arrival=(480, 480))
    booking = book(day, new, current=current, time_limit=0.5)
    assert booking is not None
    assert booking.moved == ("r-1",)
    assert arrival(booking.visit) == 480
    assert arrival(booking.others[0]) == 495
    assert (booking.wait_minutes, booking.total_wait_minutes) == (0, 0)
    assert _day_check(day, new, booking) == []


def test_a_booking_waits_less_when_others_are_rearranged(mk):
    """r-1 (registration, then the consultant) holds both at 08:00; r-2 arrives by 08:10. Held fixed, r-2
    waits 10 minutes for the consultant; r-1 moved to 08:15 (the end of its window) lets r-2 go first
    without waiting, and r-1 then waits 5 minutes: 5 in all instead of 10."""
    desk = mk.resource("desk", "registration", available=((480, 600),))
    doctor = mk.resource("dr", "consult", available=((480, 600),))
    r1 = movable(mk.chain("r-1", ("registration", 10), ("consult", 20)), 480, 15)
    day = mk.instance([desk, doctor], [r1])
    current = [mk.visit("r-1", ("s0", "desk", 480, 490), ("s1", "dr", 490, 510))]
    new = mk.chain("r-2", ("registration", 10), ("consult", 20), arrival=(480, 490))
    booking = book(day, new, current=current, time_limit=0.5)
    assert booking is not None
    assert booking.moved == ("r-1",)
    assert (booking.wait_minutes, booking.total_wait_minutes) == (0, 5)
    assert arrival(booking.others[0]) == 495
    assert _day_check(day, new, booking) == []


def test_none_when_nothing_can_make_room(mk):
    r1 = movable(mk.chain("r-1", ("registration", 15)), 480, 0)
    day = _desk_day(mk, r1)
    current = [mk.visit("r-1", ("s0", "desk", 480, 495))]
    new = mk.chain("r-2", ("registration", 15), arrival=(480, 485))
    assert book(day, new, current=current, time_limit=0.5) is None


def test_avoid_keeps_the_arrival_away(mk):
    day = _desk_day(mk)
    new = mk.chain("r-2", ("registration", 15), arrival=(480, 590))
    first = book(day, new, current=[], time_limit=0.5)
    second = book(day, new, current=[], time_limit=0.5, avoid=[arrival(first.visit)], separation=30)
    assert abs(arrival(second.visit) - arrival(first.visit)) >= 30


def test_current_must_place_every_booking(mk):
    day = _desk_day(mk, movable(mk.chain("r-1", ("registration", 15)), 480, 15))
    with pytest.raises(ValueError, match="r-1"):
        book(day, mk.chain("r-2", ("registration", 15)), current=[])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(4, 12), seed=st.integers(0, 10_000), share=st.sampled_from((0.0, 0.3)),
       tolerance=st.sampled_from((0, 10, 15)))
def test_bookings_keep_announced_arrivals_and_never_lose_a_visit(n, seed, share, tolerance):
    instance = generate_day(n, seed=seed, booked_share=share)
    announced: dict[str, int] = {}
    placed = {}
    booked = []
    for request in instance.requests:
        day = dataclasses.replace(instance, requests=tuple(booked))
        booking = book(day, request, current=[placed[r.id] for r in booked], time_limit=0.2)
        if booking is None:
            continue
        assert [v.request for v in booking.others] == [r.id for r in booked]  # nobody lost
        assert _day_check(day, request, booking) == []
        for v in booking.others:
            assert announced[v.request] <= arrival(v) <= announced[v.request] + tolerance
        assert booking.wait_minutes == wait_minutes(request, booking.visit)
        placed.update({v.request: v for v in booking.others})
        placed[request.id] = booking.visit
        announced[request.id] = arrival(booking.visit)
        booked.append(movable(request, announced[request.id], tolerance))


def test_a_first_step_goes_flush_rather_than_leave_a_gap_no_one_can_use(mk):
    """Waiting nothing means registering at 07:55 and leaving 07:50-07:55 of the desk to no one; starting at
    07:50 costs 5 minutes of wait (at most ``ALIGN_SLACK``) and keeps the desk's time usable. (``book`` then
    still lets the neighbourhood and the polish cut waiting, which may undo it.)"""
    from scheduling.book import _aligned
    from scheduling.insert import insert_request

    desk = mk.resource("desk", "registration", available=((450, 600),))
    doctor = mk.resource("dr", "consult", available=((485, 600),))
    r1 = movable(mk.chain("r-1", ("registration", 10)), 460, 0)
    day = mk.instance([desk, doctor], [r1])
    current = [mk.visit("r-1", ("s0", "desk", 460, 470))]
    new = mk.chain("r-2", ("registration", 10), ("consult", 20), arrival=(465, 500))
    least = insert_request(day, current, new)
    assert arrival(least) == 475 and wait_minutes(new, least) == 0
    flush = _aligned(day, current, new, least, avoid=(), separation=30)
    assert arrival(flush) == 470 and wait_minutes(new, flush) == 5
