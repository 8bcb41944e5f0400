"""The real MLLP listener on a free loopback port, on the test database, and a client to talk to it."""

from collections.abc import Iterator

import pytest

from clinic.hl7 import listener as mllp
from clinic.hl7.client import MllpClient
from clinic.hl7.feed import FeedConfig

AUTHORITY = "UMCU"


@pytest.fixture
def listener(clean_db, session_factory) -> Iterator[mllp.FeedServer]:
    server, thread = mllp.start("127.0.0.1", 0, session_factory=session_factory,
                                config=FeedConfig(assigning_authority=AUTHORITY))
    yield server
    mllp.stop(server, thread)


@pytest.fixture
def mllp_client(listener: mllp.FeedServer) -> Iterator[MllpClient]:
    with MllpClient("127.0.0.1", listener.bound_port, timeout=20) as connection:
        yield connection
