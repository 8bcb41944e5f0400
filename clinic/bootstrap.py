"""The composition root: settings, database engine, sessions, outreach channels and the unit, built once.

The web app (``clinic.app.create_app``), the CLI commands and the outreach dispatcher all take what
they need from the ``Container`` that ``bootstrap`` returns; the dispatcher's scheduled jobs, which
APScheduler calls with plain arguments, use ``process_container()``, built once per process.
"""

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from clinic import handlers, logs
from clinic.db import CONTAINER_KEY, DatabaseURLError, make_engine
from clinic.errors import SeedError
from clinic.events import MessageBus
from clinic.messaging.siu import SiuFeed
from clinic.service import touchpoints
from clinic.settings import ConfigError, Settings, flatten, load_settings
from clinic.unit import booking_rules
from clinic.unit.context import Unit
from clinic.users.services import accounts_with_demo_password
from outreach.channels.base import Channel
from outreach.channels.mllp import MllpChannel
from outreach.channels.registry import build_channels


@dataclass(frozen=True)
class Container:
    settings: Settings
    engine: Engine
    #: New sessions on ``engine`` (not expiring on commit): they record touch-points and hand the domain
    #: events they record to ``bus`` once their transaction commits.
    session_factory: Callable[[], Session]
    bus: MessageBus
    channels: Mapping[str, Channel]
    unit: Unit


class _HasExtensions(Protocol):
    extensions: dict[str, Any]


def make_session_factory(engine: Engine, bus: MessageBus | None = None) -> "sessionmaker[Session]":
    """The app's sessions: they record touch-points (``clinic.service.touchpoints``) and, with a ``bus``,
    hand the domain events they record to it once their transaction commits (``clinic.events``).

    The listeners sit on this factory only, never on SQLAlchemy's ``Session`` class: sessions made
    elsewhere (a script's own) are plain."""
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
    touchpoints.install(factory)
    if bus is not None:
        bus.attach(factory)
    return factory


def channels_from(settings: Settings) -> dict[str, Channel]:
    """The outreach channels these settings call for (Twilio, SMTP, else the development channel), and ``hl7``
    (MLLP) when the SIU feed is set."""
    channels = build_channels(
        twilio=settings.twilio, smtp=settings.smtp, public_base_url=settings.public_base_url,
        secret_key=settings.secret_key,
    )
    if settings.siu.configured:
        host, port = settings.siu.host_port
        channels["hl7"] = MllpChannel(host=host, port=port, timeout=settings.siu.timeout_seconds)
    return channels


def siu_feed_from(settings: Settings) -> SiuFeed | None:
    """The SIU feed these settings ask for (``SIU_MLLP_ADDRESS``), or ``None``: off."""
    siu = settings.siu
    if not siu.configured:
        return None
    return SiuFeed(
        address=siu.mllp_address, sending_application=siu.sending_application,
        sending_facility=siu.sending_facility, receiving_application=siu.receiving_application,
        receiving_facility=siu.receiving_facility,
    )


def unit_from(settings: Settings) -> Unit:
    """The unit these settings describe, with the booking rules of ``<seed_dir>/booking_rules.yaml``
    (``ConfigError`` naming file and key when that file is wrong)."""
    try:
        rules = booking_rules.load_booking_rules(Path(settings.seed_dir) / booking_rules.FILENAME)
    except SeedError as exc:
        raise ConfigError("\n".join(exc.problems)) from None
    return Unit(
        tz=settings.clinic_timezone,
        local_km=settings.region_local_km,
        regional_km=settings.region_regional_km,
        currency=settings.currency,
        vat_rate_bp=settings.vat_rate_bp,
        languages=settings.languages,
        follow_up_due_working_days=settings.follow_up_due_working_days,
        survey_reask_after=timedelta(hours=settings.survey_reask_hours),
        desk_phone=settings.desk_phone,
        public_base_url=settings.public_base_url,
        board_refresh_seconds=settings.board_refresh_seconds,
        booking_rules=rules,
        format_locale=settings.format_locale,
        arrival_tolerance_minutes=settings.arrival_tolerance_minutes,
        hold_minutes=settings.hold_minutes,
        name=settings.unit_name,
        address=settings.unit_address,
    )


def assemble(
    settings: Settings, *, engine: Engine | None = None, channels: Mapping[str, Channel] | None = None
) -> Container:
    """The container for ``settings``; ``engine`` and ``channels`` default to new ones built from them."""
    if engine is None:
        try:
            engine = make_engine(settings.database_url)
        except DatabaseURLError as exc:
            raise ConfigError(str(exc)) from None
    if channels is None:
        channels = channels_from(settings)
    unit = unit_from(settings)
    bus = handlers.register(MessageBus(), unit=unit, siu_feed=siu_feed_from(settings))
    return Container(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine, bus),
        bus=bus,
        channels=MappingProxyType(dict(channels)),
        unit=unit,
    )


def bootstrap(
    overrides: Mapping[str, Any] | None = None, *, channels: Mapping[str, Channel] | None = None
) -> Container:
    """Read the settings (environment, then ``overrides`` by flat name) and build everything from them.

    Raises ``ConfigError`` naming the setting when one is unknown, bad, or cannot work with the others.
    """
    settings = load_settings(overrides)
    logs.configure(settings.log_format)
    return assemble(settings, channels=channels)


def with_settings(
    container: Container, changes: Mapping[str, Any], *, channels: Mapping[str, Channel] | None = None
) -> Container:
    """The container with some settings changed (flat names), on the same database engine."""
    return assemble(load_settings({**flatten(container.settings), **changes}), engine=container.engine,
                    channels=channels)


def of_app(app: _HasExtensions) -> Container:
    """The container a web app was built with."""
    return app.extensions[CONTAINER_KEY]


@functools.cache
def process_container() -> Container:
    """The container of a process without a web app (the dispatcher's jobs), built on first use."""
    return bootstrap()


def refuse_published_passwords(container: Container) -> None:
    """Outside development, ``ConfigError`` while an active account still has a password published with
    OneVisit (the README's demo password): naming the accounts and how to fix them.

    The web app calls this when it starts serving (``create_app`` under a WSGI server, ``flask serve``); the
    other ``flask`` commands do not, so ``flask users reset-password NAME`` can fix what it reports."""
    if container.settings.relaxed:
        return
    try:
        with container.session_factory() as session:
            names = accounts_with_demo_password(session=session)
    except DBAPIError as exc:
        raise ConfigError(
            "Cannot check the accounts for published demo passwords: the database did not answer as expected "
            f"({type(exc.orig).__name__}). Check DATABASE_URL and run `flask --app clinic db-upgrade`."
        ) from None
    if names:
        raise ConfigError(
            f"Refusing to start: {len(names)} account(s) still have the demo password published in the README "
            f"({', '.join(names)}), so anyone could sign in with them. Give each a one-time password with "
            "`flask --app clinic users reset-password NAME` (or disable it: `flask --app clinic users disable NAME`), "
            "then start again. A development machine may keep the demo clinic with ONEVISIT_ENV=development."
        )
