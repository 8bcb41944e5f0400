"""Containers and channels built the way the app builds them, for tests that run jobs or channels alone."""

from collections.abc import Mapping
from typing import Any

from clinic.bootstrap import Container, bootstrap, channels_from
from clinic.settings import load_settings
from outreach.channels.base import Channel


def channels_for(config: Mapping[str, Any]) -> dict[str, Channel]:
    """The channels the app builds from these settings (flat names, as ``create_app`` takes them)."""
    return channels_from(load_settings({"TESTING": True, **config}))


def worker_container(
    database_url: str, *, tz: str, channels: Mapping[str, Channel] | None = None, **settings: Any
) -> Container:
    """A dispatcher's container on the test database: the clinic in ``tz``, with ``channels`` if given."""
    overrides = {"TESTING": True, "DATABASE_URL": database_url, "CLINIC_TIMEZONE": tz, **settings}
    return bootstrap(overrides, channels=channels)


def reset_dispatcher() -> None:
    """Release the leases of this test process's dispatcher and forget its container."""
    from clinic.worker import dispatcher

    dispatcher.release()
    if dispatcher._STATE.container is not None:
        dispatcher._STATE.container.engine.dispose()
    dispatcher._STATE.container = None
    dispatcher._STATE.owner = ""
