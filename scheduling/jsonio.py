"""The JSON form of instances and schedules (``/work/shared/specs/day-instance.md``).

Parsing validates the whole document and reports every problem at once, each with a JSON path
(``requests[3].steps[1].after[0]``), by raising :class:`~scheduling.errors.InstanceFormatError`.
A step whose kind no resource offers is *not* a format problem: such a request can never be
placed, which is the solver's (and ``explain``'s) business, not the parser's.

Interpretation fixed here (the spec leaves it open): ``arrival`` ``[from, to]`` is closed, the
first step may start at ``from`` or ``to`` or any minute between; ``available`` windows are
half-open ``[from, to)``. ``"24:00"`` is accepted as the end of the day.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scheduling.errors import InstanceFormatError, Problem
from scheduling.instance import (
    DAY_MINUTES,
    FEASIBLE,
    INFEASIBLE,
    OPTIMAL,
    Instance,
    Objective,
    PlacedStep,
    Request,
    Resource,
    Schedule,
    Step,
    Unscheduled,
    Visit,
)

INSTANCE_FORMAT = "daycare-instance/1"
SCHEDULE_FORMAT = "daycare-schedule/1"
STATUSES = (OPTIMAL, FEASIBLE, INFEASIBLE)

_TIME_RE = re.compile(r"^(\d{2}):(\d{2})$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MISSING = object()


def minutes_to_hhmm(minutes: int) -> str:
    """``485`` -> ``"08:05"``; 1440 is written ``"24:00"``."""
    if not 0 <= minutes <= DAY_MINUTES:
        raise ValueError(f"{minutes} minutes is not a time of the day")
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def hhmm_to_minutes(text: str) -> int:
    """``"08:05"`` -> ``485``; raises ``ValueError`` with a readable message otherwise."""
    match = _TIME_RE.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"expected a time written HH:MM, got {text!r}")
    hours, mins = int(match.group(1)), int(match.group(2))
    if mins >= 60 or hours > 24 or (hours == 24 and mins):
        raise ValueError(f"{text!r} is not a time between 00:00 and 24:00")
    return hours * 60 + mins


class _Reader:
    """Collects problems while reading typed fields out of decoded JSON."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def bad(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def obj(self, value: Any, path: str, known: tuple[str, ...]) -> dict | None:
        if not isinstance(value, dict):
            self.bad(path, f"expected an object, got {_describe(value)}")
            return None
        for key in value:
            if key not in known:
                self.bad(_join(path, str(key)), f"unknown field (expected one of {', '.join(known)})")
        return value

    def field(self, data: dict, key: str, path: str, check: Callable, *, default: Any = _MISSING) -> Any:
        """Read ``data[key]`` through ``check(value, path)``; ``None`` (and a problem) when missing or bad."""
        where = _join(path, key)
        if key not in data or (data[key] is None and default is not _MISSING):
            if default is _MISSING:
                self.bad(where, "missing")
                return None
            return default
        return check(data[key], where)

    def text(self, value: Any, path: str) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.bad(path, f"expected a non-empty string, got {_describe(value)}")
            return None
        return value

    def integer(self, value: Any, path: str, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.bad(path, f"expected a whole number, got {_describe(value)}")
            return None
        if minimum is not None and value < minimum:
            self.bad(path, f"must be at least {minimum}, got {value}")
            return None
        if maximum is not None and value > maximum:
            self.bad(path, f"must be at most {maximum} (minutes in a day), got {value}")
            return None
        return value

    def minutes(self, minimum: int) -> Callable[[Any, str], int | None]:
        """A checker for a number of minutes between ``minimum`` and a whole day."""
        return lambda value, path: self.integer(value, path, minimum=minimum, maximum=DAY_MINUTES)

    def time(self, value: Any, path: str) -> int | None:
        try:
            return hhmm_to_minutes(value)
        except ValueError as exc:
            self.bad(path, str(exc))
            return None

    def window(self, value: Any, path: str, *, allow_empty: bool = False) -> tuple[int, int] | None:
        if not isinstance(value, list) or len(value) != 2:
            self.bad(path, f'expected a ["HH:MM", "HH:MM"] pair, got {_describe(value)}')
            return None
        start = self.time(value[0], f"{path}[0]")
        end = self.time(value[1], f"{path}[1]")
        if start is None or end is None:
            return None
        if end < start or (end == start and not allow_empty):
            self.bad(path, f"ends at {value[1]}, not after its start {value[0]}")
            return None
        return (start, end)

    def strings(self, value: Any, path: str) -> tuple[str, ...] | None:
        if not isinstance(value, list):
            self.bad(path, f"expected a list of strings, got {_describe(value)}")
            return None
        out = []
        for i, item in enumerate(value):
            text = self.text(item, f"{path}[{i}]")
            if text is not None:
                out.append(text)
        return tuple(out)

    def items(self, data: dict, key: str, path: str, *, optional: bool = False) -> list[tuple[str, Any]]:
        """``[(path, item), ...]`` of the list ``data[key]``."""
        where = _join(path, key)
        if key not in data or (optional and data[key] is None):
            if not optional:
                self.bad(where, "missing")
            return []
        value = data[key]
        if not isinstance(value, list):
            self.bad(where, f"expected a list, got {_describe(value)}")
            return []
        return [(f"{where}[{i}]", item) for i, item in enumerate(value)]

    def unique(self, ids: list[tuple[str, str | None]], what: str) -> None:
        seen: dict[str, str] = {}
        for path, ident in ids:
            if ident is None:
                continue
            if ident in seen:
                self.bad(path, f"duplicate {what} {ident!r} (first at {seen[ident]})")
            else:
                seen[ident] = path


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---------------------------------------------------------------- instance


def parse_instance(data: object) -> Instance:
    """Build an :class:`Instance` from decoded JSON, or raise ``InstanceFormatError`` listing every problem."""
    reader = _Reader()
    top = reader.obj(data, "", ("format", "name", "date", "resources", "booked", "requests"))
    if top is None:
        raise InstanceFormatError(reader.problems)
    fmt = top.get("format", _MISSING)
    if fmt is _MISSING:
        reader.bad("format", f"missing (expected {INSTANCE_FORMAT!r})")
    elif fmt != INSTANCE_FORMAT:
        reader.bad("format", f"expected {INSTANCE_FORMAT!r}, got {_describe(fmt)}")
    name = reader.field(top, "name", "", reader.text)
    date = reader.field(top, "date", "", _date_checker(reader))

    resource_items = reader.items(top, "resources", "")
    resources = [_resource(reader, path, item) for path, item in resource_items]
    reader.unique([(f"{p}.id", _raw_id(item, "id")) for p, item in resource_items], "resource id")
    by_id = {r.id: r for r in resources if r is not None}
    for _, item in resource_items:
        rid = _raw_id(item, "id")
        if rid is not None and rid not in by_id:
            by_id[rid] = None  # known id, but the resource itself is malformed (reported above)

    booked_items = reader.items(top, "booked", "", optional=True)
    booked = [_booked(reader, path, item, by_id) for path, item in booked_items]
    request_items = reader.items(top, "requests", "")
    requests = [_request(reader, path, item, by_id) for path, item in request_items]
    reader.unique(
        [(f"{p}.request", _raw_id(item, "request")) for p, item in booked_items]
        + [(f"{p}.id", _raw_id(item, "id")) for p, item in request_items],
        "request id",
    )
    if reader.problems:
        raise InstanceFormatError(reader.problems)
    return Instance(
        name=name,
        date=date,
        resources=tuple(resources),
        requests=tuple(requests),
        booked=tuple(booked),
    )


def _date_checker(reader: _Reader) -> Callable[[Any, str], dt.date | None]:
    def check(value: Any, path: str) -> dt.date | None:
        if isinstance(value, str) and _DATE_RE.match(value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        reader.bad(path, f"expected a date written YYYY-MM-DD, got {_describe(value)}")
        return None

    return check


def _resource(reader: _Reader, path: str, item: Any) -> Resource | None:
    data = reader.obj(item, path, ("id", "kind", "capacity", "available", "attributes"))
    if data is None:
        return None
    before = len(reader.problems)
    ident = reader.field(data, "id", path, reader.text)
    kind = reader.field(data, "kind", path, reader.text)
    capacity = reader.field(data, "capacity", path, lambda v, p: reader.integer(v, p, minimum=1), default=1)
    attributes = reader.field(data, "attributes", path, reader.strings, default=())
    if "available" in data and data["available"] is not None:
        windows = []
        for wpath, w in reader.items(data, "available", path):
            window = reader.window(w, wpath)
            if window is not None:
                windows.append((wpath, window))
        if "available" in data and isinstance(data["available"], list) and not data["available"]:
            reader.bad(_join(path, "available"), "empty: a resource needs at least one window")
        ordered = sorted(windows, key=lambda pw: pw[1])
        for (_, a), (bpath, b) in zip(ordered, ordered[1:], strict=False):
            if b[0] < a[1]:
                reader.bad(bpath, f"overlaps the window {minutes_to_hhmm(a[0])}-{minutes_to_hhmm(a[1])}")
        available = tuple(w for _, w in ordered)
    else:
        available = ((0, DAY_MINUTES),)
    if len(reader.problems) > before:
        return None
    return Resource(id=ident, kind=kind, capacity=capacity, available=available, attributes=frozenset(attributes))


def _booked(reader: _Reader, path: str, item: Any, resources: dict[str, Resource | None]) -> Visit | None:
    data = reader.obj(item, path, ("request", "steps"))
    if data is None:
        return None
    before = len(reader.problems)
    request = reader.field(data, "request", path, reader.text)
    step_items = reader.items(data, "steps", path)
    if "steps" in data and isinstance(data["steps"], list) and not data["steps"]:
        reader.bad(_join(path, "steps"), "empty: a booked visit has at least one step")
    steps = [_placed_step(reader, spath, s, resources) for spath, s in step_items]
    reader.unique([(f"{p}.id", _raw_id(s, "id")) for p, s in step_items], "step id")
    if len(reader.problems) > before:
        return None
    return Visit(request=request, steps=tuple(steps))


def _placed_step(reader: _Reader, path: str, item: Any, resources: dict[str, Resource | None] | None) -> PlacedStep | None:
    data = reader.obj(item, path, ("id", "resource", "start", "end"))
    if data is None:
        return None
    before = len(reader.problems)
    ident = reader.field(data, "id", path, reader.text)
    resource = reader.field(data, "resource", path, reader.text)
    if resource is not None and resources is not None and resource not in resources:
        reader.bad(_join(path, "resource"), f"unknown resource {resource!r}")
    start = reader.field(data, "start", path, reader.time)
    end = reader.field(data, "end", path, reader.time)
    if start is not None and end is not None and end <= start:
        reader.bad(_join(path, "end"), f"{data['end']} is not after the start {data['start']}")
    if len(reader.problems) > before:
        return None
    return PlacedStep(id=ident, resource=resource, start=start, end=end)


def _request(reader: _Reader, path: str, item: Any, resources: dict[str, Resource | None]) -> Request | None:
    data = reader.obj(
        item,
        path,
        ("id", "patient", "priority", "arrival", "leave_by", "max_visit_minutes", "requires", "steps"),
    )
    if data is None:
        return None
    before = len(reader.problems)
    ident = reader.field(data, "id", path, reader.text)
    patient = reader.field(data, "patient", path, reader.text)
    priority = reader.field(data, "priority", path, lambda v, p: reader.integer(v, p, minimum=1), default=1)
    arrival = reader.field(data, "arrival", path, lambda v, p: reader.window(v, p, allow_empty=True), default=None)
    leave_by = reader.field(data, "leave_by", path, reader.time, default=None)
    max_visit = reader.field(data, "max_visit_minutes", path, reader.minutes(1), default=None)
    requires = reader.field(data, "requires", path, reader.strings, default=())
    step_items = reader.items(data, "steps", path)
    if "steps" in data and isinstance(data["steps"], list) and not data["steps"]:
        reader.bad(_join(path, "steps"), "empty: a request needs at least one step")
    steps = [_step(reader, spath, s, resources) for spath, s in step_items]
    reader.unique([(f"{p}.id", _raw_id(s, "id")) for p, s in step_items], "step id")
    if arrival is not None and leave_by is not None and leave_by <= arrival[0]:
        reader.bad(_join(path, "leave_by"), f"{data['leave_by']} is not after the arrival window opens")
    _check_after(reader, path, [(_raw_id(s, "id"), _raw_after(s)) for _, s in step_items])
    if len(reader.problems) > before:
        return None
    return Request(
        id=ident,
        patient=patient,
        steps=tuple(steps),
        priority=priority,
        arrival=arrival,
        leave_by=leave_by,
        max_visit_minutes=max_visit,
        requires=frozenset(requires),
    )


def _step(reader: _Reader, path: str, item: Any, resources: dict[str, Resource | None]) -> Step | None:
    data = reader.obj(item, path, ("id", "kind", "duration", "after", "min_gap", "max_gap", "resources"))
    if data is None:
        return None
    before = len(reader.problems)
    ident = reader.field(data, "id", path, reader.text)
    kind = reader.field(data, "kind", path, reader.text)
    duration = reader.field(data, "duration", path, reader.minutes(1))
    after = reader.field(data, "after", path, reader.strings, default=())
    min_gap = reader.field(data, "min_gap", path, reader.minutes(0), default=0)
    max_gap = reader.field(data, "max_gap", path, reader.minutes(0), default=None)
    if min_gap is not None and max_gap is not None and max_gap < min_gap:
        reader.bad(_join(path, "max_gap"), f"{max_gap} is less than min_gap {min_gap}")
    allowed = reader.field(data, "resources", path, reader.strings, default=None)
    if allowed is not None:
        if not allowed and isinstance(data.get("resources"), list):
            reader.bad(_join(path, "resources"), "empty: leave it out to allow every resource of the kind")
        for i, rid in enumerate(allowed):
            rpath = f"{_join(path, 'resources')}[{i}]"
            if rid not in resources:
                reader.bad(rpath, f"unknown resource {rid!r}")
            elif kind is not None and resources[rid] is not None and resources[rid].kind != kind:
                reader.bad(rpath, f"resource {rid!r} is a {resources[rid].kind}, not a {kind}")
        reader.unique([(f"{_join(path, 'resources')}[{i}]", r) for i, r in enumerate(allowed)], "resource")
    if len(reader.problems) > before:
        return None
    return Step(
        id=ident, kind=kind, duration=duration, after=tuple(after), min_gap=min_gap, max_gap=max_gap,
        resources=allowed,
    )


def _raw_id(item: Any, key: str) -> str | None:
    value = item.get(key) if isinstance(item, dict) else None
    return value if isinstance(value, str) and value.strip() else None


def _raw_after(item: Any) -> tuple[str, ...]:
    value = item.get("after") if isinstance(item, dict) else None
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _check_after(reader: _Reader, path: str, steps: list[tuple[str | None, tuple[str, ...]]]) -> None:
    """Every ``after`` names another step of the request, once, and the edges form no cycle.

    Works on the raw step ids and ``after`` lists so that it reports even when other fields are bad.
    """
    if any(sid is None for sid, _ in steps):
        return
    index: dict[str, int] = {}
    for i, (sid, _) in enumerate(steps):
        index.setdefault(sid, i)
    ok = len(index) == len(steps)
    for i, (sid, after) in enumerate(steps):
        seen: set[str] = set()
        for j, pred in enumerate(after):
            where = f"{path}.steps[{i}].after[{j}]"
            if pred == sid:
                reader.bad(where, f"step {sid!r} cannot come after itself")
                ok = False
            elif pred not in index:
                reader.bad(where, f"unknown step {pred!r} (steps are {', '.join(index)})")
                ok = False
            elif pred in seen:
                reader.bad(where, f"{pred!r} listed twice")
                ok = False
            seen.add(pred)
    if not ok:
        return
    state: dict[str, int] = {}
    for start, _ in steps:
        if start in state:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = [start]
        state[start] = 1
        while stack:
            sid, k = stack[-1]
            after = steps[index[sid]][1]
            if k == len(after):
                stack.pop()
                trail.pop()
                state[sid] = 2
                continue
            stack[-1] = (sid, k + 1)
            nxt = after[k]
            if state.get(nxt) == 1:
                cycle = trail[trail.index(nxt):] + [nxt]
                reader.bad(f"{path}.steps[{index[sid]}].after[{k}]",
                           f"cycle in after: {' -> '.join(reversed(cycle))}")
                return
            if nxt not in state:
                state[nxt] = 1
                stack.append((nxt, 0))
                trail.append(nxt)


def load_instance(path: str | Path) -> Instance:
    """Read and parse an instance file; unreadable files and invalid JSON are reported as problems too."""
    return parse_instance(_load_json(path))


def _load_json(path: str | Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InstanceFormatError([Problem(str(path), f"cannot read the file: {exc}")]) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InstanceFormatError(
            [Problem(str(path), f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")]
        ) from exc


def _window_json(window: tuple[int, int]) -> list[str]:
    return [minutes_to_hhmm(window[0]), minutes_to_hhmm(window[1])]


def _visit_json(visit: Visit) -> dict:
    return {
        "request": visit.request,
        "steps": [
            {"id": s.id, "resource": s.resource, "start": minutes_to_hhmm(s.start), "end": minutes_to_hhmm(s.end)}
            for s in visit.steps
        ],
    }


def instance_to_json(instance: Instance) -> dict:
    """The JSON form of an instance; ``parse_instance(instance_to_json(x)) == x``."""
    requests = []
    for r in instance.requests:
        out: dict[str, Any] = {"id": r.id, "patient": r.patient, "priority": r.priority}
        if r.arrival is not None:
            out["arrival"] = _window_json(r.arrival)
        if r.leave_by is not None:
            out["leave_by"] = minutes_to_hhmm(r.leave_by)
        if r.max_visit_minutes is not None:
            out["max_visit_minutes"] = r.max_visit_minutes
        if r.requires:
            out["requires"] = sorted(r.requires)
        steps = []
        for s in r.steps:
            step: dict[str, Any] = {"id": s.id, "kind": s.kind, "duration": s.duration}
            if s.after:
                step["after"] = list(s.after)
            if s.min_gap:
                step["min_gap"] = s.min_gap
            if s.max_gap is not None:
                step["max_gap"] = s.max_gap
            if s.resources is not None:
                step["resources"] = list(s.resources)
            steps.append(step)
        out["steps"] = steps
        requests.append(out)
    return {
        "format": INSTANCE_FORMAT,
        "name": instance.name,
        "date": instance.date.isoformat(),
        "resources": [
            {
                "id": res.id,
                "kind": res.kind,
                "capacity": res.capacity,
                "available": [_window_json(w) for w in res.available],
                "attributes": sorted(res.attributes),
            }
            for res in instance.resources
        ],
        "booked": [_visit_json(v) for v in instance.booked],
        "requests": requests,
    }


# ---------------------------------------------------------------- schedule


def schedule_to_json(schedule: Schedule) -> dict:
    """The JSON form of a schedule; ``stats`` is written only when it is non-empty."""
    out: dict[str, Any] = {
        "format": SCHEDULE_FORMAT,
        "instance": schedule.instance,
        "status": schedule.status,
        "visits": [_visit_json(v) for v in schedule.visits],
        "unscheduled": [{"request": u.request, "reason": u.reason} for u in schedule.unscheduled],
        "objective": {
            "scheduled_priority": schedule.objective.scheduled_priority,
            "total_wait_minutes": schedule.objective.total_wait_minutes,
        },
        "solve_seconds": round(schedule.solve_seconds, 3),
    }
    if schedule.stats:
        out["stats"] = json.loads(json.dumps(schedule.stats, default=str))
    return out


def parse_schedule(data: object) -> Schedule:
    """Build a :class:`Schedule` from decoded JSON, or raise ``InstanceFormatError`` listing every problem.

    Only the form is checked here; whether the schedule fits its instance is ``scheduling.check``'s job.
    """
    reader = _Reader()
    top = reader.obj(
        data, "", ("format", "instance", "status", "visits", "unscheduled", "objective", "solve_seconds", "stats")
    )
    if top is None:
        raise InstanceFormatError(reader.problems)
    fmt = top.get("format", _MISSING)
    if fmt != SCHEDULE_FORMAT:
        got = "missing" if fmt is _MISSING else f"got {_describe(fmt)}"
        reader.bad("format", f"expected {SCHEDULE_FORMAT!r}, {got}")
    name = reader.field(top, "instance", "", reader.text)
    status = reader.field(top, "status", "", reader.text)
    if status is not None and status not in STATUSES:
        reader.bad("status", f"expected one of {', '.join(STATUSES)}, got {status!r}")
    visits = []
    for path, item in reader.items(top, "visits", ""):
        data_v = reader.obj(item, path, ("request", "steps"))
        if data_v is None:
            continue
        request = reader.field(data_v, "request", path, reader.text)
        steps = [_placed_step(reader, sp, s, None) for sp, s in reader.items(data_v, "steps", path)]
        visits.append(Visit(request=request, steps=tuple(steps)))
    unscheduled = []
    for path, item in reader.items(top, "unscheduled", ""):
        data_u = reader.obj(item, path, ("request", "reason"))
        if data_u is None:
            continue
        request = reader.field(data_u, "request", path, reader.text)
        reason = reader.field(data_u, "reason", path, lambda v, p: v if isinstance(v, str) else reader.text(v, p))
        unscheduled.append(Unscheduled(request=request, reason=reason))
    objective = None
    obj = reader.field(top, "objective", "", lambda v, p: reader.obj(v, p, ("scheduled_priority", "total_wait_minutes")))
    if obj is not None:
        prio = reader.field(obj, "scheduled_priority", "objective", lambda v, p: reader.integer(v, p, minimum=0))
        wait = reader.field(obj, "total_wait_minutes", "objective", lambda v, p: reader.integer(v, p, minimum=0))
        objective = Objective(prio, wait)
    seconds = reader.field(top, "solve_seconds", "", _seconds_checker(reader), default=0.0)
    stats = reader.field(
        top, "stats", "", lambda v, p: v if isinstance(v, dict) else reader.bad(p, "expected an object"), default={}
    )
    if reader.problems:
        raise InstanceFormatError(reader.problems)
    return Schedule(
        instance=name,
        status=status,
        visits=tuple(visits),
        unscheduled=tuple(unscheduled),
        objective=objective,
        solve_seconds=float(seconds),
        stats=dict(stats),
    )


def _seconds_checker(reader: _Reader) -> Callable[[Any, str], float | None]:
    def check(value: Any, path: str) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            reader.bad(path, f"expected a number of seconds >= 0, got {_describe(value)}")
            return None
        return float(value)

    return check


def load_schedule(path: str | Path) -> Schedule:
    """Read and parse a schedule file; reading and JSON problems raise ``InstanceFormatError`` as well."""
    return parse_schedule(_load_json(path))
