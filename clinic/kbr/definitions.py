"""The KBR definitions (``seed_data/kbrs.yaml``): reading and validation.

Pure Python. A file with any error is rejected whole: ``KbrFileError.problems`` names the file, the KBR
(id, or its position) and the field of each problem.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from outreach.yaml_problems import load as load_yaml
from outreach.yaml_problems import read_text, syntax_problem

LANGUAGES = ("en", "nl", "fr")
UNITS = ("percent", "minutes", "hours", "eur")
DIRECTIONS = ("higher", "lower")
PERIODS = ("week",)
COST_ITEMS = ("coffee_voucher", "volunteer_hour", "transport_ride")
_KBR_KEYS = frozenset({"id", "name", "measures", "unit", "direction", "period", "promise", "target"})


@dataclass(frozen=True)
class Kbr:
    id: str
    name: str
    measures: str
    unit: str
    direction: str
    period: str
    promise_text: str
    target: float
    promise: float | None = None
    texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """``name``, ``measures`` and ``promise`` per language (English always there)."""

    def text(self, name: str, language: object = "en") -> str:
        """``name``, ``measures`` or ``promise`` in ``language`` (falling back to English)."""
        code = str(getattr(language, "language", None) or language or "en")[:2]
        texts = self.texts.get(name, {})
        return (
            texts.get(code) or texts.get("en") or getattr(self, "promise_text" if name == "promise" else name)
        )

    def met(self, value: float | None, threshold: float | None) -> bool | None:
        """Whether ``value`` meets ``threshold`` in this KBR's direction; ``None`` without a value or threshold."""
        if value is None or threshold is None:
            return None
        return value >= threshold if self.direction == "higher" else value <= threshold


@dataclass(frozen=True)
class KbrSet:
    kbrs: tuple[Kbr, ...]
    unit_costs: Mapping[str, int]
    source: str = "kbrs.yaml"

    def get(self, kbr_id: str) -> Kbr:
        for kbr in self.kbrs:
            if kbr.id == kbr_id:
                return kbr
        raise KeyError(kbr_id)


class KbrFileError(ValueError):
    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_kbrs(text: str, *, filename: str = "kbrs.yaml", known_ids: Iterable[str]) -> KbrSet:
    """Validate ``text`` (YAML) whole; ``known_ids`` are the figure functions a KBR may name."""
    known = tuple(known_ids)
    problems: list[str] = []

    def add(where: str, message: str) -> None:
        problems.append(f"{filename}: {where}: {message}")

    try:
        document = load_yaml(text)
    except yaml.YAMLError as exc:
        raise KbrFileError([f"{filename}: {syntax_problem(exc)}"]) from None
    if not isinstance(document, Mapping):
        raise KbrFileError([f"{filename}: expected a mapping with version, unit_costs and kbrs"])
    if document.get("version") != 1:
        add("field version", f"must be 1, not {document.get('version')!r}")
    for key in sorted(set(document) - {"version", "unit_costs", "kbrs"}):
        add(f"field {key}", "unknown top-level field (use version, unit_costs, kbrs)")
    costs = document.get("unit_costs")
    unit_costs: dict[str, int] = {}
    if not isinstance(costs, Mapping):
        add("field unit_costs", f"must map {', '.join(COST_ITEMS)} to euro cents")
    else:
        for item in COST_ITEMS:
            value = costs.get(item)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                add(f"field unit_costs.{item}", f"required: whole euro cents, 0 or more, not {value!r}")
            else:
                unit_costs[item] = value
        for key in sorted(set(costs) - set(COST_ITEMS)):
            add(f"field unit_costs.{key}", f"unknown cost (use {', '.join(COST_ITEMS)})")
    raw_kbrs = document.get("kbrs")
    kbrs: list[Kbr] = []
    if not isinstance(raw_kbrs, list) or not raw_kbrs:
        add("field kbrs", "must be a non-empty list of KBRs")
        raw_kbrs = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_kbrs):
        kbr = _parse_kbr(raw, index, known, add)
        if kbr is None:
            continue
        if kbr.id in seen:
            add(f"KBR {kbr.id}: field id", "used twice; KBR ids must be unique")
            continue
        seen.add(kbr.id)
        kbrs.append(kbr)
    if problems:
        raise KbrFileError(problems)
    return KbrSet(kbrs=tuple(kbrs), unit_costs=unit_costs, source=filename)


