"""A tool or peer the tests need and this machine lacks: the test is skipped here, and fails in CI
(``CI=true``), where nothing may be skipped."""

import os
from typing import NoReturn

import pytest


def unavailable(reason: str, *, in_ci: str) -> NoReturn:
    """Skip for ``reason``; in CI fail, ``in_ci`` saying what CI must provide or run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: {in_ci}")
    pytest.skip(reason)
