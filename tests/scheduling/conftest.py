"""Small factories for engine instances, shared by the scheduling tests.

Use the ``mk`` fixture: ``mk.resource("desk", "registration")``, ``mk.step("reg", "registration", 10)``,
``mk.request("r-1", [steps...], arrival=(480, 600))``, ``mk.instance([resources], [requests])``.
Times are minutes after midnight. ``EXAMPLES`` is the folder of the spec's example days.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from scheduling.instance import DAY_MINUTES, Instance, PlacedStep, Request, Resource, Step, Visit


def _examples() -> Path:
    """The spec's example days: ``ONEVISIT_SPECS_DIR``, else ``../shared/specs`` beside the project."""
    root = Path(__file__).resolve().parents[2]
    candidates = [Path(d) for d in (os.environ.get("ONEVISIT_SPECS_DIR"),) if d]
    candidates += [root.parent / "shared" / "specs", Path("/work/shared/specs")]
    for specs in candidates:
        if (specs / "examples").is_dir():
            return specs / "examples"
    raise RuntimeError(f"the spec's example instances are missing: looked in {', '.join(map(str, candidates))}")


EXAMPLES = _examples()
EXAMPLE_FILES = sorted(EXAMPLES.glob("day-*.json"))


def resource(
    id: str, kind: str, capacity: int = 1, available=((0, DAY_MINUTES),), attributes=()
) -> Resource:
    return Resource(id, kind, capacity, tuple(tuple(w) for w in available), frozenset(attributes))


def step(id: str, kind: str, duration: int, after=(), min_gap: int = 0, max_gap: int | None = None,
         resources=None) -> Step:
    return Step(id, kind, duration, tuple(after), min_gap, max_gap, tuple(resources) if resources else None)


def request(id: str, steps, *, patient: str | None = None, priority: int = 1, arrival=None, leave_by=None,
            max_visit_minutes=None, requires=()) -> Request:
    return Request(id, patient or f"p-{id}", tuple(steps), priority, tuple(arrival) if arrival else None,
                   leave_by, max_visit_minutes, frozenset(requires))


def chain(id: str, *kinds_durations: tuple[str, int], **kwargs) -> Request:
    """A request whose steps follow one another: ``chain("r", ("registration", 10), ("lab", 15))``."""
    steps = []
    for i, (kind, duration) in enumerate(kinds_durations):
        steps.append(step(f"s{i}", kind, duration, after=(f"s{i - 1}",) if i else ()))
    return request(id, steps, **kwargs)


def instance(resources, requests, booked=(), name: str = "test-day") -> Instance:
    return Instance(name, dt.date(2026, 12, 1), tuple(resources), tuple(requests), tuple(booked))


def visit(request_id: str, *steps: tuple[str, str, int, int]) -> Visit:
    """``visit("r-1", ("reg", "desk", 480, 490), ...)``: a placed or booked visit."""
    return Visit(request_id, tuple(PlacedStep(*s) for s in steps))


@pytest.fixture
def mk() -> SimpleNamespace:
    return SimpleNamespace(
        resource=resource, step=step, request=request, chain=chain, instance=instance, visit=visit
    )


@pytest.fixture(params=EXAMPLE_FILES, ids=lambda p: p.stem)
def example_path(request) -> Path:
    return request.param
