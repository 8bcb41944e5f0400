"""Why a request could not be placed, found by the insertion solver rather than guessed.

The request is tried in stages, each a tiny ``scheduling.insert`` model:

1. its own data alone (arithmetic: a kind nobody offers, a missing attribute, steps longer than the
   arrival-to-leave-by window or the maximum visit);
2. on the same day with nothing booked — if that fails, opening hours are the obstacle, and relaxing
   the hours of one kind at a time shows which resource is closed when the patient needs it;
3. with the other visits fixed — relaxing one constraint family at a time (the fixed capacity of one
   kind, then leave-by, arrival, maximum visit, resource restriction, attribute requirement, then all
   capacity) until the request fits; the first relaxation that works is the reason, and the
   relaxed placement says where and when.

``Reason`` carries the structure (code, step, kind, resource, attribute, window, minutes) so the web
layer can translate it; ``text`` is the English sentence for a front-desk clerk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scheduling.check import critical_path, hhmm
from scheduling.insert import (
    FreeTime,
    eligible,
    insert_least_blocked,
    insert_request,
    request_bounds,
    step_bounds,
    wait_minutes,
)
from scheduling.instance import Instance, PlacedStep, Request, Step, Visit

#: Time limit of each relaxation solve; these models prove optimality in milliseconds.
TIME_LIMIT = 0.2

#: Every ``Reason.code``.
CODES = frozenset(
    {
        "fits",  # the request fits around the other visits (it was left out for other reasons)
        "no-resource-kind",  # nobody of the step's kind works this day
        "no-resource",  # none of the step's allowed resources works this day
        "missing-attribute",  # no resource of the step's kind carries the required attributes
        "max-span-too-short",  # the steps alone take longer than the maximum visit
        "window-too-short",  # arrival start to leave-by is shorter than the steps
        "closed",  # the resource (or kind) is not open when the patient can be there
        "attribute-closed",  # only resources without the required attribute are open then
        "own-constraints",  # own windows and gaps cannot be met with this day's opening hours
        "fully-booked",  # the one allowed resource has no free stretch long enough
        "busy",  # the one allowed resource has free stretches, none at a time the visit can use
        "no-free-slot",  # no resource of the kind is free for the step when it is needed
        "leave-by",  # it fits only by leaving later
        "arrival",  # it fits only by arriving at another time
        "max-span",  # it fits only with a longer visit
        "restriction",  # it fits only with another resource than the allowed ones
        "attribute-busy",  # it fits only on resources without the required attribute
        "day-full",  # several kinds are too busy together
    }
)


@dataclass(frozen=True)
class Reason:
    code: str
    text: str
    step: str | None = None
    kind: str | None = None
    resource: str | None = None
    attribute: str | None = None
    window: tuple[int, int] | None = None
    minutes: int | None = None


def explain_unscheduled(instance: Instance, visits: Sequence[Visit], request: Request) -> str:
    """The clerk's sentence for why ``request`` does not fit among ``visits`` (booked visits count too)."""
    return explain(instance, visits, request).text


def explain(instance: Instance, visits: Sequence[Visit], request: Request, *, time_limit: float = TIME_LIMIT) -> Reason:
    """The first blocking constraint family of ``request`` on ``instance`` with ``visits`` fixed."""
    return (
        _own_data(instance, request)
        or _opening_hours(instance, request, time_limit)
        or _with_visits(instance, visits, request, time_limit)
    )