def _parse_kbr(raw: Any, index: int, known: tuple[str, ...], add: Callable[[str, str], None]) -> Kbr | None:
    if not isinstance(raw, Mapping):
        add(f"KBR #{index + 1}", "each KBR must be a mapping")
        return None
    kbr_id = raw.get("id")
    name = f"KBR {kbr_id}" if isinstance(kbr_id, str) and kbr_id else f"KBR #{index + 1}"
    problems: list[str] = []

    def bad(field: str, message: str) -> None:
        problems.append(field)
        add(f"{name}: field {field}", message)

    for key in sorted(set(raw) - _KBR_KEYS):
        bad(key, f"unknown field (use {', '.join(sorted(_KBR_KEYS))})")
    if kbr_id not in known:
        bad("id", f"must name a figure: one of {', '.join(known)}, not {kbr_id!r}")
    texts: dict[str, dict[str, str]] = {}
    for text_field in ("name", "measures"):
        parsed = _texts(raw.get(text_field), text_field, bad)
        if parsed:
            texts[text_field] = parsed
    unit = raw.get("unit")
    if unit not in UNITS:
        bad("unit", f"must be one of {', '.join(UNITS)}, not {unit!r}")
    direction = raw.get("direction")
    if direction not in DIRECTIONS:
        bad("direction", f"must be higher or lower (which is better), not {direction!r}")
    period = raw.get("period", "week")
    if period not in PERIODS:
        bad("period", f"must be week, not {period!r}")
    target = raw.get("target")
    if not _number(target):
        bad("target", f"required: the internal target, a number, not {target!r}")
    elif unit == "percent" and not 0 <= target <= 100:
        bad("target", f"a percentage lies between 0 and 100, not {target}")
    elif target < 0:
        bad("target", f"cannot be negative ({target})")
    promise = raw.get("promise")
    promise_value: float | None = None
    promise_text = ""
    if not isinstance(promise, Mapping):
        bad("promise", "required: {value: number (optional), text: what the patient is told}")
    else:
        for key in sorted(set(promise) - {"value", "text"}):
            bad(f"promise.{key}", "unknown field (use value, text)")
        promise_texts = _texts(promise.get("text"), "promise.text", bad)
        promise_text = promise_texts.get("en", "") if promise_texts else ""
        if promise_texts:
            texts["promise"] = promise_texts
        promise_value = promise.get("value")
        if promise_value is not None:
            if not _number(promise_value):
                bad("promise.value", f"must be a number, not {promise_value!r}")
            elif _number(target) and direction in DIRECTIONS:
                stricter = target >= promise_value if direction == "higher" else target <= promise_value
                if not stricter:
                    bad(
                        "target",
                        f"the internal target ({target}) must be at least as strict as the promise "
                        f"({promise_value}) for a KBR where {direction} is better",
                    )
    if problems:
        return None
    return Kbr(
        id=kbr_id,
        name=texts["name"]["en"],
        measures=texts["measures"]["en"],
        unit=unit,
        direction=direction,
        period=period,
        promise_text=promise_text,
        target=float(target),
        promise=float(promise_value) if promise_value is not None else None,
        texts=texts,
    )


def _texts(value: Any, where: str, bad: Callable[[str, str], None]) -> dict[str, str] | None:
    """A text, or a text per language ``{en: ..., nl: ..., fr: ...}`` (English required)."""
    if isinstance(value, str) and value.strip():
        return {"en": value.strip()}
    if isinstance(value, Mapping) and value:
        out: dict[str, str] = {}
        for language, text in value.items():
            if language not in LANGUAGES:
                bad(f"{where}.{language}", f"unknown language (use {', '.join(LANGUAGES)})")
            elif not isinstance(text, str) or not text.strip():
                bad(f"{where}.{language}", "required text")
            else:
                out[language] = text.strip()
        if "en" not in value:
            bad(f"{where}.en", "required: the English text (other languages fall back to it)")
        return out if "en" in out else None
    bad(where, "required text (or a text per language: {en: ..., nl: ..., fr: ...})")
    return None


def load_kbrs(path: str | Path, *, known_ids: Iterable[str]) -> KbrSet:
    path = Path(path)
    try:
        text = read_text(path)
    except ValueError as exc:
        raise KbrFileError([f"{path.name}: {exc}"]) from None
    return parse_kbrs(text, filename=path.name, known_ids=known_ids)
