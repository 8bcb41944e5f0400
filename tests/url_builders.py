"""Werkzeug's URL builders compiled once per test run instead of once per test app.

Every test that asks for ``app`` builds a new Flask app, and werkzeug compiles two Python functions per URL
rule (``Rule._compile_builder``: an AST built, walked and passed to ``compile``) when the blueprints are
registered: with about a hundred rules that was most of ``create_app``'s time in a test. The function
werkzeug compiles depends only on the rule's parsed parts (``_trace``), whether unknown arguments are
appended to the query, and the names of the rule's defaults; it takes the rule itself as its first argument
and closes over nothing. So one compiled per such key serves every later app's equal rule, and the app
behaves exactly as with a fresh compile. A rule whose defaults fill one of its own placeholders (werkzeug
folds that default into the function as a constant) is always compiled afresh.

Installed by ``tests/conftest.py`` for the test run only; the app itself never uses it.
"""

from collections.abc import Callable
from typing import Any

from werkzeug.routing import Rule

_ORIGINAL = Rule._compile_builder
_BUILDERS: dict[tuple, Callable[..., tuple[str, str]]] = {}


def _cached_compile_builder(self: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
    defaults: dict[str, Any] = self.defaults or {}
    if any(is_dynamic and data in defaults for is_dynamic, data in self._trace):
        return _ORIGINAL(self, append_unknown)
    key = (self.rule, tuple(self._trace), append_unknown, tuple(defaults))
    builder = _BUILDERS.get(key)
    if builder is None:
        builder = _BUILDERS[key] = _ORIGINAL(self, append_unknown)
    return builder


def install() -> None:
    """Route ``Rule._compile_builder`` through the cache (idempotent)."""
    Rule._compile_builder = _cached_compile_builder  # type: ignore[method-assign]
