"""The engine's JSON contract as typed models (``/work/shared/specs/day-instance.md``).

``read_instance`` and ``read_schedule`` check decoded JSON against ``InstanceDoc`` / ``ScheduleDoc`` and
raise :class:`~scheduling.errors.InstanceFormatError` listing every problem at once, each with its JSON
path (``requests[3].steps[1].after[0]``). The models check each value and each object's own fields;
what spans items of a list or several objects (unique ids, ``after`` naming steps of the same request
without a cycle, resources named that exist and are of the step's kind, windows that do not overlap)
is checked on the decoded JSON by ``_references``, so it is reported even when other fields are bad.
The models are also the source of the published JSON Schemas (``json_schema``).

Interpretation fixed here (the spec leaves it open): ``arrival`` ``[from, to]`` is closed, the first
step may start at ``from`` or ``to`` or any minute between; ``available`` windows are half-open
``[from, to)``. ``"24:00"`` is accepted as the end of the day. An optional field given as ``null``
takes its default.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from scheduling.errors import InstanceFormatError, Problem
from scheduling.instance import DAY_MINUTES

INSTANCE_FORMAT = "daycare-instance/1"
SCHEDULE_FORMAT = "daycare-schedule/1"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_TIME_RE = re.compile(r"^(\d{2}):(\d{2})$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIME_PATTERN = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"


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


def describe(value: Any) -> str:
    """A short rendering of a JSON value for a message: ``null``, ``a list of 3``, ``'8:5'``."""
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


def _fail(message: str) -> PydanticCustomError:
    """A validation error whose message is ``message`` as written (never re-formatted)."""
    return PydanticCustomError("contract", "{message}", {"message": message})


# ---------------------------------------------------------------- value types


def _time(value: Any) -> Any:
    try:
        hhmm_to_minutes(value)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    return value


def _date(value: Any) -> Any:
    if isinstance(value, str) and _DATE_RE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _fail(f"expected a date written YYYY-MM-DD, got {describe(value)}")


def _pair(value: Any) -> Any:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise _fail(f'expected a ["HH:MM", "HH:MM"] pair, got {describe(value)}')
    return value


def _ordered(*, allow_empty: bool) -> Callable[[tuple[str, str]], tuple[str, str]]:
    def check(window: tuple[str, str]) -> tuple[str, str]:
        start, end = hhmm_to_minutes(window[0]), hhmm_to_minutes(window[1])
        if end < start or (end == start and not allow_empty):
            raise _fail(f"ends at {window[1]}, not after its start {window[0]}")
        return window

    return check


def _string_list(value: Any) -> Any:
    if not isinstance(value, list):
        raise _fail(f"expected a list of strings, got {describe(value)}")
    return value


def _seconds(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _fail(f"expected a number of seconds >= 0, got {describe(value)}")
    return value


Text = Annotated[StrictStr, Field(min_length=1, pattern=r"\S")]
Time = Annotated[
    str,
    BeforeValidator(_time),
    WithJsonSchema({"type": "string", "pattern": TIME_PATTERN, "description": 'a time of the day, "HH:MM" (24 h)'}),
]
Window = Annotated[tuple[Time, Time], BeforeValidator(_pair), AfterValidator(_ordered(allow_empty=False))]
ClosedWindow = Annotated[tuple[Time, Time], BeforeValidator(_pair), AfterValidator(_ordered(allow_empty=True))]
Date = Annotated[dt.date, BeforeValidator(_date)]
Strings = Annotated[list[Text], BeforeValidator(_string_list)]
Minutes = Annotated[StrictInt, Field(ge=1, le=DAY_MINUTES)]
Gap = Annotated[StrictInt, Field(ge=0, le=DAY_MINUTES)]
Positive = Annotated[StrictInt, Field(ge=1)]
Count = Annotated[StrictInt, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0), BeforeValidator(_seconds)]


def _not_empty(message: str) -> AfterValidator:
    def check(items: list | None) -> list | None:
        if items is not None and not items:
            raise _fail(f"empty: {message}")
        return items

    return AfterValidator(check)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- instance


class ResourceDoc(_Doc):
    """A resource of the unit: a desk, a consultant, a lab, a pool of chairs."""

    model_config = ConfigDict(title="Resource")

    id: Text = Field(description="Unique among the resources.")
    kind: Text = Field(description="Groups interchangeable resources; a step is served by a resource of its kind.")
    capacity: Positive | None = Field(
        1, description="How many steps the resource serves at once (a pool of 12 chairs may be one resource "
        "of capacity 12).")
    available: Annotated[list[Window] | None, _not_empty("a resource needs at least one window")] = Field(
        None, json_schema_extra={"minItems": 1}, description='Non-overlapping [from, to) windows ["HH:MM", "HH:MM"] in which the resource serves '
        "(default: the whole day).")
    attributes: Strings | None = Field(None, description="Free labels (such as wheelchair) a request may require.")


class PlacedStepDoc(_Doc):
    """A step on a resource at a time: in a booked visit, or placed by a schedule."""

    model_config = ConfigDict(title="Placed step")

    id: Text = Field(description="The step's id within its request.")
    resource: Text = Field(description="Id of the resource the step uses.")
    start: Time = Field(description="When the step starts.")
    end: Time = Field(description="When the step ends (after its start).")

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: str, info: ValidationInfo) -> str:
        start = info.data.get("start")
        if start is not None and hhmm_to_minutes(end) <= hhmm_to_minutes(start):
            raise _fail(f"{end} is not after the start {start}")
        return end


class BookedDoc(_Doc):
    """A visit already fixed on this day: it is not moved, its steps use capacity."""

    model_config = ConfigDict(title="Booked visit")

    request: Text = Field(description="Request id of the visit, unique among booked visits and requests.")
    steps: Annotated[list[PlacedStepDoc], _not_empty("a booked visit has at least one step")] = Field(
        json_schema_extra={"minItems": 1}, description="Its steps, each on a resource at a time.")


class StepDoc(_Doc):
    """One step of a request's pathway (registration, lab, consult, treatment chair, ...)."""

    model_config = ConfigDict(title="Step")

    id: Text = Field(description="Unique among the steps of its request.")
    kind: Text = Field(description="The kind of resource the step needs.")
    duration: Minutes = Field(description="Minutes the step takes.")
    after: Strings | None = Field(
        None, description="Steps of the same request that must end before this one starts (a DAG).")
    min_gap: Gap | None = Field(
        0, description="Least minutes between the end of the latest predecessor and this step's start.")
    max_gap: Gap | None = Field(
        None, description="Most minutes between the end of the latest predecessor and this step's start "
        "(default: none).")
    resources: Annotated[Strings | None, _not_empty("leave it out to allow every resource of the kind")] = Field(
        None, json_schema_extra={"minItems": 1}, description="Restricts the step to these resource ids (which must be of its kind).")

    @field_validator("max_gap")
    @classmethod
    def _not_below_min_gap(cls, max_gap: int | None, info: ValidationInfo) -> int | None:
        min_gap = info.data.get("min_gap") or 0
        if max_gap is not None and max_gap < min_gap:
            raise _fail(f"{max_gap} is less than min_gap {min_gap}")
        return max_gap


