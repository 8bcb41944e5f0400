"""Absolute URLs that leave the app: the links patients get (e-mails' answer pages, survey calls) and the
webhooks Twilio calls, rooted at ``PUBLIC_BASE_URL`` when it is configured."""

from typing import Any

from flask import current_app, request, url_for

from clinic.messaging import links
from clinic.web.container import unit


def patient_links() -> links.Links:
    """The links patients get, rooted at ``PUBLIC_BASE_URL`` (else this request's own address)."""
    base = unit().public_base_url.rstrip("/") or request.url_root.rstrip("/")
    return links.Links(public_base_url=base, secret_key=current_app.config["SECRET_KEY"])


def public_url(endpoint: str, **values: Any) -> str:
    """The absolute URL Twilio should use for ``endpoint`` (``PUBLIC_BASE_URL`` when configured)."""
    base = unit().public_base_url.rstrip("/")
    if base:
        return base + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def status_callback_url() -> str:
    return public_url("twilio.status")
