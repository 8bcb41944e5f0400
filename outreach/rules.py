"""Segment rules as data: the model, loading and validation from YAML, layering, and evaluation.

Pure Python (no Flask, no database). A rule file looks like::

    version: 1
    rules:
      - id: basic-reminder
        layer: basic                 # basic (everyone) | segment | sub_segment
        action: reminder             # rules of the same action replace each other by layer
        kind: message                # message (an outbox row) | service (shown to staff only)
        channel: sms                 # patient (their own channel) | sms | voice | email
        template: reminder           # the message text (translated, see clinic.messaging.texts)
        essential: true              # essential messages go out even after STOP
        timing: {relative_to: visit, offset: -2d, at: "10:00"}
        condition: {age: {gte: 70}}  # segments and sub-segments only
        level: augmented             # service level, see below (optional)
        replaces: false              # add to the less specific rules of the action (default: replace them)
    potential:                       # ideas not in force yet (optional)
      - id: video-pre-op
        description: A video call instead of the pre-operative consult for long-distance patients.
        condition: {region: long_distance}   # optional: who it would be for

Conditions combine facts with ``all`` / ``any`` / ``not``; a mapping of several facts means all of
them. Facts: ``age`` (on the visit date), ``region`` (local, regional, long_distance), ``needs``
(wheelchair, interpreter, hearing), ``language``, ``channel`` and ``pathway`` (the pathway's code).
A fact is compared with a plain value (equality, or membership for ``needs``) or with one operator
of ``eq ne in gte gt lte lt``.

Layering: among the rules that fire for the same action, the most specific layer wins
(sub_segment over segment over basic); within one layer the first rule in the file wins. The losers
are reported as replaced, so the preview can say why a basic SMS reminder became a call. A rule with
``replaces: false`` adds to the less specific rules of its action instead (the reminder call on top
of the basic SMS reminder: two reminders lower missed visits); it still replaces the other rules of
its own layer, and a less specific rule it lets through may still be replaced by another winner.

A file with any error is rejected whole: ``RuleSetError`` lists every problem with the file, the
rule (id, or its position) and the field (a dotted path) named.

Service levels (the total product): ``generic`` is the core service itself, ``expected`` what every
patient takes for granted, ``augmented`` what goes beyond it for a segment, ``potential`` an idea not in
force yet. A rule's ``level`` defaults by layer (basic: expected; segment and sub-segment: augmented); a
rule in force is never ``potential``: ideas go in the ``potential:`` list (id, description, optional
condition and action), which is validated like the rules but never fires. Ids are unique across both.
"""

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from outreach.yaml_problems import load as load_yaml
from outreach.yaml_problems import read_text, syntax_problem

