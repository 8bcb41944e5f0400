"""Small factories for tests: each commits and returns the object; arguments override the defaults."""

import dataclasses
import datetime as dt
import itertools
from typing import Any

from sqlmodel import Session

from clinic.bootstrap import unit_from
from clinic.patients.models import Patient
from clinic.settings import load_settings
from clinic.unit.context import Unit
from clinic.unit.models import (
    Pathway,
    PathwayStep,
    PathwayStepDependency,
    Resource,
    ResourceHours,
    ResourceKind,
    StepType,
)
from clinic.users.models import Role, User
from clinic.users.services import create_user
from clinic.visits.models import StepStatus, Visit, VisitStatus, VisitStep

_counter = itertools.count(1)
TZ = "Europe/Amsterdam"


def _n() -> int:
    return next(_counter)


def make_user(
    session: Session,
    *,
    username: str = "desk",
    password: str = "secret-pass",
    role: Role = Role.FRONT_DESK,
    **kw: Any,
) -> User:
    kw.setdefault("display_name", username.replace("-", " ").title())
    kw.setdefault("check_policy", False)
    return create_user(session=session, username=username, password=password, role=role, **kw)


def make_patient(session: Session, **kw: Any) -> Patient:
    n = _n()
    values: dict[str, Any] = {
        "mrn": f"T{n:06d}",
        "given_name": "Anna",
        "family_name": f"Tester{n}",
        "birth_date": dt.date(1960, 5, 17),
        "phone": f"+3197010{500000 + n:06d}",
        "language": "nl",
        "channel": "sms",
        "address_line": f"Teststraat {n}",
        "postcode": "1234 AB",
        "city": "Utrecht",
        "distance_km": 10.0,
        "consent": True,
    }
    values.update(kw)
    patient = Patient(**values)
    session.add(patient)
    session.commit()
    return patient


def make_resource(
    session: Session,
    *,
    code: str | None = None,
    kind: ResourceKind = ResourceKind.CONSULT,
    capacity: int = 1,
    hours: tuple[tuple[int, dt.time, dt.time], ...] | None = None,
    **kw: Any,
) -> Resource:
    """A resource open Monday-Friday 08:00-17:00 unless ``hours`` (weekday, opens, closes) says otherwise."""
    code = code or f"{kind.value}-{_n()}"
    resource = Resource(code=code, name=kw.pop("name", code), kind=kind, capacity=capacity, **kw)
    if hours is None:
        hours = tuple((wd, dt.time(8), dt.time(17)) for wd in range(5))
    resource.hours = [ResourceHours(weekday=wd, opens=o, closes=c) for wd, o, c in hours]
    session.add(resource)
    session.commit()
    return resource


def make_step_type(session: Session, *, kind: ResourceKind, minutes: int, **kw: Any) -> StepType:
    code = kw.pop("code", f"{kind.value}-{minutes}-{_n()}")
    step_type = StepType(
        code=code,
        name=kw.pop("name", code),
        resource_kind=kind,
        default_minutes=minutes,
        tariff_cents=1000,
        **kw,
    )
    session.add(step_type)
    session.commit()
    return step_type


def make_pathway(
    session: Session,
    *,
    code: str | None = None,
    name: str = "Check-up",
    skills: dict[str, list[str]] | None = None,
    **kw: Any,
) -> Pathway:
    """A tiny 3-step pathway: registration (10) -> consult (20, 0-60 min later) -> checkout (10); ``skills``
    maps a step code (``reg``, ``cons``, ``out``) to the skills it needs."""
    code = code or f"check-{_n()}"
    pathway = Pathway(code=code, name=name, **kw)
    specs = [
        ("reg", ResourceKind.REGISTRATION, 10),
        ("cons", ResourceKind.CONSULT, 20),
        ("out", ResourceKind.CHECKOUT, 10),
    ]
    steps = []
    for sequence, (step_code, kind, minutes) in enumerate(specs, start=1):
        step_type = make_step_type(session, kind=kind, minutes=minutes, name=step_code.title())
        steps.append(
            PathwayStep(
                code=step_code, sequence=sequence, step_type=step_type, skills=list((skills or {}).get(step_code, ()))
            )
        )
    pathway.steps = steps
    session.add(pathway)
    session.flush()
    steps[1].dependencies = [PathwayStepDependency(depends_on=steps[0], min_gap=0, max_gap=60)]
    steps[2].dependencies = [PathwayStepDependency(depends_on=steps[1], min_gap=0)]
    session.commit()
    return pathway


def make_pathway_of(
    session: Session,
    *,
    code: str,
    steps: list[tuple[str, ResourceKind, int]],
    after: dict[str, list[tuple[str, int]]],
) -> Pathway:
    """A pathway of ``steps`` (code, resource kind, minutes) with one resource of each kind, and ``after``
    edges: step code -> [(the step before it, min_gap)]."""
    for kind in dict.fromkeys(kind for _code, kind, _minutes in steps):
        make_resource(session, code=kind.value, kind=kind)
    made = {
        step_code: PathwayStep(
            code=step_code, sequence=n, step_type=make_step_type(session, kind=kind, minutes=minutes, name=step_code)
        )
        for n, (step_code, kind, minutes) in enumerate(steps, start=1)
    }
    pathway = Pathway(code=code, name=code.title(), steps=list(made.values()))
    session.add(pathway)
    session.flush()
    for step_code, edges in after.items():
        made[step_code].dependencies = [
            PathwayStepDependency(depends_on=made[before], min_gap=gap) for before, gap in edges
        ]
    session.commit()
    return pathway


def make_visit(
    session: Session,
    *,
    patient: Patient | None = None,
    pathway: Pathway | None = None,
    day: dt.date | None = None,
    start: dt.datetime | None = None,
    status: VisitStatus = VisitStatus.BOOKED,
    resources: dict[ResourceKind, Resource] | None = None,
) -> Visit:
    """A visit on ``day``; with ``start`` (aware) its steps are planned back to back on matching resources
    (made on the fly when ``resources`` lacks a kind)."""
    patient = patient or make_patient(session)
    pathway = pathway or make_pathway(session)
    day = day or dt.date.today()
    visit = Visit(patient_id=patient.id, pathway_id=pathway.id, date=day, status=status)
    if start is not None:
        resources = dict(resources or {})
        cursor = start
        for step in pathway.steps:
            kind = step.step_type.resource_kind
            if kind not in resources:
                resources[kind] = make_resource(session, kind=kind)
            end = cursor + dt.timedelta(minutes=step.duration)
            visit.steps.append(
                VisitStep(
                    pathway_step_id=step.id,
                    resource_id=resources[kind].id,
                    planned_start=cursor,
                    planned_end=end,
                    status=StepStatus.PLANNED,
                )
            )
            cursor = end
    session.add(visit)
    session.commit()
    return visit


def make_unit(**overrides: Any) -> Unit:
    """The unit as ``clinic.bootstrap`` builds it from the default settings, with ``overrides`` on top.

    Overrides are applied to the built ``Unit`` (not to the settings), so a test can also hand a service
    values the settings would refuse.
    """
    unit = unit_from(load_settings({"TESTING": True}))
    return dataclasses.replace(unit, **overrides)
