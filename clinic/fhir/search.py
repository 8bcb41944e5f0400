"""Search parameters and searchset Bundles (no Flask): parse what a client asked, page what was found.

Every parameter a search does not know is refused (400 naming it) rather than silently ignored, so a client
never takes an unfiltered answer for a filtered one.
"""

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from clinic.fhir.outcome import fhir_error

DEFAULT_COUNT = 20
MAX_COUNT = 100
#: Accepted by every search and otherwise ignored (the answer is JSON whatever ``_format`` says, and
#: ``total`` is always exact whatever ``_total`` asks).
ALWAYS = frozenset({"_count", "_offset", "_format", "_total"})
_PREFIXED = re.compile(r"(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb|ap)?(?P<value>\d.*)")
DATE_PREFIXES = frozenset({"eq", "gt", "lt", "ge", "le"})


@dataclass(frozen=True)
class Paging:
    count: int
    offset: int


@dataclass(frozen=True)
class DateRange:
    """Dates from ``start`` to ``end``, both included (None: open)."""

    start: dt.date | None = None
    end: dt.date | None = None

    def contains(self, day: dt.date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


def check_names(params: Sequence[tuple[str, str]], known: Iterable[str], resource_type: str) -> None:
    allowed = set(known) | ALWAYS
    for name, _value in params:
        base = name.split(":", 1)[0]
        if base not in allowed:
            raise fhir_error(
                400, f"{resource_type} search does not support the parameter {name!r} "
                     f"(supported: {', '.join(sorted(set(known) | {'_count', '_offset'}))})",
                expression=name, code="not-supported",
            )
        if ":" in name:
            raise fhir_error(400, f"modifiers are not supported: {name!r}", expression=name, code="not-supported")


def values(params: Sequence[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in params if key == name]


def single(params: Sequence[tuple[str, str]], name: str) -> str | None:
    found = values(params, name)
    if len(found) > 1:
        raise fhir_error(400, f"give {name} at most once", expression=name)
    if found and not found[0].strip():
        raise fhir_error(400, f"{name} is empty", expression=name)
    return found[0].strip() if found else None


def _int(params: Sequence[tuple[str, str]], name: str, default: int, low: int, high: int) -> int:
    text = single(params, name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise fhir_error(400, f"{name} must be a whole number from {low} to {high} (got {text!r})", expression=name)
    return int(text)


def paging(params: Sequence[tuple[str, str]]) -> Paging:
    return Paging(count=_int(params, "_count", DEFAULT_COUNT, 0, MAX_COUNT),
                  offset=_int(params, "_offset", 0, 0, 10**6))


def parse_date(text: str, name: str, tz: str | None = None) -> dt.date:
    """A FHIR date or dateTime as a (local, with ``tz``) date; 400 naming ``name`` when it is neither."""
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fhir_error(400, f"{name}: {text!r} is not a date (YYYY-MM-DD) or a date-time", expression=name) from None
    if moment.tzinfo is not None and tz:
        from zoneinfo import ZoneInfo

        moment = moment.astimezone(ZoneInfo(tz))
    return moment.date()


def date_range(params: Sequence[tuple[str, str]], name: str, tz: str | None = None) -> DateRange:
    """Every ``name`` parameter (``ge2026-12-01``, ``le2026-12-31``, ``2026-12-03``) as one range of days."""
    start: dt.date | None = None
    end: dt.date | None = None
    for text in values(params, name):
        match = _PREFIXED.fullmatch(text.strip())
        if not match or (match.group("prefix") or "eq") not in DATE_PREFIXES:
            raise fhir_error(400, f"{name}: {text!r} is not a date with an optional prefix eq, ge, gt, le or lt "
                                  "(e.g. ge2026-12-01)", expression=name)
        prefix = match.group("prefix") or "eq"
        day = parse_date(match.group("value"), name, tz)
        low = day + dt.timedelta(days=1) if prefix == "gt" else day if prefix in ("ge", "eq") else None
        high = day - dt.timedelta(days=1) if prefix == "lt" else day if prefix in ("le", "eq") else None
        if low is not None:
            start = low if start is None else max(start, low)
        if high is not None:
            end = high if end is None else min(end, high)
    return DateRange(start, end)


def reference_id(text: str, resource_type: str, name: str) -> int:
    """``Patient/12``, ``12`` or an absolute ``.../Patient/12`` as 12; 400 naming ``name`` otherwise."""
    tail = text.strip().rstrip("/")
    if "/" in tail:
        kind, _, tail = tail.rpartition("/")
        if kind.rsplit("/", 1)[-1] != resource_type:
            raise fhir_error(400, f"{name} must reference a {resource_type} (got {text!r})", expression=name)
    if not tail.isdigit() or not 0 < int(tail) < 2**31:
        raise fhir_error(400, f"{name}: {text!r} is not a {resource_type} id", expression=name)
    return int(tail)


def searchset(
    *, base_url: str, resource_type: str, resources: list[dict[str, Any]], total: int,
    params: Sequence[tuple[str, str]], page: Paging,
) -> dict[str, Any]:
    """A searchset Bundle of one page, with ``self``, ``first``, ``next``, ``previous`` and ``last`` links that
    repeat the search's own parameters (absolute URLs)."""
    kept = [(k, v) for k, v in params if k not in ("_count", "_offset")]

    def link(relation: str, offset: int) -> dict[str, str]:
        query = urlencode([*kept, ("_count", str(page.count)), ("_offset", str(offset))])
        return {"relation": relation, "url": f"{base_url}/{resource_type}?{query}"}

    links = [link("self", page.offset)]
    if page.count:
        last = max(0, (total - 1) // page.count * page.count)
        links.append(link("first", 0))
        if page.offset > 0:
            links.append(link("previous", max(0, page.offset - page.count)))
        if page.offset + page.count < total:
            links.append(link("next", page.offset + page.count))
        links.append(link("last", last))
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links}
    if resources:  # FHIR JSON has no empty arrays
        bundle["entry"] = [
            {"fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ]
    return bundle