class RequestDoc(_Doc):
    """A visit to place: a patient's steps of one day, with the times the patient can come and stay."""

    model_config = ConfigDict(title="Request")

    id: Text = Field(description="Unique among requests and booked visits.")
    patient: Text = Field(description="Who the visit is for.")
    priority: Positive | None = Field(1, description="A positive integer weight.")
    arrival: ClosedWindow | None = Field(
        None, description='The window ["HH:MM", "HH:MM"] in which the first step may start (both ends included).')
    leave_by: Time | None = Field(None, description="Bounds the end of the last step.")
    max_visit_minutes: Minutes | None = Field(None, description="Bounds the span from first start to last end.")
    requires: Strings | None = Field(
        None, description="Attributes that every resource used by this request must carry.")
    must_place: StrictBool | None = Field(
        False, description="A booked visit that has not started and may still move: a schedule that leaves it "
        "unscheduled is infeasible.")
    steps: Annotated[list[StepDoc], _not_empty("a request needs at least one step")] = Field(
        json_schema_extra={"minItems": 1}, description="The steps of the visit.")

    @field_validator("leave_by")
    @classmethod
    def _after_arrival_opens(cls, leave_by: str | None, info: ValidationInfo) -> str | None:
        arrival = info.data.get("arrival")
        if leave_by is not None and arrival is not None and hhmm_to_minutes(leave_by) <= hhmm_to_minutes(arrival[0]):
            raise _fail(f"{leave_by} is not after the arrival window opens")
        return leave_by


