"""Reading a settings file in ``seed_data/`` into a pydantic model, every problem named by file and key.

A bad file raises ``SeedError`` whose ``problems`` read ``touchpoints.yaml: purposes.check_in.late_minutes_max:
Input should be greater than or equal to 0``, so whoever edits the file knows what to fix and where.
"""

import os
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from clinic.columns import Language
from clinic.errors import SeedError
from outreach.yaml_problems import load as load_yaml
from outreach.yaml_problems import read_text, syntax_problem, validation_problems

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Texts(Strict):
    """A text per language; English is required, the others fall back to it."""

    en: str
    nl: str | None = None
    fr: str | None = None

    def get(self, language: object) -> str:
        code = str(getattr(language, "value", language) or "en")[:2]
        if code not in {lang.value for lang in Language}:
            code = "en"
        return getattr(self, code, None) or self.en


def seed_file(filename: str) -> Path:
    """``$ONEVISIT_SEED_DIR/<filename>``, else the checkout's ``seed_data/<filename>``."""
    directory = os.environ.get("ONEVISIT_SEED_DIR") or Path(__file__).resolve().parents[1] / "seed_data"
    return Path(directory) / filename


def file_stamp(path: Path) -> int:
    """The file's modification time (0 when it is missing): part of a cache key, so an edited file is read again."""
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def file_text(path: Path) -> str:
    """The file's text, or ``SeedError`` naming the file (and line) when ``outreach.yaml_problems.read_text``
    cannot take it."""
    try:
        return read_text(path)
    except ValueError as exc:
        raise SeedError([f"{path.name}: {exc}"]) from None


def read_model(path: Path, model: type[M]) -> M:
    """``path`` parsed as YAML and validated as ``model``; ``SeedError`` lists every problem."""
    name = path.name
    text = file_text(path)
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise SeedError([f"{name}: {syntax_problem(exc)}"]) from None
    if not isinstance(data, dict):
        raise SeedError([f"{name}: expected a mapping of settings at the top, got {type(data).__name__}"])
    try:
        return model.model_validate(data, context={"file": name})
    except PydanticValidationError as exc:
        raise SeedError(validation_problems(name, exc.errors())) from None
