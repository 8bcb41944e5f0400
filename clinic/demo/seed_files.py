"""The demo clinic's seed files: their schemas, reading, and cross-checks between them.

Every problem in every file is collected and reported as ``file: row/path: field: message``
(``SeedError.problems``) before anything touches the database.
"""

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from clinic.columns import Language
from clinic.errors import SeedError
from clinic.patients.models import PatientCreate, normalise_phone
from clinic.unit.models import ResourceKind
from clinic.users.models import Role
from clinic.yaml_files import file_text
from outreach.yaml_problems import load as load_yaml
from outreach.yaml_problems import syntax_problem, validation_problems

FILES = {
    "resources": "resources.yaml",
    "step_types": "step_types.yaml",
    "pathways": "pathways.yaml",
    "patients": "patients.csv",
    "volunteers": "volunteers.yaml",
    "users": "users.yaml",
    "visits": "visits.yaml",
}


def _hhmm(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if not isinstance(value, str):
        raise ValueError(f'expected a time as "HH:MM" in quotes, got {value!r}')
    try:
        hours, minutes = value.strip().split(":")
        if len(minutes) != 2:
            raise ValueError
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day (HH:MM, 00:00-23:59)") from None


Time = Annotated[dt.time, BeforeValidator(_hhmm)]
Weekday = Annotated[int, Field(ge=0, le=6)]
Names = dict[Language, Annotated[str, Field(min_length=1, max_length=120)]]
"""A name in other languages than the default ``name``: ``{nl: ..., fr: ...}``."""
Skill = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")]
"""A qualification code (``oncology``, ``chemo-certified``): lower case, digits and dashes."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _ordered_window(start: dt.time, end: dt.time) -> None:
    if end <= start:
        raise ValueError(f"window {start:%H:%M}-{end:%H:%M} ends before it starts")


class HoursIn(_Strict):
    weekdays: list[Weekday] = Field(min_length=1)
    windows: list[tuple[Time, Time]] = Field(min_length=1)

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: list[tuple[dt.time, dt.time]]) -> list[tuple[dt.time, dt.time]]:
        for start, end in value:
            _ordered_window(start, end)
        return value


class ResourceIn(_Strict):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=120)
    kind: ResourceKind
    capacity: int = Field(default=1, ge=1)
    attributes: list[str] = []
    skills: list[Skill] = []
    hours: list[HoursIn] = []


class ClosureIn(_Strict):
    date: dt.date | None = None
    offset_days: int | None = None
    resource: str | None = None
    starts: Time | None = Field(default=None, alias="from")
    ends: Time | None = Field(default=None, alias="to")
    reason: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _consistent(self) -> "ClosureIn":
        if (self.date is None) == (self.offset_days is None):
            raise ValueError("give exactly one of date and offset_days")
        if (self.starts is None) != (self.ends is None):
            raise ValueError("give both from and to, or neither (all day)")
        if self.starts and self.ends:
            _ordered_window(self.starts, self.ends)
        return self


class ResourcesFile(_Strict):
    """``skills`` lists every skill the unit knows; a resource's or pathway step's skill outside it is a typo."""

    skills: list[Skill] = []
    resources: list[ResourceIn] = Field(min_length=1)
    closures: list[ClosureIn] = []


class StepTypeIn(_Strict):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=120)
    names: Names = {}
    resource_kind: ResourceKind
    default_minutes: int = Field(gt=0, le=24 * 60)
    tariff_cents: int = Field(default=0, ge=0)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    vat_rate_bp: int = Field(default=0, ge=0, le=10000)


class StepTypesFile(_Strict):
    step_types: list[StepTypeIn] = Field(min_length=1)


class PathwayStepIn(_Strict):
    code: str = Field(min_length=1, max_length=20)
    type: str
    after: list[str] = []
    min_gap: int = Field(default=0, ge=0)
    max_gap: int | None = Field(default=None, ge=0)
    minutes: int | None = Field(default=None, gt=0)
    resource: str | None = None
    skills: list[Skill] = []

    @model_validator(mode="after")
    def _gaps(self) -> "PathwayStepIn":
        if self.max_gap is not None and self.max_gap < self.min_gap:
            raise ValueError("max_gap is smaller than min_gap")
        if (self.min_gap or self.max_gap is not None) and not self.after:
            raise ValueError("min_gap/max_gap need an `after` step")
        return self


class PathwayIn(_Strict):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=120)
    names: Names = {}
    description: str = ""
    max_visit_minutes: int | None = Field(default=None, gt=0)
    steps: list[PathwayStepIn] = Field(min_length=1)


class PathwaysFile(_Strict):
    pathways: list[PathwayIn] = Field(min_length=1)


class AvailabilityIn(_Strict):
    weekday: Weekday
    starts: Time = Field(alias="from")
    ends: Time = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> "AvailabilityIn":
        _ordered_window(self.starts, self.ends)
        return self


class VolunteerIn(_Strict):
    name: str = Field(min_length=1, max_length=120)
    phone: str
    languages: list[Language] = Field(min_length=1)
    availability: list[AvailabilityIn] = []
    active: bool = True

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalise_phone(value)


class VolunteersFile(_Strict):
    volunteers: list[VolunteerIn] = []


class UserIn(_Strict):
    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,39}$")
    display_name: str = Field(min_length=1, max_length=120)
    role: Role
    password: str = Field(min_length=8)
    language: Language | None = None
    volunteer: str | None = None


class UsersFile(_Strict):
    users: list[UserIn] = Field(min_length=1)


class DayRange(_Strict):
    min: int = Field(ge=0)
    max: int = Field(ge=0)


class WaitlistPlan(_Strict):
    entries: int = Field(default=20, ge=0, le=1000)
    priority_weights: dict[Annotated[int, Field(ge=1, le=5)], Annotated[int, Field(ge=0)]] = {3: 1}


class VisitPlanIn(_Strict):
    random_seed: int = 1
    days_back: int = Field(default=7, ge=0, le=60)
    days_ahead: int = Field(default=7, ge=0, le=60)
    visits_per_day: DayRange
    pathway_mix: dict[str, Annotated[int, Field(gt=0)]] = Field(min_length=1)
    arrival_windows: list[tuple[Time, Time]] = Field(min_length=1)
    past_no_show: float = Field(default=0.0, ge=0, le=1)
    past_cancelled: float = Field(default=0.0, ge=0, le=1)
    future_confirmed: float = Field(default=0.0, ge=0, le=1)
    waitlist: WaitlistPlan = WaitlistPlan()


@dataclass
class SeedSet:
    """Everything in a seed directory, validated."""

    resources: ResourcesFile
    step_types: StepTypesFile
    pathways: PathwaysFile
    patients: list[PatientCreate]
    volunteers: VolunteersFile
    users: UsersFile
    visits: VisitPlanIn


@dataclass
class PolicySet:
    """The unit's own files stored in the database (no patients, volunteers, users or visits), validated."""

    resources: ResourcesFile
    step_types: StepTypesFile
    pathways: PathwaysFile


# --- reading and validating --------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def _read_yaml(path: Path, model: type[M], problems: list[str]) -> M | None:
    if not path.is_file():
        problems.append(f"{path.name}: file is missing in {path.parent}")
        return None
    try:
        data = load_yaml(file_text(path))
    except SeedError as exc:
        problems.extend(exc.problems)
        return None
    except yaml.YAMLError as exc:
        problems.append(f"{path.name}: {syntax_problem(exc)}")
        return None
    try:
        return model.model_validate(data or {})
    except PydanticValidationError as exc:
        problems.extend(validation_problems(path.name, exc.errors(), bare=True))
        return None


def _read_patients(path: Path, problems: list[str]) -> list[PatientCreate]:
    if not path.is_file():
        problems.append(f"{path.name}: file is missing in {path.parent}")
        return []
    patients: list[PatientCreate] = []
    try:
        text = file_text(path)
    except SeedError as exc:
        problems.extend(exc.problems)
        return []
    with io.StringIO(text, newline="") as handle:
        reader = csv.DictReader(handle)
        expected = set(PatientCreate.model_fields)
        header = set(reader.fieldnames or ())
        if missing := sorted(f for f in expected - header if PatientCreate.model_fields[f].is_required()):
            problems.append(f"{path.name}: header: missing column(s) {', '.join(missing)}")
            return []
        if unknown := sorted(header - expected):
            problems.append(f"{path.name}: header: unknown column(s) {', '.join(unknown)}")
            return []
        seen: dict[str, int] = {}
        for row in reader:
            line = reader.line_num
            if None in row:
                problems.append(f"{path.name}: row {line}: more values than columns")
                continue
            values = {k: v for k, v in row.items() if v is not None and not (v == "" and k != "email")}
            try:
                patient = PatientCreate.model_validate(values)
            except PydanticValidationError as exc:
                problems.extend(validation_problems(f"{path.name}: row {line}", exc.errors(), bare=True))
                continue
            if patient.mrn in seen:
                problems.append(
                    f"{path.name}: row {line}: mrn: {patient.mrn} already used on row {seen[patient.mrn]}"
                )
                continue
            seen[patient.mrn] = line
            patients.append(patient)
    return patients


def _duplicates(file: str, items: list[Any], key: Callable[[Any], str], path: str) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for index, item in enumerate(items):
        value = key(item)
        if value in seen:
            out.append(f"{file}: {path}[{index}]: {value!r} already used at {path}[{seen[value]}]")
        seen.setdefault(value, index)
    return out


def _unknown_skills(where: str, skills: list[str], known: set[str]) -> list[str]:
    return [
        f"{where}[{k}]: unknown skill {skill!r} (the skills are listed under `skills` in {FILES['resources']})"
        for k, skill in enumerate(skills)
        if skill not in known
    ]


def _step_skill_problems(
    where: str, step: "PathwayStepIn", step_type: StepTypeIn | None, resources: dict[str, ResourceIn], known: set[str]
) -> list[str]:
    """A step's skills are known ones, and some resource of its kind (its own ``resource``, if set) has them all."""
    if not step.skills:
        return []
    if unknown := _unknown_skills(f"{where}.skills", step.skills, known):
        return unknown
    if step_type is None:
        return []
    needed = set(step.skills)
    if step.resource is not None:
        own = resources.get(step.resource)
        if own is None or own.kind != step_type.resource_kind:
            return []
        if missing := sorted(needed - set(own.skills)):
            return [f"{where}.skills: {step.resource!r} (the step's resource) lacks {', '.join(missing)}"]
        return []
    kind = step_type.resource_kind
    if not any(r.kind == kind and needed <= set(r.skills) for r in resources.values()):
        return [f"{where}.skills: no {kind.value} resource has {', '.join(step.skills)}"]
    return []


def _cross_check(s: SeedSet) -> list[str]:
    """References between files: step types, resources, volunteers, pathway step DAGs."""
    problems = _policy_cross_check(s)
    problems += _duplicates(FILES["volunteers"], s.volunteers.volunteers, lambda v: v.name, "volunteers")
    problems += _duplicates(FILES["users"], s.users.users, lambda u: u.username, "users")
    volunteers = {v.name for v in s.volunteers.volunteers}
    for i, user in enumerate(s.users.users):
        if user.volunteer is not None and user.volunteer not in volunteers:
            problems.append(f"{FILES['users']}: users[{i}].volunteer: unknown volunteer {user.volunteer!r}")
    pathway_codes = {p.code for p in s.pathways.pathways}
    for code in s.visits.pathway_mix:
        if code not in pathway_codes:
            problems.append(f"{FILES['visits']}: pathway_mix.{code}: unknown pathway")
    if s.visits.visits_per_day.max < s.visits.visits_per_day.min:
        problems.append(f"{FILES['visits']}: visits_per_day: max is smaller than min")
    if s.visits.visits_per_day.max > len(s.patients):
        problems.append(f"{FILES['visits']}: visits_per_day.max: more than the {len(s.patients)} patients")
    for i, (start, end) in enumerate(s.visits.arrival_windows):
        if end < start:
            problems.append(f"{FILES['visits']}: arrival_windows[{i}]: ends before it starts")
    return problems


def _policy_cross_check(s: "SeedSet | PolicySet") -> list[str]:
    """References between the unit's own files: resources, step types, skills, pathway step DAGs."""
    problems: list[str] = []
    res_file, st_file, pw_file = FILES["resources"], FILES["step_types"], FILES["pathways"]
    problems += _duplicates(res_file, s.resources.resources, lambda r: r.code, "resources")
    problems += _duplicates(st_file, s.step_types.step_types, lambda t: t.code, "step_types")
    problems += _duplicates(pw_file, s.pathways.pathways, lambda p: p.code, "pathways")
    problems += _duplicates(res_file, s.resources.skills, lambda skill: skill, "skills")
    resources = {r.code: r for r in s.resources.resources}
    step_types = {t.code: t for t in s.step_types.step_types}
    known_skills = set(s.resources.skills)
    for i, resource in enumerate(s.resources.resources):
        problems += _unknown_skills(f"{res_file}: resources[{i}].skills", resource.skills, known_skills)
    for i, closure in enumerate(s.resources.closures):
        if closure.resource is not None and closure.resource not in resources:
            problems.append(f"{res_file}: closures[{i}].resource: unknown resource {closure.resource!r}")
    kinds = {r.kind for r in s.resources.resources}
    for i, step_type in enumerate(s.step_types.step_types):
        if step_type.resource_kind not in kinds:
            problems.append(
                f"{st_file}: step_types[{i}].resource_kind: no resource of kind {step_type.resource_kind.value!r}"
            )
    for i, pathway in enumerate(s.pathways.pathways):
        problems += _duplicates(pw_file, pathway.steps, lambda st: st.code, f"pathways[{i}].steps")
        earlier: set[str] = set()
        for j, step in enumerate(pathway.steps):
            where = f"{pw_file}: pathways[{i}].steps[{j}]"
            step_type = step_types.get(step.type)
            if step_type is None:
                problems.append(f"{where}.type: unknown step type {step.type!r}")
            if step.resource is not None:
                resource = resources.get(step.resource)
                if resource is None:
                    problems.append(f"{where}.resource: unknown resource {step.resource!r}")
                elif step_type is not None and resource.kind != step_type.resource_kind:
                    problems.append(
                        f"{where}.resource: {step.resource!r} is a {resource.kind.value}, "
                        f"the step needs a {step_type.resource_kind.value}"
                    )
            problems += _step_skill_problems(where, step, step_type, resources, known_skills)
            for name in step.after:
                if name not in earlier:
                    problems.append(f"{where}.after: {name!r} is not an earlier step of this pathway")
            earlier.add(step.code)
    return problems


def read_seed(directory: Path) -> SeedSet:
    """Every seed file, validated and cross-checked; ``SeedError`` lists every problem found."""
    directory = Path(directory)
    problems: list[str] = []
    if not directory.is_dir():
        raise SeedError([f"{directory}: seed directory does not exist"])
    parts = {
        "resources": _read_yaml(directory / FILES["resources"], ResourcesFile, problems),
        "step_types": _read_yaml(directory / FILES["step_types"], StepTypesFile, problems),
        "pathways": _read_yaml(directory / FILES["pathways"], PathwaysFile, problems),
        "patients": _read_patients(directory / FILES["patients"], problems),
        "volunteers": _read_yaml(directory / FILES["volunteers"], VolunteersFile, problems),
        "users": _read_yaml(directory / FILES["users"], UsersFile, problems),
        "visits": _read_yaml(directory / FILES["visits"], VisitPlanIn, problems),
    }
    if problems:
        raise SeedError(problems)
    seed = SeedSet(**parts)  # type: ignore[arg-type]
    if problems := _cross_check(seed):
        raise SeedError(problems)
    return seed


def read_policy(directory: Path) -> PolicySet:
    """The resources, step types and pathways of ``directory``, validated and cross-checked (``SeedError``
    lists every problem); the patient, volunteer, user and visit files are neither needed nor read."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SeedError([f"{directory}: policy directory does not exist"])
    problems: list[str] = []
    parts = {
        "resources": _read_yaml(directory / FILES["resources"], ResourcesFile, problems),
        "step_types": _read_yaml(directory / FILES["step_types"], StepTypesFile, problems),
        "pathways": _read_yaml(directory / FILES["pathways"], PathwaysFile, problems),
    }
    if problems:
        raise SeedError(problems)
    policy = PolicySet(**parts)  # type: ignore[arg-type]
    if problems := _policy_cross_check(policy):
        raise SeedError(problems)
    return policy


def read_users(directory: Path) -> list[UserIn]:
    """The demo sign-ins (for ``flask demo-sign-ins``)."""
    problems: list[str] = []
    users = _read_yaml(Path(directory) / FILES["users"], UsersFile, problems)
    if problems or users is None:
        raise SeedError(problems)
    return users.users
