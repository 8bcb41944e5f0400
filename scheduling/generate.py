"""Realistic clinic days for tests and benchmarks, shaped like ``/work/shared/specs/examples``.

The examples hold five pathways in roughly these shares: oncology infusion (about 40 %),
rheumatology infusion, cardiology check, pre-op screening and diabetes day (about 15 % each).
Arrival windows are three hours wide and open between 07:30 and 10:30; about 45 % of patients must
leave by 17:30 and about 35 % stay at most 7 hours; about 9 % need a wheelchair; about one consult in
four is tied to one consultant (27 % over the three examples); priorities are mostly 1. Up to 120
requests the resources grow as in the examples and equal theirs at 20, 60 and 120 requests (more
consultants, chairs, beds and lab places; registration desks and checkouts stay at two, so that on
day-120 only about 57 % of the requests fit); beyond 120, the largest example, every resource of
day-120 is scaled by size / 120.
Calibration against the examples (sizes 20, 60 with 30 % booked, 120): ``docs/performance.md``.
"""

from __future__ import annotations

import datetime as dt
import random

from scheduling.greedy import greedy
from scheduling.instance import Instance, Request, Resource, Step, Visit

DEFAULT_DATE = dt.date(2026, 12, 1)

_CONSULTANTS = (
    "dr-jansen", "dr-devries", "dr-bakker", "dr-visser", "dr-smit", "dr-meijer", "dr-mulder",
    "dr-dejong", "dr-dekker", "dr-brouwer", "dr-peters", "dr-vandijk",
)
_ARRIVALS = ((450, 630), (480, 660), (510, 690), (540, 720), (600, 780), (630, 780))
_ARRIVAL_WEIGHTS = (16, 8, 14, 7, 38, 17)
_PATHWAYS = ("oncology", "rheumatology", "cardiology", "pre-op", "diabetes")
_PATHWAY_WEIGHTS = (42, 17, 15, 13, 13)


def _minutes(hh: int, mm: int = 0) -> int:
    return hh * 60 + mm