class InstanceDoc(_Doc):
    """One clinic day for the scheduling engine: resources, visits already booked, and requests to place.

    Times are local wall-clock times of ``date``, written "HH:MM" (24 h); durations and gaps are whole
    minutes; every id is a non-empty string, unique within its list.
    """

    model_config = ConfigDict(title="Day instance (daycare-instance/1)")

    format: Literal["daycare-instance/1"] = Field(description="Always daycare-instance/1.")
    name: Text = Field(description="Names the day; a schedule refers to it.")
    date: Date = Field(description="The day, YYYY-MM-DD.")
    resources: list[ResourceDoc] = Field(description="The resources of the unit on this day.")
    booked: list[BookedDoc] | None = Field(None, description="Visits already fixed on this day (not moved).")
    requests: list[RequestDoc] = Field(description="Visits to place.")


# ---------------------------------------------------------------- schedule


class VisitDoc(_Doc):
    """A placed request: every one of its steps on a resource at a time."""

    model_config = ConfigDict(title="Visit")

    request: Text = Field(description="Id of the request placed.")
    steps: list[PlacedStepDoc] = Field(description="Its steps, each on a resource at a time.")
    announced: Time | None = Field(
        None, description="The arrival time the patient was told at booking (written by replay).")


class UnscheduledDoc(_Doc):
    """A request left out, with a reason a front-desk clerk can act on."""

    model_config = ConfigDict(title="Unscheduled request")

    request: Text = Field(description="Id of the request left out.")
    reason: StrictStr = Field(description="Why it could not be placed.")


class ObjectiveDoc(_Doc):
    """The schedule's value, lexicographic: priority first, then waiting."""

    model_config = ConfigDict(title="Objective")

    scheduled_priority: Count = Field(description="The sum of priority over placed requests.")
    total_wait_minutes: Count = Field(
        description="Over placed requests, the span (last end minus first start) less the critical path.")


class ScheduleDoc(_Doc):
    """What the engine makes of a day: each request either placed whole or left out with a reason."""

    model_config = ConfigDict(title="Day schedule (daycare-schedule/1)")

    format: Literal["daycare-schedule/1"] = Field(description="Always daycare-schedule/1.")
    instance: Text = Field(description="The name of the instance scheduled.")
    status: Literal["OPTIMAL", "FEASIBLE", "INFEASIBLE"] = Field(
        description="OPTIMAL (proved), FEASIBLE (time limit reached), or INFEASIBLE (the instance itself is "
        "contradictory).")
    visits: list[VisitDoc] = Field(description="Requests placed, every one of their steps placed.")
    unscheduled: list[UnscheduledDoc] = Field(description="Requests left out, each with a reason.")
    objective: ObjectiveDoc
    solve_seconds: Seconds | None = Field(0.0, description="Seconds the engine took.")
    stats: dict[str, Any] | None = Field(None, description="Free-form figures of the run (optional).")


# ---------------------------------------------------------------- reading


def read_instance(data: object) -> InstanceDoc:
    """``data`` (decoded JSON) as an :class:`InstanceDoc`, or ``InstanceFormatError`` listing every problem."""
    return _read(InstanceDoc, data, INSTANCE_FORMAT, _references)


def read_schedule(data: object) -> ScheduleDoc:
    """``data`` as a :class:`ScheduleDoc`, or ``InstanceFormatError`` listing every problem.

    Only the form is checked here; whether the schedule fits its instance is ``scheduling.check``'s job.
    """
    return _read(ScheduleDoc, data, SCHEDULE_FORMAT, lambda _: [])


