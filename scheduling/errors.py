"""Errors the engine raises for input it cannot work with."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an instance: where (a JSON path such as ``requests[3].steps[1].after``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class InstanceFormatError(ValueError):
    """The instance is malformed; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class InstanceContradiction(ValueError):
    """The instance is well formed but contradictory (e.g. booked visits already overload a resource)."""

    def __init__(self, reasons: list[str]):
        self.reasons = list(reasons)
        super().__init__("; ".join(self.reasons))