LAYERS = ("basic", "segment", "sub_segment")
LEVELS = ("generic", "expected", "augmented", "potential")
DEFAULT_LEVEL = {"basic": "expected", "segment": "augmented", "sub_segment": "augmented"}
KINDS = ("message", "service")
CHANNELS = ("patient", "sms", "voice", "email")
RELATIVE_TO = ("booking", "visit", "cancellation")
REGIONS = ("local", "regional", "long_distance")
NEEDS = ("wheelchair", "interpreter", "hearing")
LANGUAGES = ("en", "nl", "fr")
PATIENT_CHANNELS = ("sms", "voice", "email")
FACTS = ("age", "region", "needs", "language", "channel", "pathway")
OPERATORS = ("eq", "ne", "in", "gte", "gt", "lte", "lt")
ACTIVE_STATUSES = frozenset({"requested", "booked", "confirmed"})
"""Visits that still lie ahead of the patient: booking- and visit-relative rules apply to them."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
_OFFSET = re.compile(r"^(?P<sign>[-+]?)(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_RULE_KEYS = frozenset(
    {
        "id", "layer", "action", "kind", "channel", "template", "essential", "timing", "condition", "description",
        "level", "replaces",
    }
)  # fmt: skip
_IDEA_KEYS = frozenset({"id", "description", "condition", "action"})


# --- errors -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleProblem:
    file: str
    rule: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.rule is not None:
            where.append(f"rule {self.rule}")
        if self.field is not None:
            where.append(f"field {self.field}")
        return ": ".join(where) + f": {self.message}"


class RuleSetError(ValueError):
    """The rule file is wrong; nothing of it is used. ``problems`` names file, rule and field of each."""

    def __init__(self, problems: Sequence[RuleProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# --- the model ----------------------------------------------------------------------------------


class Why(str):
    """A reason as English text that keeps its parts, so a screen can say it in its reader's language.

    ``key`` names the sentence (``"compare"``, ``"basic"``, ``"and"``...), ``params`` its values; nested
    reasons (``"and"``, ``"not"``) hold ``Why`` values in ``params["parts"]``. It compares and prints as
    the English text, so logs, tests and stored rows see a plain string.
    """

    key: str
    params: dict[str, Any]

    def __new__(cls, text: str, key: str, **params: Any) -> "Why":
        why = super().__new__(cls, text)
        why.key, why.params = key, params
        return why


def why_and(parts: list["Why"]) -> Why:
    return parts[0] if len(parts) == 1 else Why(" and ".join(parts), "and", parts=tuple(parts))


@dataclass(frozen=True)
class Condition:
    """``op`` is ``all``/``any``/``not`` (with ``children``) or a comparison of ``fact`` with ``value``."""

    op: str
    fact: str | None = None
    value: Any = None
    children: tuple["Condition", ...] = ()

    def test(self, facts: Mapping[str, Any]) -> tuple[bool, str]:
        """Whether the condition holds for ``facts``, and a short human-readable reason."""
        if self.op == "all":
            results = [child.test(facts) for child in self.children]
            ok = all(r for r, _ in results)
            shown = [why for r, why in results if r == ok]
            return ok, why_and(shown) if ok else shown[0]
        if self.op == "any":
            results = [child.test(facts) for child in self.children]
            ok = any(r for r, _ in results)
            shown = [why for r, why in results if r == ok]
            return ok, shown[0] if ok else why_and(shown)
        if self.op == "not":
            ok, why = self.children[0].test(facts)
            return (not ok), Why(f"not ({why})", "not", parts=(why,))
        return _compare(self.op, self.fact or "", self.value, facts)

    def describe(self) -> str:
        """The condition as a person would read it: ``age ≥ 70 and region = long_distance``."""
        if self.op in ("all", "any"):
            joined = f" {'and' if self.op == 'all' else 'or'} ".join(
                f"({c.describe()})" if c.op in ("all", "any") else c.describe() for c in self.children
            )
            return joined
        if self.op == "not":
            return f"not ({self.children[0].describe()})"
        symbol = {"eq": "=", "ne": "≠", "in": "in", "gte": "≥", "gt": ">", "lte": "≤", "lt": "<"}[self.op]
        if self.fact == "needs" and self.op in ("eq", "in"):
            values = self.value if self.op == "in" else (self.value,)
            return f"needs {' or '.join(values)}"
        value = f"[{', '.join(map(str, self.value))}]" if self.op == "in" else str(self.value)
        return f"{self.fact} {symbol} {value}"


def _needs(values: Any) -> Why:
    values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
    return Why(f"needs {', '.join(values)}", "needs", values=values)


def _not_needs(values: Any) -> Why:
    values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
    if len(values) == 1:
        return Why(f"does not need {values[0]}", "needs_not", values=values)
    return Why(f"needs none of {', '.join(values)}", "needs_not", values=values)


def _compare(op: str, fact: str, value: Any, facts: Mapping[str, Any]) -> tuple[bool, Why]:
    actual = facts.get(fact)
    if fact == "needs":
        have = frozenset(actual or ())
        if op == "eq":
            ok = value in have
            return ok, _needs(value) if ok else _not_needs(value)
        if op == "ne":
            ok = value not in have
            return ok, _not_needs(value) if ok else _needs(value)
        if op == "in":
            hit = sorted(have & set(value))
            return bool(hit), _needs(hit) if hit else _not_needs(list(value))
    symbol = {"eq": "=", "ne": "≠", "in": "in", "gte": "≥", "gt": ">", "lte": "≤", "lt": "<"}[op]
    if actual is None:
        return False, Why(f"{fact} unknown", "unknown", fact=fact)
    if op == "eq":
        ok = actual == value
    elif op == "ne":
        ok = actual != value
    elif op == "in":
        ok = actual in value
    elif op == "gte":
        ok = actual >= value
    elif op == "gt":
        ok = actual > value
    elif op == "lte":
        ok = actual <= value
    else:
        ok = actual < value
    shown = f"[{', '.join(map(str, value))}]" if op == "in" else str(value)
    return ok, Why(
        f"{fact} {actual} {symbol if ok else 'not ' + symbol} {shown}", "compare",
        fact=fact, actual=actual, op=op, symbol=symbol, value=value, holds=ok,
    )


@dataclass(frozen=True)
class Timing:
    """When an action is due: ``offset`` from the booking, the visit's start or the cancellation;
    with ``at`` the offset must be whole days and the time of day is ``at`` in the patient's zone."""

    relative_to: str
    offset: dt.timedelta = dt.timedelta(0)
    at: dt.time | None = None

    def describe(self) -> str:
        amount = _format_offset(self.offset)
        base = {"booking": "booking", "visit": "the visit", "cancellation": "the cancellation"}[self.relative_to]
        if not self.offset:
            text = f"at {base}"
        else:
            text = f"{amount} {'before' if self.offset < dt.timedelta(0) else 'after'} {base}"
        return f"{text}, at {self.at.strftime('%H:%M')}" if self.at else text


