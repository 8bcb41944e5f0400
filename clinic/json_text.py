"""Reading JSON that comes from outside (a request body, a form, a file, an environment variable)."""

import json
from collections.abc import Iterator
from typing import Any

from outreach.yaml_problems import key_path


def loads(text: str | bytes) -> Any:
    """``json.loads``, except that what no caller expects is a ``ValueError`` like any other bad JSON: text
    nested too deeply for the parser (``json.loads`` raises ``RecursionError`` past about a thousand levels),
    and a NUL character in a text (``\\u0000``), which PostgreSQL's text columns and ``jsonb`` refuse."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    for loc, node in elements(data):
        if loc and isinstance(loc[-1], str) and "\x00" in loc[-1]:
            raise ValueError(f"a key holds a NUL character (\\u0000) in {key_path(loc[:-1])}")
        if isinstance(node, str) and "\x00" in node:
            raise ValueError(f"a text holds a NUL character (\\u0000) at {key_path(loc)}")
    return data


def elements(data: Any) -> Iterator[tuple[tuple, Any]]:
    """Every element of decoded JSON with where it sits (the keys and indexes from the top), each before what it
    holds, in document order. Without recursion, so any depth the parser took is walked."""
    stack: list[tuple[tuple, Any]] = [((), data)]
    while stack:
        loc, node = stack.pop()
        yield loc, node
        if isinstance(node, dict):
            stack.extend(((*loc, key), value) for key, value in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend(((*loc, index), value) for index, value in reversed(list(enumerate(node))))