def _own_data(instance: Instance, request: Request) -> Reason | None:
    for step in request.steps:
        of_kind = [r for r in instance.resources if r.kind == step.kind]
        if not of_kind:
            return Reason("no-resource-kind", f"no {step.kind} resource works on this day", step.id, step.kind)
        allowed = [r for r in of_kind if step.resources is None or r.id in step.resources]
        if not allowed:
            names = ", ".join(step.resources or ())
            return Reason("no-resource", f"{names} does not work on this day", step.id, step.kind, names)
        if not eligible(allowed, request, step):
            attrs = ", ".join(sorted(request.requires))
            if step.resources is None:
                text = f"no resource of kind '{step.kind}' carries '{attrs}'"
            else:
                text = f"{' or '.join(step.resources)} does not carry '{attrs}'"
            return Reason(
                "missing-attribute", text, step.id, step.kind,
                None if step.resources is None else ",".join(step.resources), attrs,
            )
    shortest = critical_path(request)
    if request.max_visit_minutes is not None and shortest > request.max_visit_minutes:
        return Reason(
            "max-span-too-short",
            f"the steps take at least {shortest} minutes, more than the maximum visit of {request.max_visit_minutes} minutes",
            minutes=shortest,
        )
    lo, hi = request_bounds(request)
    if lo + shortest > hi:
        window = f"arrival window {hhmm(request.arrival[0])}–{hhmm(request.arrival[1])}" if request.arrival else "the day"
        return Reason(
            "window-too-short",
            f"{window} and leave-by {hhmm(hi)} leave no room for {shortest} minutes of steps",
            window=(lo, hi),
            minutes=shortest,
        )
    return None


def _kinds(request: Request) -> list[str]:
    return list(dict.fromkeys(s.kind for s in request.steps))


def _step_of(request: Request, placed: PlacedStep) -> Step:
    return next(s for s in request.steps if s.id == placed.id)


def _opening_hours(instance: Instance, request: Request, time_limit: float) -> Reason | None:
    empty = FreeTime(instance.resources)
    if insert_request(instance, (), request, free=empty, time_limit=time_limit) is not None:
        return None
    resources = {r.id: r for r in instance.resources}
    for kind in _kinds(request):
        relax = frozenset(f"hours:{r.id}" for r in instance.resources if r.kind == kind)
        visit = insert_request(instance, (), request, free=empty, relax=relax, time_limit=time_limit)
        if visit is None:
            continue
        for placed in visit.steps:
            res = resources[placed.resource]
            if res.kind != kind or any(a <= placed.start and placed.end <= b for a, b in res.available):
                continue
            return _closed(instance, request, _step_of(request, placed), placed)
    for token, code in (("arrival", "arrival"), ("leave_by", "leave-by"), ("max_span", "max-span")):
        visit = insert_request(instance, (), request, free=empty, relax=frozenset({token}), time_limit=time_limit)
        if visit is not None:
            return _patient_reason(request, visit, code)
    return Reason("own-constraints", "its arrival window, leave-by time and step gaps cannot be met with this day's opening hours")


def _closed(instance: Instance, request: Request, step: Step, placed: PlacedStep) -> Reason:
    """Clerk words for a step that only fits when ``placed.resource`` is open outside its hours."""
    usable = eligible(instance.resources, request, step)
    opening = [a for r in usable for a, _ in r.available]
    if not opening:
        who = usable[0].id if len(usable) == 1 else f"every {step.kind}"
        return Reason(
            "closed", f"{who} is closed all day", step.id, step.kind,
            usable[0].id if len(usable) == 1 else None, None, (placed.start, placed.end), step.duration,
        )
    after_close = placed.start >= min(opening)
    if request.requires:
        unequipped = eligible(instance.resources, request, step, frozenset({"requires"}))
        if any(any(a <= placed.start and placed.end <= b for a, b in r.available) for r in unequipped):
            attrs = ", ".join(sorted(request.requires))
            if after_close:
                edge = max(b for r in usable for _, b in r.available)
                when = f"closed after {hhmm(edge)}"
            else:
                edge = min(a for r in usable for a, _ in r.available)
                when = f"not open before {hhmm(edge)}"
            return Reason(
                "attribute-closed", f"{step.kind} with {attrs} is {when}", step.id, step.kind,
                None, attrs, (placed.start, placed.end), step.duration,
            )
    who = usable[0].id if len(usable) == 1 else f"no {step.kind}"
    verb = "is not available" if len(usable) == 1 else "is open"
    at = f"after {hhmm(placed.start)}" if after_close else f"at {hhmm(placed.start)}"
    return Reason(
        "closed", f"{who} {verb} for {step.duration} minutes {at}", step.id, step.kind,
        usable[0].id if len(usable) == 1 else None, None, (placed.start, placed.end), step.duration,
    )