def _format_offset(offset: dt.timedelta) -> str:
    minutes = abs(int(offset.total_seconds())) // 60
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{mins}m" if mins else ""]
    return "".join(parts) or "0m"


@dataclass(frozen=True)
class Rule:
    id: str
    layer: str
    action: str
    kind: str
    channel: str
    timing: Timing
    template: str | None = None
    essential: bool = False
    condition: Condition | None = None
    description: str = ""
    level: str = ""
    """Service level (``LEVELS``); empty: the layer's default (``DEFAULT_LEVEL``)."""
    replaces: bool = True
    """Whether the rule replaces the less specific rules of its action, or adds to them."""

    def __post_init__(self) -> None:
        if not self.level:
            object.__setattr__(self, "level", DEFAULT_LEVEL.get(self.layer, "expected"))

    @property
    def rank(self) -> int:
        return LAYERS.index(self.layer)


@dataclass(frozen=True)
class PotentialIdea:
    """A differentiator considered but not in force: listed with the ``potential`` service level, never fired."""

    id: str
    description: str
    condition: Condition | None = None
    action: str | None = None

    @property
    def level(self) -> str:
        return "potential"


@dataclass(frozen=True)
class PatientFacts:
    """What the rules may know about a patient; ``region`` is derived by the caller from the distance."""

    birth_date: dt.date
    region: str
    language: str
    channel: str
    needs: frozenset[str] = frozenset()
    opted_out: bool = False
    has_email: bool = False
    patient_id: int | None = None


@dataclass(frozen=True)
class VisitFacts:
    date: dt.date
    pathway: str
    status: str = "booked"
    starts_at: dt.datetime | None = None
    booked_at: dt.datetime | None = None
    cancelled_at: dt.datetime | None = None
    visit_id: int | None = None


@dataclass(frozen=True)
class Firing:
    """A rule that fires: ``why`` says which facts made it fire, ``replaced`` which rules it beat."""

    rule: Rule
    why: str
    replaced: tuple[str, ...] = ()

    @property
    def action(self) -> str:
        return self.rule.action


@dataclass(frozen=True)
class Evaluation:
    fired: tuple[Firing, ...]
    not_fired: tuple[tuple[Rule, str], ...] = field(default=())


