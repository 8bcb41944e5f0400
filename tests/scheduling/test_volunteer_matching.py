"""The volunteer matcher: each rule on a small hand-made day, and hypothesis on random days."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.volunteers import (
    Fixed,
    Need,
    Problem,
    Reason,
    VolunteerDay,
    conflicts,
    match,
)


def need(visit_id: int, meet: int, leave: int, language: str = "nl", **kw) -> Need:
    return Need(visit_id=visit_id, patient_id=100 + visit_id, meet=meet, leave=leave, language=language, **kw)


def vol(volunteer_id: int, *windows: tuple[int, int], languages: tuple[str, ...] = ("nl",)) -> VolunteerDay:
    return VolunteerDay(volunteer_id=volunteer_id, windows=tuple(windows), languages=languages)


H = 60


def test_availability_must_cover_the_whole_stay():
    result = match(Problem(needs=(need(1, 10 * H, 15 * H),), volunteers=(vol(7, (8 * H, 13 * H)),)))
    assert result.assignments == ()
    assert result.unassigned[0].reason is Reason.NO_COVER
    result = match(Problem(needs=(need(1, 10 * H, 13 * H),), volunteers=(vol(7, (8 * H, 13 * H)),)))
    assert result.volunteer_of(1) == 7


def test_a_window_must_cover_it_alone_not_two_windows_together():
    result = match(Problem(needs=(need(1, 10 * H, 14 * H),), volunteers=(vol(7, (8 * H, 12 * H), (12 * H, 16 * H)),)))
    assert result.unassigned[0].reason is Reason.NO_COVER


def test_nobody_available_is_its_own_reason():
    result = match(Problem(needs=(need(1, 10 * H, 12 * H),), volunteers=()))
    assert result.unassigned[0].reason is Reason.NOBODY_AVAILABLE


def test_meetings_closer_than_the_gap_go_to_different_volunteers_or_wait():
    needs = (need(1, 10 * H, 12 * H), need(2, 10 * H + 10, 12 * H))
    one = match(Problem(needs=needs, volunteers=(vol(7, (8 * H, 17 * H)),), min_gap=20))
    assert len(one.assignments) == 1
    busy = one.unassigned[0]
    assert busy.reason is Reason.ALL_BUSY and busy.candidates == (7,)
    two = match(Problem(needs=needs, volunteers=(vol(7, (8 * H, 17 * H)), vol(8, (8 * H, 17 * H))), min_gap=20))
    assert {a.volunteer_id for a in two.assignments} == {7, 8}
    # exactly the gap apart is allowed
    apart = (need(1, 10 * H, 12 * H), need(2, 10 * H + 20, 12 * H))
    assert len(match(Problem(needs=apart, volunteers=(vol(7, (8 * H, 17 * H)),), min_gap=20)).assignments) == 2


def test_fixed_assignments_block_close_meetings_and_are_left_alone():
    problem = Problem(
        needs=(need(1, 10 * H, 12 * H), need(2, 10 * H + 5, 12 * H)),
        volunteers=(vol(7, (8 * H, 17 * H)), vol(8, (8 * H, 17 * H))),
        fixed=(Fixed(visit_id=1, volunteer_id=7, meet=10 * H),),
        min_gap=20,
    )
    result = match(problem)
    assert [a.visit_id for a in result.assignments] == [2]
    assert result.volunteer_of(2) == 8
    assert result.loads == {7: 1, 8: 1}


def test_the_patients_language_wins_over_continuity_and_load():
    needs = (need(1, 10 * H, 12 * H, language="fr", previous_volunteers=(7,)),)
    volunteers = (vol(7, (8 * H, 17 * H), languages=("nl",)), vol(8, (8 * H, 17 * H), languages=("nl", "fr")))
    result = match(Problem(needs=needs, volunteers=volunteers))
    assert result.volunteer_of(1) == 8
    assert result.assignments[0].language_match and not result.assignments[0].returning


def test_the_same_volunteer_as_last_time_when_possible():
    volunteers = (vol(7, (8 * H, 17 * H)), vol(8, (8 * H, 17 * H)), vol(9, (8 * H, 17 * H)))
    last = match(Problem(needs=(need(1, 10 * H, 12 * H, previous_volunteers=(9, 8)),), volunteers=volunteers))
    assert last.volunteer_of(1) == 9 and last.assignments[0].returning
    earlier = match(Problem(needs=(need(1, 10 * H, 12 * H, previous_volunteers=(4, 8)),), volunteers=volunteers))
    assert earlier.volunteer_of(1) == 8


def test_continuity_wins_over_load_but_not_over_meeting_everyone():
    volunteers = (vol(7, (8 * H, 17 * H)), vol(8, (8 * H, 17 * H)))
    needs = (
        need(1, 9 * H, 10 * H, previous_volunteers=(7,)),
        need(2, 11 * H, 12 * H, previous_volunteers=(7,)),
        need(3, 9 * H + 5, 10 * H, previous_volunteers=(7,)),
    )
    result = match(Problem(needs=needs, volunteers=volunteers, min_gap=20))
    assert len(result.assignments) == 3  # 1 and 3 are too close for one volunteer: 8 takes one of them
    assert result.volunteer_of(2) == 7
    assert {result.volunteer_of(1), result.volunteer_of(3)} == {7, 8}


def test_load_is_balanced():
    volunteers = (vol(7, (8 * H, 17 * H)), vol(8, (8 * H, 17 * H)), vol(9, (8 * H, 17 * H)))
    needs = tuple(need(i, 8 * H + 30 * i, 16 * H) for i in range(1, 7))
    result = match(Problem(needs=needs, volunteers=volunteers))
    assert sorted(result.loads.values()) == [2, 2, 2]


def test_re_running_keeps_the_current_assignment_when_it_is_as_good():
    volunteers = (vol(7, (8 * H, 17 * H)), vol(8, (8 * H, 17 * H)))
    for current in (7, 8):
        result = match(Problem(needs=(need(1, 10 * H, 12 * H, current_volunteer=current),), volunteers=volunteers))
        assert result.volunteer_of(1) == current


def test_an_empty_day_is_fine():
    result = match(Problem(needs=(), volunteers=(vol(7, (8 * H, 17 * H)),)))
    assert result.assignments == () and result.unassigned == () and result.loads == {7: 0}


# --- properties -----------------------------------------------------------------------------------

LANGS = ("nl", "fr", "en")


@st.composite
def problems(draw, max_needs: int = 8, max_volunteers: int = 4) -> Problem:
    n = draw(st.integers(0, max_needs))
    needs = []
    for i in range(n):
        meet = draw(st.integers(8 * 4, 15 * 4)) * 15
        leave = meet + draw(st.integers(1, 24)) * 15
        previous = tuple(draw(st.lists(st.integers(1, max_volunteers + 1), max_size=2, unique=True)))
        needs.append(need(i + 1, meet, leave, language=draw(st.sampled_from(LANGS)), previous_volunteers=previous))
    volunteers = []
    for j in range(draw(st.integers(0, max_volunteers))):
        windows = []
        for _ in range(draw(st.integers(0, 2))):
            start = draw(st.integers(7 * 2, 16 * 2)) * 30
            windows.append((start, start + draw(st.integers(1, 16)) * 30))
        languages = tuple(draw(st.lists(st.sampled_from(LANGS), min_size=1, max_size=3, unique=True)))
        volunteers.append(vol(j + 1, *windows, languages=languages))
    fixed = []
    if needs and volunteers and draw(st.booleans()):
        chosen = draw(st.sampled_from(needs))
        fixed.append(Fixed(visit_id=chosen.visit_id, volunteer_id=draw(st.sampled_from(volunteers)).volunteer_id,
                           meet=chosen.meet))
    return Problem(needs=tuple(needs), volunteers=tuple(volunteers), fixed=tuple(fixed),
                   min_gap=draw(st.sampled_from([0, 15, 30, 60])))


def _check_hard_rules(problem: Problem, result) -> None:
    by_id = {v.volunteer_id: v for v in problem.volunteers}
    needs = {n.visit_id: n for n in problem.needs}
    fixed_ids = {f.visit_id for f in problem.fixed}
    seen = [a.visit_id for a in result.assignments] + [u.visit_id for u in result.unassigned]
    assert sorted(seen) == sorted(set(needs) - fixed_ids), "every free patient is assigned or explained, once"
    for a in result.assignments:
        assert by_id[a.volunteer_id].covers(needs[a.visit_id]), "availability covers the stay"
    for volunteer_id in {a.volunteer_id for a in result.assignments}:
        free = [needs[a.visit_id].meet for a in result.assignments if a.volunteer_id == volunteer_id]
        for m1, m2 in itertools.combinations(free, 2):
            assert not conflicts(m1, m2, problem.min_gap), "two meetings too close"
        fixed_meets = [f.meet for f in problem.fixed if f.volunteer_id == volunteer_id]
        for m1 in free:
            assert all(not conflicts(m1, m2, problem.min_gap) for m2 in fixed_meets), "too close to a fixed one"
    for u in result.unassigned:
        if u.reason is Reason.ALL_BUSY:
            assert u.candidates and all(by_id[c].covers(needs[u.visit_id]) for c in u.candidates)
        elif u.reason is Reason.NO_COVER:
            assert not any(v.covers(needs[u.visit_id]) for v in problem.volunteers)


def _most_assignable(problem: Problem) -> int:
    """Brute force: the most free patients that can be met under the hard rules."""
    fixed_ids = {f.visit_id for f in problem.fixed}
    free = [n for n in problem.needs if n.visit_id not in fixed_ids]
    options = []
    for n in free:
        choices = [None]
        for v in problem.volunteers:
            if v.covers(n) and all(
                not conflicts(n.meet, f.meet, problem.min_gap) for f in problem.fixed if f.volunteer_id == v.volunteer_id
            ):
                choices.append(v.volunteer_id)
        options.append(choices)
    best = 0
    for combo in itertools.product(*options):
        ok = True
        for (a, va), (b, vb) in itertools.combinations(zip(free, combo, strict=True), 2):
            if va is not None and va == vb and conflicts(a.meet, b.meet, problem.min_gap):
                ok = False
                break
        if ok:
            best = max(best, sum(v is not None for v in combo))
    return best


@settings(max_examples=80, deadline=None)
@given(problems())
def test_every_assignment_satisfies_the_hard_rules(problem: Problem):
    _check_hard_rules(problem, match(problem))


@settings(max_examples=40, deadline=None)
@given(problems(max_needs=5, max_volunteers=3))
def test_as_many_patients_as_possible_are_met(problem: Problem):
    result = match(problem)
    assert result.optimal
    assert len(result.assignments) == _most_assignable(problem)