def _patient_reason(request: Request, visit: Visit, code: str) -> Reason:
    first = min(s.start for s in visit.steps)
    last = max(s.end for s in visit.steps)
    if code == "leave-by":
        return Reason(
            code, f"no room before the leave-by time {hhmm(request.leave_by)} (earliest finish {hhmm(last)})",
            window=(first, last),
        )
    if code == "arrival":
        return Reason(
            code,
            f"no room for an arrival between {hhmm(request.arrival[0])} and {hhmm(request.arrival[1])} "
            f"(possible arrival {hhmm(first)})",
            window=(first, last),
        )
    return Reason(
        code,
        f"the visit would take at least {last - first} minutes, more than the maximum of {request.max_visit_minutes}",
        window=(first, last),
        minutes=last - first,
    )


def _with_visits(instance: Instance, visits: Sequence[Visit], request: Request, time_limit: float) -> Reason:
    free = FreeTime.for_day(instance, visits, exclude=request.id)

    def attempt(relax: frozenset[str]) -> Visit | None:
        return insert_request(instance, visits, request, free=free, relax=relax, time_limit=time_limit)

    visit = attempt(frozenset())
    if visit is not None:
        return _fits(visit)
    helped = []
    for kind in _kinds(request):
        relaxed = frozenset(f"capacity:{r.id}" for r in instance.resources if r.kind == kind)
        visit = attempt(relaxed)
        if visit is not None:
            helped.append((wait_minutes(request, visit), len(helped), kind, visit))
    if helped:
        _, _, kind, visit = min(helped)
        return _busy(instance, free, request, visit, kind)
    if request.leave_by is not None and (visit := attempt(frozenset({"leave_by"}))):
        return _patient_reason(request, visit, "leave-by")
    if request.arrival is not None and (visit := attempt(frozenset({"arrival"}))):
        return _patient_reason(request, visit, "arrival")
    if request.max_visit_minutes is not None and (visit := attempt(frozenset({"max_span"}))):
        return _patient_reason(request, visit, "max-span")
    restricted = [s for s in request.steps if s.resources is not None]
    if restricted and (visit := attempt(frozenset({"restriction"}))):
        used = {p.id: p.resource for p in visit.steps}
        step = next((s for s in restricted if used[s.id] not in s.resources), None)
        if step is None:
            return _fits(visit)
        names = ", ".join(step.resources)
        return Reason(
            "restriction", f"{names} fully booked when needed; another {step.kind} is free", step.id, step.kind, names
        )
    if request.requires and (visit := attempt(frozenset({"requires"}))):
        attrs = ", ".join(sorted(request.requires))
        resources = {r.id: r for r in instance.resources}
        placed = next((p for p in visit.steps if not request.requires <= resources[p.resource].attributes), None)
        if placed is None:
            return _fits(visit)
        step = _step_of(request, placed)
        return Reason(
            "attribute-busy", f"every {step.kind} with {attrs} is booked at {hhmm(placed.start)}; others are free",
            step.id, step.kind, None, attrs, (placed.start, placed.end), step.duration,
        )
    return _day_full(request, free, _least_blocked(instance, free, request, time_limit))


def _least_blocked(instance: Instance, free: FreeTime, request: Request, time_limit: float) -> Visit | None:
    """The placement that puts the fewest steps where the fixed visits leave no room (then least waiting)."""
    found = insert_least_blocked(instance, request, strict=free, loose=FreeTime(instance.resources), time_limit=time_limit)
    return None if found is None else found[0]


