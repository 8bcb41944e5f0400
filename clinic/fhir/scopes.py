"""SMART scopes for backend services: ``system/<Type>.<permissions>``.

SMART v1 permissions are ``read``, ``write`` and ``*``; v2 permissions are letters from ``cruds`` (create,
read, update, delete, search). Both are read into the same letters: ``read`` is ``rs``, ``write`` is ``cud``
and ``*`` is ``cruds``, so a client granted ``system/Appointment.rs`` may do what ``system/Appointment.read``
asks, and ``system/*.read`` covers every type. Only ``system/`` scopes exist here: the API has no patients or
users signing in.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from clinic.errors import ValidationError

V1_LETTERS = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"system/(?P<type>\*|[A-Z][A-Za-z]{1,63})\.(?P<perm>read|write|\*|c?r?u?d?s?)")


@dataclass(frozen=True)
class Scope:
    resource_type: str  # "*" for every type
    letters: frozenset[str]
    text: str

    def covers(self, other: "Scope") -> bool:
        return self.resource_type in ("*", other.resource_type) and other.letters <= self.letters


def parse_scope(text: str) -> Scope:
    """One scope, or ``ValidationError`` naming it (``field="scope"``)."""
    match = _SCOPE.fullmatch(text.strip())
    if not match or not match.group("perm"):
        raise ValidationError(
            f"{text!r} is not a scope this API knows: expected system/<Type>.<read|write|*> "
            "(e.g. system/Appointment.read, system/*.read) or a SMART v2 one (system/Patient.rs)",
            field="scope", code="scope",
        )
    perm = match.group("perm")
    letters = frozenset(V1_LETTERS.get(perm, perm))
    return Scope(resource_type=match.group("type"), letters=letters, text=match.group(0))


def parse_scopes(text: str | Iterable[str]) -> list[Scope]:
    """Scopes separated by spaces (or commas), or given as a list; duplicates dropped, order kept."""
    parts = text.replace(",", " ").split() if isinstance(text, str) else [p for s in text for p in s.split()]
    scopes: dict[str, Scope] = {}
    for part in parts:
        scope = parse_scope(part)
        scopes.setdefault(scope.text, scope)
    return list(scopes.values())


def scope_text(scopes: Iterable[Scope]) -> str:
    return " ".join(scope.text for scope in scopes)


def allows(granted: Iterable[Scope], needed: Scope) -> bool:
    """Whether the granted scopes together allow what ``needed`` asks (each letter by one of them)."""
    covering = [s for s in granted if s.resource_type in ("*", needed.resource_type)]
    return all(any(letter in s.letters for s in covering) for letter in needed.letters)


def uncovered(granted: Iterable[Scope], requested: Iterable[Scope]) -> list[Scope]:
    """The requested scopes the granted ones do not allow (empty: the request is a subset)."""
    granted = list(granted)
    return [scope for scope in requested if not allows(granted, scope)]
