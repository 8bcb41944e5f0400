"""Matching a day's patients to volunteers who meet them at the entrance and stay within reach.

Pure: plain frozen dataclasses in and out, times as minutes after the clinic's local midnight; no
Flask, no database. ``match(problem)`` returns who meets whom and, for every patient nobody can meet,
a reason a coordinator can act on.

Hard rules (never broken by an automatic assignment):

* one of the volunteer's availability windows covers the patient's whole stay, from the meeting
  time to the expected leave time;
* a volunteer never meets two patients whose meeting times are less than ``min_gap`` minutes apart
  (fixed assignments count too).

Soft rules, strictly in this order of importance (lexicographic weights, so a lower rule never
outweighs a higher one): as many patients met as possible; the patient's language spoken; the
volunteer the patient had last time (or one they had before); the busiest volunteer as little busy
as possible; the spread between busiest and least busy small; the current assignment kept (so
re-running after an unrelated change does not reshuffle everyone's list).

Why CP-SAT: the problem is an assignment with pairwise conflicts (a conflict graph per volunteer)
and a min-max load term, which no simple matching algorithm handles exactly; a day has a few dozen
patients and a handful of volunteers, so the exact model is solved to optimality in milliseconds.
A time limit always leaves a feasible answer (meeting nobody is feasible), never an invalid one.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

DEFAULT_MIN_GAP = 20
"""Minutes between two patients' meeting times for one volunteer, unless the input says otherwise."""


@dataclass(frozen=True)
class Need:
    """A patient who needs a volunteer on the day: ``meet`` and ``leave`` in minutes after midnight."""

    visit_id: int
    patient_id: int
    meet: int
    leave: int
    language: str
    previous_volunteers: tuple[int, ...] = ()
    """Volunteers who met this patient before, most recent first (continuity)."""
    current_volunteer: int | None = None
    """Who is assigned now (kept when nothing better is found, so re-runs are stable)."""


@dataclass(frozen=True)
class VolunteerDay:
    """A volunteer's availability windows on the day (minutes after midnight) and languages (first is their own)."""

    volunteer_id: int
    windows: tuple[tuple[int, int], ...]
    languages: tuple[str, ...] = ()

    def covers(self, need: Need) -> bool:
        return any(start <= need.meet and need.leave <= end for start, end in self.windows)


@dataclass(frozen=True)
class Fixed:
    """An assignment the matcher must leave as it is (a coordinator's override, a meeting already done)."""

    visit_id: int
    volunteer_id: int
    meet: int


@dataclass(frozen=True)
class Problem:
    needs: tuple[Need, ...]
    volunteers: tuple[VolunteerDay, ...]
    fixed: tuple[Fixed, ...] = ()
    min_gap: int = DEFAULT_MIN_GAP
    time_limit: float = 5.0


class Reason(enum.StrEnum):
    """Why a patient stays without a volunteer, each pointing at what a coordinator can do."""

    NOBODY_AVAILABLE = "nobody_available"
    """No volunteer is available at all that day: find one for the day."""
    NO_COVER = "no_cover"
    """Volunteers are available, but none for the whole stay: extend someone's hours or split the stay."""
    ALL_BUSY = "all_busy"
    """Volunteers cover the stay but each meets another patient too close in time: override, or add someone."""


@dataclass(frozen=True)
class Assignment:
    visit_id: int
    volunteer_id: int
    language_match: bool
    returning: bool


@dataclass(frozen=True)
class Unassigned:
    visit_id: int
    reason: Reason
    candidates: tuple[int, ...] = ()
    """For ``all_busy``: the volunteers who cover the stay (a coordinator may override with one of them)."""


@dataclass(frozen=True)
class Result:
    assignments: tuple[Assignment, ...]
    unassigned: tuple[Unassigned, ...]
    loads: dict[int, int] = field(default_factory=dict)
    """Patients per volunteer, fixed ones included."""
    optimal: bool = True

    def volunteer_of(self, visit_id: int) -> int | None:
        return next((a.volunteer_id for a in self.assignments if a.visit_id == visit_id), None)


def conflicts(meet_a: int, meet_b: int, min_gap: int) -> bool:
    """Two meetings too close for one volunteer."""
    return abs(meet_a - meet_b) < min_gap


def _levels(maxima: Sequence[int]) -> list[int]:
    """Weights for lexicographic levels, lowest level first: each weight exceeds the largest total of all
    lower levels, so one unit of a higher level always wins."""
    weights: list[int] = []
    bound = 0
    for maximum in maxima:
        weight = bound + 1
        weights.append(weight)
        bound += weight * maximum
    return weights