def _day_full(request: Request, free: FreeTime, visit: Visit | None) -> Reason:
    """Several kinds block together: name those the all-capacity-relaxed placement finds full."""
    blocked = [] if visit is None else [
        p for p in visit.steps if any(a < p.end and p.start < b for a, b in free.full(p.resource))
    ]
    if not blocked:
        lo, hi = request_bounds(request)
        kinds = ", ".join(_kinds(request))
        return Reason(
            "day-full", f"too busy: no combination of free {kinds} fits between {hhmm(lo)} and {hhmm(hi)}",
            window=(lo, hi),
        )
    kinds = list(dict.fromkeys(_step_of(request, p).kind for p in blocked))
    names = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]
    lo, hi = min(p.start for p in blocked), max(p.end for p in blocked)
    first = min(p.start for p in visit.steps)
    return Reason(
        "day-full",
        f"the day is too busy: even the best placement (arriving at {hhmm(first)}) would need {names} "
        f"between {hhmm(lo)} and {hhmm(hi)}, when they are booked",
        kind=",".join(kinds), window=(lo, hi), minutes=len(blocked),
    )


def _fits(visit: Visit) -> Reason:
    """A relaxed solve that happens to meet every constraint: the request fits after all."""
    first = min(s.start for s in visit.steps)
    return Reason("fits", f"fits between the other visits, e.g. arriving at {hhmm(first)}", window=(first, first))


def _busy(instance: Instance, free: FreeTime, request: Request, visit: Visit, kind: str) -> Reason:
    """Clerk words for a request that fits only if the fixed visits on ``kind`` made room."""
    blocked = next((
        p
        for p in visit.steps
        if _step_of(request, p).kind == kind and any(a < p.end and p.start < b for a, b in free.full(p.resource))
    ), None)
    if blocked is None:
        return _fits(visit)
    step = _step_of(request, blocked)
    lo, hi = step_bounds(request)[step.id]
    usable = eligible(instance.resources, request, step)
    opens = min((a for r in usable for a, _ in r.available), default=lo)
    closes = max((b for r in usable for _, b in r.available), default=hi)
    if max(lo, opens) < min(hi, closes):
        lo, hi = max(lo, opens), min(hi, closes)

    def room(resources) -> bool:
        return any(min(b, hi) - max(a, lo) >= step.duration for r in resources for a, b in free.windows(r.id))

    has_room = room(usable)
    between = f"between {hhmm(lo)} and {hhmm(hi)}"
    if request.leave_by is not None and hi == request.leave_by:
        between = f"between {hhmm(lo)} and the leave-by time {hhmm(hi)}"
    if not has_room and request.requires and room(eligible(instance.resources, request, step, frozenset({"requires"}))):
        attrs = ", ".join(sorted(request.requires))
        return Reason(
            "attribute-busy", f"every {kind} with {attrs} is booked {between}; others are free",
            step.id, kind, None, attrs, (lo, hi), step.duration,
        )
    others_free = step.resources is not None and room(eligible(instance.resources, request, step, frozenset({"restriction"})))
    if len(usable) == 1 and usable[0].capacity == 1:
        rid = usable[0].id
        hint = f"; another {kind} is free" if others_free else ""
        if not has_room:
            return Reason(
                "fully-booked", f"{rid} fully booked {between}{hint}", step.id, kind, rid, None, (lo, hi), step.duration
            )
        return Reason(
            "busy", f"{rid} has no free {step.duration} minutes that fit the rest of the visit {between}",
            step.id, kind, rid, None, (lo, hi), step.duration,
        )
    text = f"no {kind} free for {step.duration} minutes {between}"
    if has_room:
        text += " at a time that fits the rest of the visit"
    return Reason("no-free-slot", text, step.id, kind, None, None, (lo, hi), step.duration)