def age_on(birth_date: dt.date, day: dt.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def facts_of(patient: PatientFacts, visit: VisitFacts) -> dict[str, Any]:
    return {
        "age": age_on(patient.birth_date, visit.date),
        "region": patient.region,
        "needs": frozenset(patient.needs),
        "language": patient.language,
        "channel": patient.channel,
        "pathway": visit.pathway,
    }


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    source: str = "<rules>"
    potential: tuple[PotentialIdea, ...] = ()

    def evaluate(self, patient: PatientFacts, visit: VisitFacts, *, now: dt.datetime) -> Evaluation:
        """Every rule, fired or not, with the reason; the winners per action after layering."""
        facts = facts_of(patient, visit)
        cancelled = visit.status == "cancelled"
        active = visit.status in ACTIVE_STATUSES
        candidates: list[tuple[Rule, str]] = []
        not_fired: list[tuple[Rule, str]] = []
        for rule in self.rules:
            if rule.timing.relative_to == "cancellation" and not cancelled:
                not_fired.append((rule, Why("only when the visit is cancelled", "only_cancelled")))
                continue
            if rule.timing.relative_to != "cancellation" and not active:
                not_fired.append((rule, Why(f"the visit is {visit.status}", "visit_status", status=visit.status)))
                continue
            if rule.condition is None:
                candidates.append((rule, Why("every patient (basic service)", "basic")))
                continue
            ok, why = rule.condition.test(facts)
            if ok:
                candidates.append((rule, why))
            else:
                not_fired.append((rule, why))
        fired: list[Firing] = []
        by_action: dict[str, list[tuple[Rule, str]]] = {}
        for rule, why in candidates:
            by_action.setdefault(rule.action, []).append((rule, why))
        for action_rules in by_action.values():
            # most specific layer first, then file order (sorted() is stable)
            ordered = sorted(action_rules, key=lambda item: -item[0].rank)
            winners: list[tuple[Rule, str]] = []
            beaten: dict[str, list[str]] = {}
            for rule, why in ordered:
                winner = next((w for w, _ in winners if w.rank == rule.rank or w.replaces), None)
                if winner is None:
                    winners.append((rule, why))
                    beaten[rule.id] = []
                else:
                    beaten[winner.id].append(rule.id)
                    not_fired.append((rule, Why(f"replaced by {winner.id} ({winner.layer})", "replaced",
                                                rule=winner.id, layer=winner.layer)))
            fired.extend(Firing(rule=rule, why=why, replaced=tuple(beaten[rule.id])) for rule, why in winners)
        order = {rule.id: index for index, rule in enumerate(self.rules)}
        fired.sort(key=lambda f: order[f.rule.id])
        not_fired.sort(key=lambda item: order[item[0].id])
        return Evaluation(fired=tuple(fired), not_fired=tuple(not_fired))

    def actions_for(
        self, patient_facts: PatientFacts, visit_facts: VisitFacts, *, now: dt.datetime
    ) -> list[Firing]:
        return list(self.evaluate(patient_facts, visit_facts, now=now).fired)

    @property
    def templates(self) -> frozenset[str]:
        return frozenset(rule.template for rule in self.rules if rule.template)


def actions_for(
    patient_facts: PatientFacts, visit_facts: VisitFacts, *, now: dt.datetime, rules: RuleSet
) -> list[Firing]:
    """Which actions fire for this patient and visit, and why (see ``RuleSet.evaluate``)."""
    return rules.actions_for(patient_facts, visit_facts, now=now)


# --- loading and validation ---------------------------------------------------------------------


class _Collector:
    def __init__(self, file: str):
        self.file = file
        self.problems: list[RuleProblem] = []

    def add(self, rule: str | None, field_name: str | None, message: str) -> None:
        self.problems.append(RuleProblem(self.file, rule, field_name, message))


def parse_offset(text: Any) -> dt.timedelta:
    if isinstance(text, int) and text == 0:
        return dt.timedelta(0)
    match = _OFFSET.fullmatch(str(text).strip()) if isinstance(text, str) else None
    if not match or not any(match.group(k) for k in "dhm"):
        raise ValueError(f"{text!r} is not an offset like -2d, 3h, -1d12h or 30m")
    delta = dt.timedelta(
        days=int(match.group("d") or 0), hours=int(match.group("h") or 0), minutes=int(match.group("m") or 0)
    )
    return -delta if match.group("sign") == "-" else delta


def _parse_condition(raw: Any, path: str, rule: str, out: _Collector) -> Condition | None:
    if not isinstance(raw, Mapping) or not raw:
        out.add(rule, path, "expected a mapping such as {age: {gte: 70}} or {all: [...]}")
        return None
    parts: list[Condition] = []
    for key, value in raw.items():
        here = f"{path}.{key}"
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                out.add(rule, here, f"'{key}' needs a non-empty list of conditions")
                continue
            children = [_parse_condition(item, f"{here}[{i}]", rule, out) for i, item in enumerate(value)]
            if all(children):
                parts.append(Condition(op=key, children=tuple(c for c in children if c)))
        elif key == "not":
            child = _parse_condition(value, here, rule, out)
            if child:
                parts.append(Condition(op="not", children=(child,)))
        elif key in FACTS:
            leaf = _parse_fact(key, value, here, rule, out)
            if leaf:
                parts.append(leaf)
        else:
            out.add(rule, here, f"unknown fact or combinator '{key}' (use {', '.join(FACTS)}, all, any, not)")
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else Condition(op="all", children=tuple(parts))


def _check_value(fact: str, value: Any, path: str, rule: str, out: _Collector) -> bool:
    allowed = {"region": REGIONS, "needs": NEEDS, "language": LANGUAGES, "channel": PATIENT_CHANNELS}.get(fact)
    if fact == "age":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 130:
            out.add(rule, path, f"age must be a whole number of years from 0 to 130, not {value!r}")
            return False
        return True
    if fact == "pathway":
        if not isinstance(value, str) or not value.strip():
            out.add(rule, path, f"pathway must be a pathway code, not {value!r}")
            return False
        return True
    if allowed is not None and value not in allowed:
        out.add(rule, path, f"unknown {fact} {value!r} (choose from {', '.join(allowed)})")
        return False
    return True


def _parse_fact(fact: str, raw: Any, path: str, rule: str, out: _Collector) -> Condition | None:
    if not isinstance(raw, Mapping):
        op, value = "eq", raw
    elif len(raw) != 1:
        out.add(rule, path, f"give exactly one operator of {', '.join(OPERATORS)}")
        return None
    else:
        op, value = next(iter(raw.items()))
        path = f"{path}.{op}"
        if op not in OPERATORS:
            out.add(rule, path, f"unknown operator '{op}' (use {', '.join(OPERATORS)})")
            return None
    if op in ("gte", "gt", "lte", "lt") and fact != "age":
        out.add(rule, path, f"'{op}' only compares ages")
        return None
    if op == "in":
        if not isinstance(value, list) or not value:
            out.add(rule, path, "'in' needs a non-empty list")
            return None
        if not all([_check_value(fact, item, path, rule, out) for item in value]):  # noqa: C419 - report all
            return None
        return Condition(op="in", fact=fact, value=tuple(value))
    if not _check_value(fact, value, path, rule, out):
        return None
    return Condition(op=op, fact=fact, value=value)


def _parse_timing(raw: Any, rule: str, out: _Collector) -> Timing | None:
    if not isinstance(raw, Mapping):
        out.add(rule, "timing", "expected a mapping such as {relative_to: visit, offset: -2d, at: '10:00'}")
        return None
    ok = True
    unknown = set(raw) - {"relative_to", "offset", "at"}
    for key in sorted(unknown):
        out.add(rule, f"timing.{key}", "unknown field (use relative_to, offset, at)")
        ok = False
    relative_to = raw.get("relative_to")
    if relative_to not in RELATIVE_TO:
        out.add(rule, "timing.relative_to", f"must be one of {', '.join(RELATIVE_TO)}, not {relative_to!r}")
        ok = False
    offset = dt.timedelta(0)
    if "offset" in raw:
        try:
            offset = parse_offset(raw["offset"])
        except ValueError as exc:
            out.add(rule, "timing.offset", str(exc))
            ok = False
    at: dt.time | None = None
    if raw.get("at") is not None:
        text = raw["at"]
        if isinstance(text, int) and not isinstance(text, bool):  # YAML 1.1 reads 10:00 as 600 (sexagesimal)
            text = f"{text // 60:02d}:{text % 60:02d}"
        match = _TIME.fullmatch(str(text))
        if not match:
            out.add(rule, "timing.at", f"expected a time of day like '10:00', not {raw['at']!r}")
            ok = False
        else:
            at = dt.time(int(match.group(1)), int(match.group(2)))
            if offset % dt.timedelta(days=1):
                out.add(rule, "timing.offset", "with 'at' the offset must be whole days (e.g. -2d)")
                ok = False
    if ok and relative_to == "visit" and offset > dt.timedelta(0):
        out.add(rule, "timing.offset", "a visit-relative action must be due before the visit (negative offset)")
        ok = False
    if ok and relative_to != "visit" and offset < dt.timedelta(0):
        out.add(rule, "timing.offset", f"cannot be due before the {relative_to} happens")
        ok = False
    return Timing(relative_to=relative_to, offset=offset, at=at) if ok else None


def _entry_name(raw: Any, fallback: str, kind: str, keys: frozenset[str], out: _Collector) -> str | None:
    """The name problems of one rule or idea are reported under, after checking its shape, fields and id;
    ``None`` when it is not a mapping at all."""
    if not isinstance(raw, Mapping):
        out.add(fallback, None, f"each {kind} must be a mapping")
        return None
    entry_id = raw.get("id")
    name = str(entry_id) if isinstance(entry_id, str) and entry_id else fallback
    for key in sorted(set(raw) - keys):
        out.add(name, key, f"unknown field (use {', '.join(sorted(keys))})")
    if not isinstance(entry_id, str) or not _NAME.fullmatch(entry_id):
        out.add(name, "id", "required: lower-case letters, digits, '-' or '_' (at most 60)")
    return name


def _parse_rule(
    raw: Any, index: int, out: _Collector, known_templates: frozenset[str] | None
) -> Rule | None:
    before = len(out.problems)
    name = _entry_name(raw, f"#{index + 1}", "rule", _RULE_KEYS, out)
    if name is None:
        return None
    rule_id = raw.get("id")
    layer = raw.get("layer")
    if layer not in LAYERS:
        out.add(name, "layer", f"must be one of {', '.join(LAYERS)}, not {layer!r}")
    action = raw.get("action")
    if not isinstance(action, str) or not _NAME.fullmatch(action):
        out.add(name, "action", "required: a name like reminder or coffee_voucher")
    kind = raw.get("kind", "message")
    if kind not in KINDS:
        out.add(name, "kind", f"must be one of {', '.join(KINDS)}, not {kind!r}")
    channel = raw.get("channel", "patient")
    if channel not in CHANNELS:
        out.add(name, "channel", f"must be one of {', '.join(CHANNELS)}, not {channel!r}")
    template = raw.get("template")
    if kind == "message":
        if not isinstance(template, str) or not template:
            out.add(name, "template", "a message rule needs a template")
        elif known_templates is not None and template not in known_templates:
            out.add(name, "template", f"unknown template {template!r} (choose from {', '.join(sorted(known_templates))})")
    elif template is not None:
        out.add(name, "template", "only message rules have a template")
    essential = raw.get("essential", False)
    if not isinstance(essential, bool):
        out.add(name, "essential", f"must be true or false, not {essential!r}")
    replaces = raw.get("replaces", True)
    if not isinstance(replaces, bool):
        out.add(name, "replaces", f"must be true or false, not {replaces!r}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        out.add(name, "description", "must be text")
    level = raw.get("level", DEFAULT_LEVEL.get(layer, "expected") if isinstance(layer, str) else "expected")
    if level == "potential":
        out.add(name, "level", "a rule in force cannot be potential: list the idea under 'potential:' instead")
    elif level not in LEVELS:
        out.add(name, "level", f"must be one of {', '.join(LEVELS[:3])}, not {level!r}")
    timing = _parse_timing(raw.get("timing"), name, out) if "timing" in raw else None
    if "timing" not in raw:
        out.add(name, "timing", "required: when the action is due")
    condition = None
    if layer == "basic":
        if raw.get("condition") is not None:
            out.add(name, "condition", "a basic rule applies to everyone and has no condition")
    elif layer in LAYERS:
        if raw.get("condition") is None:
            out.add(name, "condition", f"a {layer} rule needs a condition naming its segment")
        else:
            condition = _parse_condition(raw["condition"], "condition", name, out)
    if len(out.problems) > before or timing is None:
        return None
    return Rule(
        id=rule_id,
        layer=layer,
        action=action,
        kind=kind,
        channel=channel,
        timing=timing,
        template=template,
        essential=essential,
        condition=condition,
        description=description.strip(),
        level=level,
        replaces=replaces,
    )


def _parse_idea(raw: Any, index: int, out: _Collector) -> PotentialIdea | None:
    before = len(out.problems)
    name = _entry_name(raw, f"potential #{index + 1}", "potential idea", _IDEA_KEYS, out)
    if name is None:
        return None
    idea_id = raw.get("id")
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        out.add(name, "description", "required: what the idea would offer, and to whom")
    action = raw.get("action")
    if action is not None and (not isinstance(action, str) or not _NAME.fullmatch(action)):
        out.add(name, "action", "a name like reminder or coffee_voucher")
    condition = None
    if raw.get("condition") is not None:
        condition = _parse_condition(raw["condition"], "condition", name, out)
    if len(out.problems) > before:
        return None
    return PotentialIdea(id=idea_id, description=description.strip(), condition=condition, action=action)


def parse_rules(
    text: str, *, filename: str = "<rules>", known_templates: Iterable[str] | None = None
) -> RuleSet:
    """Validate ``text`` (YAML) whole: a ``RuleSet``, or ``RuleSetError`` listing every problem."""
    out = _Collector(filename)
    templates = frozenset(known_templates) if known_templates is not None else None
    try:
        document = load_yaml(text)
    except yaml.YAMLError as exc:
        raise RuleSetError([RuleProblem(filename, None, None, syntax_problem(exc))]) from None
    if not isinstance(document, Mapping):
        raise RuleSetError([RuleProblem(filename, None, None, "expected a mapping with 'version: 1' and 'rules:'")])
    if document.get("version") != 1:
        out.add(None, "version", f"must be 1, not {document.get('version')!r}")
    for key in sorted(set(document) - {"version", "rules", "potential"}):
        out.add(None, key, "unknown top-level field (use version, rules, potential)")
    raw_rules = document.get("rules")
    rules: list[Rule] = []
    if not isinstance(raw_rules, list) or not raw_rules:
        out.add(None, "rules", "must be a non-empty list of rules")
    else:
        seen: set[str] = set()
        for index, raw in enumerate(raw_rules):
            rule = _parse_rule(raw, index, out, templates)
            if rule is None:
                continue
            if rule.id in seen:
                out.add(rule.id, "id", "used twice; rule ids must be unique")
                continue
            seen.add(rule.id)
            rules.append(rule)
    ideas: list[PotentialIdea] = []
    raw_ideas = document.get("potential", [])
    if raw_ideas is None:
        raw_ideas = []
    if not isinstance(raw_ideas, list):
        out.add(None, "potential", "must be a list of ideas (id, description, optional condition and action)")
        raw_ideas = []
    seen_rules = {rule.id for rule in rules}
    for index, raw in enumerate(raw_ideas):
        idea = _parse_idea(raw, index, out)
        if idea is None:
            continue
        if idea.id in seen_rules:
            out.add(idea.id, "id", "used twice; rule and idea ids must be unique")
            continue
        seen_rules.add(idea.id)
        ideas.append(idea)
    if out.problems:
        raise RuleSetError(out.problems)
    return RuleSet(rules=tuple(rules), source=filename, potential=tuple(ideas))


def load_rules(path: str | Path, *, known_templates: Iterable[str] | None = None) -> RuleSet:
    path = Path(path)
    try:
        text = read_text(path)
    except ValueError as exc:
        raise RuleSetError([RuleProblem(path.name, None, None, str(exc))]) from None
    return parse_rules(text, filename=path.name, known_templates=known_templates)
