"""OneVisit clinic: domain model, services and the web app (``create_app``).

``create_app`` is loaded on first use so that importing the domain model or the services does not
import Flask.
"""

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from clinic.app import create_app

        return create_app
    raise AttributeError(f"module 'clinic' has no attribute {name!r}")