def _resources(n_requests: int, rng: random.Random) -> tuple[Resource, ...]:
    """The clinic for a day of ``n_requests``. Up to 120 requests the resources grow as in the example
    days and equal theirs at 20, 60 and 120 requests (two desks and two checkouts throughout, so that
    registration is the bottleneck and on day-120 only 57 % fit first-come-first-served); beyond the
    largest example every resource is day-120's scaled by ``n_requests / 120``, which keeps its shape
    (share that fits, load on the rooms after registration) instead of inventing a new one."""
    n = min(n_requests, 120)
    extra = max(0, n - 60)
    scale = max(1.0, n_requests / 120)

    def count(base: int) -> int:
        return int(base * scale + 0.5)

    desks = checkouts = count(2)
    consultants = min(len(_CONSULTANTS), count(6 + extra // 60))
    wheel = frozenset({"wheelchair"})
    day = ((450, 1110),)
    shifts = (((480, 1020),), ((480, 750), (780, 1050)), ((600, 1080),))
    out = [Resource(f"desk-{i + 1}", "registration", 1, day, wheel) for i in range(desks)]
    for i in range(consultants):
        out.append(Resource(_CONSULTANTS[i], "consult", 1, rng.choice(shifts), wheel if i % 2 == 0 else frozenset()))
    out.append(Resource("lab", "lab", count(3 + n // 120), ((450, 960),), wheel))
    out += [
        Resource(f"imaging-{i + 1}", "imaging", 1, ((480, 1020),), wheel if i % 2 == 0 else frozenset())
        for i in range(count(2))
    ]
    out += [
        Resource("ecg", "ecg", count(2 + n // 150), ((480, 1020),), wheel),
        Resource("chairs", "chair", count(16 + extra // 20), ((480, 1110),)),
        Resource("beds", "chair", count(4 + extra // 60), ((480, 1110),), wheel),
        Resource("dietitian", "dietitian", count(1 + n // 150), ((540, 960),), wheel),
        Resource("intake", "nurse-intake", count(2), ((480, 1020),), wheel),
    ]
    out += [Resource(f"checkout-{i + 1}", "checkout", 1, ((480, 1140),), wheel) for i in range(checkouts)]
    return tuple(out)


def _steps(pathway: str, rng: random.Random, consultant: str | None) -> tuple[Step, ...]:
    only = (consultant,) if consultant else None
    reg = Step("reg", "registration", 10)
    if pathway == "oncology":
        return (
            reg,
            Step("lab", "lab", 15, ("reg",)),
            Step("cons", "consult", 20, ("lab",), min_gap=45, resources=only),
            Step("treat", "chair", rng.choice((60, 90, 120, 120, 150, 180, 240)), ("cons",), min_gap=30, max_gap=120),
            Step("out", "checkout", 10, ("treat",), max_gap=60),
        )
    if pathway == "rheumatology":
        return (
            reg,
            Step("cons", "consult", 15, ("reg",), resources=only),
            Step("treat", "chair", rng.choice((60, 90, 120)), ("cons",), min_gap=20, max_gap=90),
            Step("out", "checkout", 10, ("treat",)),
        )
    if pathway == "cardiology":
        return (
            reg,
            Step("ecg", "ecg", 15, ("reg",)),
            Step("echo", "imaging", 30, ("reg",)),
            Step("cons", "consult", 20, ("ecg", "echo"), resources=only),
            Step("out", "checkout", 10, ("cons",)),
        )
    if pathway == "pre-op":
        return (
            reg,
            Step("lab", "lab", 15, ("reg",)),
            Step("ecg", "ecg", 15, ("reg",)),
            Step("anes", "consult", 30, ("lab", "ecg"), resources=only),
            Step("intake", "nurse-intake", 20, ("anes",)),
            Step("out", "checkout", 10, ("intake",)),
        )
    return (
        reg,
        Step("lab", "lab", 15, ("reg",)),
        Step("nurse", "consult", 30, ("lab",), min_gap=30, resources=only),
        Step("diet", "dietitian", 30, ("nurse",)),
        Step("out", "checkout", 10, ("diet",)),
    )


def _request(i: int, rng: random.Random, resources: tuple[Resource, ...]) -> Request:
    pathway = rng.choices(_PATHWAYS, _PATHWAY_WEIGHTS)[0]
    requires = frozenset({"wheelchair"}) if rng.random() < 0.09 else frozenset()
    consultant = None
    if rng.random() < 0.27:
        doctors = [r.id for r in resources if r.kind == "consult" and requires <= r.attributes]
        consultant = rng.choice(doctors)
    return Request(
        id=f"r-{i}",
        patient=f"p-{i}",
        steps=_steps(pathway, rng, consultant),
        priority=rng.choices((1, 2, 3), (58, 22, 20))[0],
        arrival=rng.choices(_ARRIVALS, _ARRIVAL_WEIGHTS)[0],
        leave_by=_minutes(17, 30) if rng.random() < 0.45 else None,
        max_visit_minutes=420 if rng.random() < 0.35 else None,
        requires=requires,
    )


def generate_day(
    n_requests: int, *, seed: int, booked_share: float = 0.0, date: dt.date = DEFAULT_DATE
) -> Instance:
    """A clinic day of ``n_requests`` visits (booked ones included), the same for the same arguments.

    With ``booked_share > 0`` that share of the requests (picked at random) is placed first-come-first-
    served and turned into booked visits; those that do not fit stay ordinary requests.
    """
    if n_requests < 0:
        raise ValueError("n_requests must be >= 0")
    if not 0.0 <= booked_share <= 1.0:
        raise ValueError("booked_share must be between 0 and 1")
    rng = random.Random(seed)
    resources = _resources(n_requests, rng)
    requests = tuple(_request(i + 1, rng, resources) for i in range(n_requests))
    name = f"gen-{seed}-{n_requests}" + (f"-b{round(booked_share * 100)}" if booked_share else "")
    instance = Instance(name=name, date=date, resources=resources, requests=requests)
    if booked_share <= 0 or not requests:
        return instance

    chosen = set(rng.sample([r.id for r in requests], round(booked_share * n_requests)))
    placed = greedy(Instance(name, date, resources, tuple(r for r in requests if r.id in chosen)))
    booked = tuple(Visit(v.request, v.steps) for v in placed.visits)
    booked_ids = {v.request for v in booked}
    return Instance(
        name=name,
        date=date,
        resources=resources,
        requests=tuple(r for r in requests if r.id not in booked_ids),
        booked=booked,
    )
