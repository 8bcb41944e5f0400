"""OperationOutcome: how every FHIR error is told (``issue`` with severity, code, diagnostics, expression).

``FhirError`` is what the FHIR views and operations raise (no Flask here); the blueprint's error handlers
(``clinic.fhir.auth``) turn it, domain errors and HTTP errors into an ``application/fhir+json`` answer.
"""

from dataclasses import dataclass, field
from typing import Any

from clinic.errors import Conflict, DomainError, Forbidden, NotFound, ValidationError

#: The issue type (``OperationOutcome.issue.code``, value set issue-type) for each HTTP status.
ISSUE_CODES = {
    400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
    406: "not-supported", 409: "conflict", 410: "deleted", 412: "conflict", 413: "too-costly",
    415: "not-supported", 422: "processing", 429: "throttled", 500: "exception", 501: "not-supported",
}


@dataclass(frozen=True)
class Issue:
    diagnostics: str
    code: str = "invalid"
    severity: str = "error"
    #: FHIRPath of the element at fault, e.g. ``Appointment.participant[0].actor`` or a search parameter.
    expression: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


def operation_outcome(issues: list[Issue] | Issue) -> dict[str, Any]:
    issues = [issues] if isinstance(issues, Issue) else issues
    return {"resourceType": "OperationOutcome", "issue": [issue.as_json() for issue in issues]}


@dataclass
class FhirError(Exception):
    """An error answered with ``status`` and an OperationOutcome of ``issues``; ``headers`` added."""

    status: int
    issues: list[Issue]
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(issue.diagnostics for issue in self.issues)

    @property
    def body(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


def fhir_error(status: int, diagnostics: str, *, expression: str | None = None, code: str | None = None,
               headers: dict[str, str] | None = None) -> FhirError:
    """One issue, its code from ``status`` unless given: ``raise fhir_error(400, "...", expression="date")``."""
    issue = Issue(diagnostics=diagnostics, code=code or ISSUE_CODES.get(status, "exception"),
                  expression=(expression,) if expression else ())
    return FhirError(status=status, issues=[issue], headers=dict(headers or {}))


def from_domain_error(exc: DomainError, *, prefix: str = "") -> FhirError:
    """A service's error as FHIR sees it: not found 404, conflict 409, forbidden 403, else 422 (400 for a
    search parameter). ``prefix`` turns the service's field into a FHIRPath (``Patient.`` + field)."""
    status = 422
    if isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, Conflict):
        status = 409
    elif isinstance(exc, Forbidden):
        status = 403
    elif isinstance(exc, ValidationError) and not prefix:
        status = 400
    expression = f"{prefix}{exc.field}" if exc.field else None
    return fhir_error(status, exc.message, expression=expression)