def match(problem: Problem) -> Result:
    """The best assignment under the hard rules (see the module docstring for the order of the soft ones)."""
    fixed_visits = {f.visit_id for f in problem.fixed}
    needs = [n for n in problem.needs if n.visit_id not in fixed_visits]
    volunteers = list(problem.volunteers)
    fixed_by_volunteer: dict[int, list[Fixed]] = {}
    for f in problem.fixed:
        fixed_by_volunteer.setdefault(f.volunteer_id, []).append(f)

    eligible: dict[tuple[int, int], bool] = {}
    for i, need in enumerate(needs):
        for j, vol in enumerate(volunteers):
            if not vol.covers(need):
                continue
            if any(conflicts(need.meet, f.meet, problem.min_gap) for f in fixed_by_volunteer.get(vol.volunteer_id, ())):
                continue
            eligible[(i, j)] = True

    chosen: dict[int, int] = {}
    optimal = True
    if eligible:
        chosen, optimal = _solve(problem, needs, volunteers, list(eligible), fixed_by_volunteer)

    assignments = []
    unassigned = []
    for i, need in enumerate(needs):
        if i in chosen:
            vol = volunteers[chosen[i]]
            assignments.append(
                Assignment(
                    visit_id=need.visit_id,
                    volunteer_id=vol.volunteer_id,
                    language_match=need.language in vol.languages,
                    returning=vol.volunteer_id in need.previous_volunteers,
                )
            )
        else:
            unassigned.append(_why(need, volunteers))
    loads = {v.volunteer_id: 0 for v in volunteers}
    for f in problem.fixed:
        loads[f.volunteer_id] = loads.get(f.volunteer_id, 0) + 1
    for a in assignments:
        loads[a.volunteer_id] += 1
    return Result(tuple(assignments), tuple(unassigned), loads, optimal)


def _why(need: Need, volunteers: Iterable[VolunteerDay]) -> Unassigned:
    volunteers = [v for v in volunteers if v.windows]
    if not volunteers:
        return Unassigned(need.visit_id, Reason.NOBODY_AVAILABLE)
    covering = tuple(v.volunteer_id for v in volunteers if v.covers(need))
    if not covering:
        return Unassigned(need.visit_id, Reason.NO_COVER)
    return Unassigned(need.visit_id, Reason.ALL_BUSY, covering)


def _solve(
    problem: Problem,
    needs: list[Need],
    volunteers: list[VolunteerDay],
    pairs: list[tuple[int, int]],
    fixed_by_volunteer: dict[int, list[Fixed]],
) -> tuple[dict[int, int], bool]:
    model = cp_model.CpModel()
    x = {pair: model.new_bool_var(f"x_{pair[0]}_{pair[1]}") for pair in pairs}
    by_need: dict[int, list[tuple[int, int]]] = {}
    by_volunteer: dict[int, list[tuple[int, int]]] = {}
    for i, j in pairs:
        by_need.setdefault(i, []).append((i, j))
        by_volunteer.setdefault(j, []).append((i, j))
    for own in by_need.values():
        model.add_at_most_one(x[p] for p in own)
    for own in by_volunteer.values():
        for a in range(len(own)):
            for b in range(a + 1, len(own)):
                if conflicts(needs[own[a][0]].meet, needs[own[b][0]].meet, problem.min_gap):
                    model.add_bool_or([x[own[a]].Not(), x[own[b]].Not()])

    n = len(needs)
    fixed_load = {j: len(fixed_by_volunteer.get(v.volunteer_id, ())) for j, v in enumerate(volunteers)}
    top = n + max(fixed_load.values(), default=0)
    loads = {}
    for j in by_volunteer:
        load = model.new_int_var(0, top, f"load_{j}")
        model.add(load == fixed_load[j] + sum(x[p] for p in by_volunteer[j]))
        loads[j] = load
    max_load = model.new_int_var(0, top, "max_load")
    min_load = model.new_int_var(0, top, "min_load")
    model.add_max_equality(max_load, list(loads.values()))
    model.add_min_equality(min_load, list(loads.values()))

    assigned = sum(x.values())
    language = sum(x[(i, j)] for i, j in pairs if needs[i].language in volunteers[j].languages)
    continuity_terms = []
    for i, j in pairs:
        previous = needs[i].previous_volunteers
        vid = volunteers[j].volunteer_id
        if previous and previous[0] == vid:
            continuity_terms.append(2 * x[(i, j)])
        elif vid in previous:
            continuity_terms.append(x[(i, j)])
    continuity = sum(continuity_terms)
    keep = sum(x[(i, j)] for i, j in pairs if needs[i].current_volunteer == volunteers[j].volunteer_id)

    w_keep, w_spread, w_load, w_cont, w_lang, w_assign = _levels([n, top, top, 2 * n, n, n])
    model.maximize(
        w_assign * assigned
        + w_lang * language
        + w_cont * continuity
        - w_load * max_load
        - w_spread * (max_load - min_load)
        + w_keep * keep
    )
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = problem.time_limit
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return {}, False
    chosen = {i: j for (i, j), var in x.items() if solver.boolean_value(var)}
    return chosen, status == cp_model.OPTIMAL
