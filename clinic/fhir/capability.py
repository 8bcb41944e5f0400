"""The one table of what the FHIR API supports, from which ``GET /fhir/metadata`` is written.

A module that adds an interaction, a search parameter or an operation registers it here
(``support(...)``, ``add_operation(...)``) next to its code, so the CapabilityStatement never claims what
the server does not do, nor hides what it does."""

from dataclasses import dataclass, field
from typing import Any

FHIR_VERSION = "4.0.1"
SOFTWARE = "OneVisit"


@dataclass
class SearchParam:
    name: str
    type: str  # token, reference, date, string, number, special
    documentation: str = ""


@dataclass
class Operation:
    name: str  # without the $
    definition: str  # canonical URL of the OperationDefinition
    documentation: str = ""


@dataclass
class ResourceSupport:
    type: str
    #: read, vread, update, create, search-type, ...
    interactions: list[str] = field(default_factory=list)
    search_params: list[SearchParam] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)
    profile: str | None = None
    documentation: str = ""


SUPPORTED: dict[str, ResourceSupport] = {}


def support(
    resource_type: str, *, interactions: list[str] = (), search_params: list[SearchParam] = (),  # type: ignore[assignment]
    documentation: str = "",
) -> ResourceSupport:
    """Declare (or extend) what the API does with ``resource_type``."""
    entry = SUPPORTED.setdefault(resource_type, ResourceSupport(type=resource_type))
    entry.interactions.extend(i for i in interactions if i not in entry.interactions)
    known = {p.name for p in entry.search_params}
    entry.search_params.extend(p for p in search_params if p.name not in known)
    if documentation and not entry.documentation:
        entry.documentation = documentation
    return entry


def add_operation(resource_type: str, operation: Operation) -> None:
    entry = support(resource_type)
    if all(op.name != operation.name for op in entry.operations):
        entry.operations.append(operation)


def capability_statement(*, base_url: str, date: str, token_url: str) -> dict[str, Any]:
    """The server's CapabilityStatement (R4, JSON) for the table as it is now."""
    resources = []
    for entry in sorted(SUPPORTED.values(), key=lambda e: e.type):
        resource: dict[str, Any] = {"type": entry.type}
        if entry.profile:
            resource["profile"] = entry.profile
        if entry.documentation:
            resource["documentation"] = entry.documentation
        if entry.interactions:
            resource["interaction"] = [{"code": code} for code in entry.interactions]
        if entry.search_params:
            resource["searchParam"] = [
                {"name": p.name, "type": p.type, **({"documentation": p.documentation} if p.documentation else {})}
                for p in entry.search_params
            ]
        if entry.operations:
            resource["operation"] = [
                {"name": op.name, "definition": op.definition,
                 **({"documentation": op.documentation} if op.documentation else {})}
                for op in entry.operations
            ]
        resources.append(resource)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "kind": "instance",
        "software": {"name": SOFTWARE},
        "implementation": {"description": "OneVisit day-care scheduling", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "security": {
                "cors": False,
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR",
                }]}],
                "description": "Bearer tokens: issued by an administrator, or by SMART backend services "
                               "(client_credentials with a private_key_jwt assertion) at the token endpoint.",
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [{"url": "token", "valueUri": token_url}],
                }],
            },
            "resource": resources,
        }],
    }