def _read(model: type[_Doc], data: object, fmt: str, references: Callable[[object], list[Problem]]) -> Any:
    problems: list[Problem] = []
    doc = None
    try:
        doc = model.model_validate(data)
    except ValidationError as error:
        problems += [_problem(model, e, fmt) for e in error.errors(include_url=False)]
    problems += references(data)
    if problems:
        raise InstanceFormatError(problems)
    return doc


def json_path(loc: tuple[str | int, ...]) -> str:
    """``("requests", 3, "steps", 1, "after", 0)`` -> ``"requests[3].steps[1].after[0]"``."""
    path = ""
    for key in loc:
        path += f"[{key}]" if isinstance(key, int) else (f".{key}" if path else str(key))
    return path


def _problem(model: type[_Doc], error: Any, fmt: str) -> Problem:
    """One pydantic error as a :class:`Problem` worded for a clerk or an integrator."""
    loc, kind, value, ctx = tuple(error["loc"]), error["type"], error.get("input"), error.get("ctx") or {}
    got = describe(value)
    if kind == "missing":
        message = f"missing (expected {fmt!r})" if loc == ("format",) else "missing"
    elif kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        known = ", ".join(parent.model_fields) if parent else "?"
        message = f"unknown field (expected one of {known})"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected an object, got {got}"
    elif kind in ("list_type", "tuple_type"):
        message = f"expected a list, got {got}"
    elif kind in ("string_type", "string_too_short", "string_pattern_mismatch"):
        message = f"expected a non-empty string, got {got}"
    elif kind == "int_type":
        message = f"expected a whole number, got {got}"
    elif kind == "bool_type":
        message = f"expected true or false, got {got}"
    elif kind == "greater_than_equal":
        message = f"must be at least {ctx['ge']}, got {got}"
    elif kind == "less_than_equal":
        limit = " (minutes in a day)" if ctx["le"] == DAY_MINUTES else ""
        message = f"must be at most {ctx['le']}{limit}, got {got}"
    elif kind == "literal_error":
        message = f"expected {ctx['expected']}, got {got}"
    else:
        message = error["msg"]
    return Problem(json_path(loc), message)


