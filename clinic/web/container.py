"""The app's container (``clinic.bootstrap``) as views see it: settings, unit, channels, sessions."""

from collections.abc import Mapping

from flask import Flask, current_app

from clinic.bootstrap import Container, of_app
from clinic.settings import Settings
from clinic.unit.context import Unit
from outreach.channels.base import Channel


def container(app: Flask | None = None) -> Container:
    """The container of ``app``, else of the current app."""
    return of_app(app or current_app)


def settings() -> Settings:
    return container().settings


def unit() -> Unit:
    """What the current app knows about its unit: time zone, regions, currency, languages..."""
    return container().unit


def channels() -> Mapping[str, Channel]:
    return container().channels
