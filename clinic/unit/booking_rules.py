"""The segment booking rules (``seed_data/booking_rules.yaml``): what a patient's segments ask of a visit,
each rule ``hard`` (never bent) or a ``preference`` the Book screen may bend, a little at a time, when
nothing fits otherwise.

Read once by ``clinic.bootstrap`` into ``Unit.booking_rules``; a bad file raises ``SeedError`` naming
file and key (``booking_rules.yaml: rules.wheelchair.kind: Input should be 'hard'``).
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from clinic.yaml_files import Strict, Texts, file_stamp, read_model, seed_file

FILENAME = "booking_rules.yaml"
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

LONG_DISTANCE_EARLIEST = "long_distance_earliest"
HOME_BEFORE_DARK = "home_before_dark"
SENIOR_MAX_WAIT = "senior_max_wait"
WHEELCHAIR = "wheelchair"


class Bend(Strict):
    """How far a preference may bend: in steps of ``step_minutes``, at most ``max_minutes`` in all."""

    step_minutes: int = Field(ge=5, le=240)
    max_minutes: int = Field(ge=0, le=600)

    @model_validator(mode="after")
    def _whole_steps(self) -> "Bend":
        if self.max_minutes % self.step_minutes:
            raise ValueError("max_minutes must be a whole number of step_minutes")
        return self

    def levels(self) -> tuple[int, ...]:
        """``0, step, 2 step, ... max``: the amounts a proposal may bend this preference by."""
        return tuple(range(0, self.max_minutes + 1, self.step_minutes))


class Rule(Strict):
    kind: Literal["hard", "preference"]
    label: Texts
    bend: Bend | None = None

    @model_validator(mode="after")
    def _bend_fits_kind(self) -> "Rule":
        if self.kind == "preference" and self.bend is None:
            raise ValueError("a preference needs `bend` (step_minutes, max_minutes)")
        if self.kind == "hard" and self.bend is not None:
            raise ValueError("a hard rule never bends: remove `bend`")
        return self

    @property
    def bendable(self) -> bool:
        return self.kind == "preference" and self.bend is not None and self.bend.max_minutes > 0

    def levels(self) -> tuple[int, ...]:
        return self.bend.levels() if self.bendable and self.bend else (0,)


class EarliestArrival(Rule):
    """Long-distance patients do not arrive before ``earliest`` (they travel outside the rush hour)."""

    earliest: str

    @field_validator("earliest")
    @classmethod
    def _time(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("use a time such as 10:00")
        return value

    @property
    def earliest_minutes(self) -> int:
        hours, minutes = self.earliest.split(":")
        return int(hours) * 60 + int(minutes)


class HomeBeforeDark(Rule):
    """Long-distance patients leave ``distance / travel_kmh`` before sunset at the clinic's position."""

    travel_kmh: float = Field(gt=0, le=200)
    rounding_minutes: int = Field(ge=1, le=120)
    latitude: float = Field(ge=-66, le=66)
    longitude: float = Field(ge=-180, le=180)


class MaxWait(Rule):
    """Patients of 70 and over wait at most ``minutes`` in all (beyond the pathway's shortest visit)."""

    minutes: int = Field(ge=0, le=600)


class Wheelchair(Rule):
    """Wheelchair users only get resources carrying ``attribute``: a hard rule, always."""

    kind: Literal["hard"]
    attribute: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")


class Rules(Strict):
    long_distance_earliest: EarliestArrival
    home_before_dark: HomeBeforeDark
    senior_max_wait: MaxWait
    wheelchair: Wheelchair


class BookingRules(Strict):
    version: Literal[1]
    rules: Rules

    def rule(self, rule_id: str) -> Rule:
        found = getattr(self.rules, rule_id, None)
        if not isinstance(found, Rule):
            raise KeyError(rule_id)
        return found

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(Rules.model_fields)


@dataclass(frozen=True)
class Bends:
    """How many minutes each preference is bent by (rule id -> minutes); empty: every rule as it is."""

    minutes: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, values: Mapping[str, int] | Iterable[tuple[str, int]]) -> "Bends":
        items = values.items() if isinstance(values, Mapping) else values
        return cls(tuple(sorted((rule, int(m)) for rule, m in items if m)))

    def get(self, rule_id: str) -> int:
        return dict(self.minutes).get(rule_id, 0)

    def __bool__(self) -> bool:
        return bool(self.minutes)

    @property
    def count(self) -> int:
        return len(self.minutes)

    @property
    def total(self) -> int:
        return sum(m for _, m in self.minutes)

    def encode(self) -> str:
        """``home_before_dark=90,long_distance_earliest=60`` (empty when nothing is bent)."""
        return ",".join(f"{rule}={m}" for rule, m in self.minutes)

    @classmethod
    def decode(cls, text: str) -> "Bends":
        """The inverse of ``encode``; ``ValueError`` on anything else."""
        if not text:
            return cls()
        pairs = []
        for part in text.split(","):
            rule, _, value = part.partition("=")
            if not re.fullmatch(r"[a-z_]{1,40}", rule) or not re.fullmatch(r"\d{1,4}", value):
                raise ValueError(part)
            pairs.append((rule, int(value)))
        if len({rule for rule, _ in pairs}) != len(pairs):
            raise ValueError(text)
        return cls.of(pairs)

    def allowed_by(self, rules: BookingRules, applying: Iterable[str]) -> bool:
        """Only preferences that apply to the patient, by a whole number of steps, within their maximum."""
        applying = set(applying)
        for rule_id, minutes in self.minutes:
            if rule_id not in applying:
                return False
            try:
                rule = rules.rule(rule_id)
            except KeyError:
                return False
            if not rule.bendable or minutes not in rule.levels():
                return False
        return True


NO_BENDS = Bends()


def load_booking_rules(path: Path | None = None) -> BookingRules:
    """The validated file (cached until it changes); ``SeedError`` names file and key of every problem."""
    path = Path(path) if path is not None else seed_file(FILENAME)
    return _load(str(path), file_stamp(path))


@lru_cache(maxsize=8)
def _load(path: str, _stamp: int) -> BookingRules:
    return read_model(Path(path), BookingRules)