def _model_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model of the object at ``loc`` inside a ``model`` document (list indices skipped)."""
    current: type[BaseModel] | None = model
    for key in loc:
        if isinstance(key, int):
            continue
        field = current.model_fields.get(key) if current else None
        current = _inner_model(field.annotation) if field else None
    return current


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


# ---------------------------------------------------------------- across objects


def _references(data: object) -> list[Problem]:
    """Problems between items and objects of an instance, found on the decoded JSON."""
    out: list[Problem] = []
    if not isinstance(data, dict):
        return out
    resources = _items(data.get("resources"))
    _unique(out, [(f"resources[{i}].id", _text(r, "id")) for i, r in resources], "resource id")
    kinds: dict[str, str | None] = {}
    for i, item in resources:
        rid = _text(item, "id")
        if rid is not None:
            kinds.setdefault(rid, _text(item, "kind"))
        _overlaps(out, f"resources[{i}].available", item.get("available"))
    booked, requests = _items(data.get("booked")), _items(data.get("requests"))
    _unique(
        out,
        [(f"booked[{i}].request", _text(b, "request")) for i, b in booked]
        + [(f"requests[{i}].id", _text(r, "id")) for i, r in requests],
        "request id",
    )
    for i, visit in booked:
        steps = _items(visit.get("steps"))
        _unique(out, [(f"booked[{i}].steps[{j}].id", _text(s, "id")) for j, s in steps], "step id")
        for j, step in steps:
            rid = _text(step, "resource")
            if rid is not None and rid not in kinds:
                out.append(Problem(f"booked[{i}].steps[{j}].resource", f"unknown resource {rid!r}"))
    for i, request in requests:
        path = f"requests[{i}]"
        steps = _items(request.get("steps"))
        _unique(out, [(f"{path}.steps[{j}].id", _text(s, "id")) for j, s in steps], "step id")
        for j, step in steps:
            _step_resources(out, f"{path}.steps[{j}].resources", step, kinds)
        raw = request.get("steps")
        if isinstance(raw, list):
            _check_after(out, path, [(_text(s, "id"), _raw_after(s)) for s in raw])
    return out


def _items(value: Any) -> list[tuple[int, dict]]:
    """``(index, item)`` of the objects in a list (anything else: the models report it)."""
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)] if isinstance(value, list) else []


def _text(item: Any, key: str) -> str | None:
    value = item.get(key) if isinstance(item, dict) else None
    return value if isinstance(value, str) and value.strip() else None


def _raw_after(item: Any) -> tuple[str, ...]:
    value = item.get("after") if isinstance(item, dict) else None
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _unique(out: list[Problem], ids: list[tuple[str, str | None]], what: str) -> None:
    seen: dict[str, str] = {}
    for path, ident in ids:
        if ident is None:
            continue
        if ident in seen:
            out.append(Problem(path, f"duplicate {what} {ident!r} (first at {seen[ident]})"))
        else:
            seen[ident] = path


def _overlaps(out: list[Problem], path: str, windows: Any) -> None:
    """Each well-formed window that starts before an earlier-starting one ends."""
    if not isinstance(windows, list):
        return
    valid = []
    for i, window in enumerate(windows):
        try:
            start, end = hhmm_to_minutes(window[0]), hhmm_to_minutes(window[1])
        except (ValueError, TypeError, KeyError, IndexError):
            continue
        if isinstance(window, list) and len(window) == 2 and start < end:
            valid.append(((start, end), f"{path}[{i}]"))
    valid.sort()
    for ((a_start, a_end), _), ((b_start, _b_end), b_path) in zip(valid, valid[1:], strict=False):
        if b_start < a_end:
            out.append(Problem(b_path, f"overlaps the window {minutes_to_hhmm(a_start)}-{minutes_to_hhmm(a_end)}"))


def _step_resources(out: list[Problem], path: str, step: dict, kinds: dict[str, str | None]) -> None:
    """A step's ``resources`` name existing resources of its kind, each once."""
    allowed = step.get("resources")
    if not isinstance(allowed, list):
        return
    kind = _text(step, "kind")
    named = []
    for k, value in enumerate(allowed):
        rid = value if isinstance(value, str) and value.strip() else None
        named.append((f"{path}[{k}]", rid))
        if rid is None:
            continue
        if rid not in kinds:
            out.append(Problem(f"{path}[{k}]", f"unknown resource {rid!r}"))
        elif kind is not None and kinds[rid] is not None and kinds[rid] != kind:
            out.append(Problem(f"{path}[{k}]", f"resource {rid!r} is a {kinds[rid]}, not a {kind}"))
    _unique(out, named, "resource")


def _check_after(out: list[Problem], path: str, steps: list[tuple[str | None, tuple[str, ...]]]) -> None:
    """Every ``after`` names another step of the request, once, and the edges form no cycle."""
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
                out.append(Problem(where, f"step {sid!r} cannot come after itself"))
                ok = False
            elif pred not in index:
                out.append(Problem(where, f"unknown step {pred!r} (steps are {', '.join(index)})"))
                ok = False
            elif pred in seen:
                out.append(Problem(where, f"{pred!r} listed twice"))
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
                out.append(Problem(f"{path}.steps[{index[sid]}].after[{k}]",
                                   f"cycle in after: {' -> '.join(reversed(cycle))}"))
                return
            if nxt not in state:
                state[nxt] = 1
                stack.append((nxt, 0))
                trail.append(nxt)


# ---------------------------------------------------------------- schemas


def json_schema(which: str = "instance") -> dict:
    """The JSON Schema (draft 2020-12) of an instance or a schedule document, generated from the models."""
    model = {"instance": InstanceDoc, "schedule": ScheduleDoc}[which]
    schema = model.model_json_schema()
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": f"daycare-{which}-1.schema.json", **schema}
