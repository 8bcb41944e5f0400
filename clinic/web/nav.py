"""The header navigation: each entry names the roles that may open it, so a person only sees what they may use.

Later blueprints add their pages with ``add_nav_item`` at import time.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from flask import Flask, current_app, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from clinic.web.roles import ADMIN, ALL_STAFF, COORDINATOR, FRONT_DESK, ROLE_LABELS, VOLUNTEER, role_value


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: object
    roles: frozenset[str]


NAV_ITEMS: list[NavItem] = [
    NavItem("board.day", _l("Day board"), frozenset({FRONT_DESK, COORDINATOR, ADMIN})),
    NavItem("volunteer.home", _l("My day"), frozenset({VOLUNTEER})),
]


def add_nav_item(endpoint: str, label: object, roles: Iterable[object] = ALL_STAFF) -> None:
    """Show ``endpoint`` in the header to ``roles`` (give the label as ``lazy_gettext(...)``); the view
    itself must still check the role with ``roles_required``."""
    if all(item.endpoint != endpoint for item in NAV_ITEMS):
        NAV_ITEMS.append(NavItem(endpoint, label, frozenset(role_value(role) for role in roles)))


def visible_items() -> list[NavItem]:
    if not current_user.is_authenticated:
        return []
    return [
        item
        for item in NAV_ITEMS
        if current_user.role in item.roles and item.endpoint in current_app.view_functions
    ]


SEARCH_ENDPOINT = "patient.search"
SEARCH_ROLES = frozenset({FRONT_DESK, COORDINATOR, ADMIN})


def search_url() -> str | None:
    """Where the header's patient search goes, for staff who may open patient pages; else ``None``."""
    if not current_user.is_authenticated or current_user.role not in SEARCH_ROLES:
        return None
    return url_for(SEARCH_ENDPOINT) if SEARCH_ENDPOINT in current_app.view_functions else None


def init_app(app: Flask) -> None:
    @app.context_processor
    def nav_context() -> dict:
        return {
            "nav_items": visible_items(),
            "patient_search_url": search_url(),
            "current_endpoint": request.endpoint,
            "role_labels": ROLE_LABELS,
        }
