"""Reading JSON that comes from outside (a request body, a form, a file, an environment variable)."""

import json
from typing import Any


def loads(text: str | bytes) -> Any:
    """``json.loads``, except that what no caller expects is a ``ValueError`` like any other bad JSON: text
    nested too deeply for the parser (``json.loads`` raises ``RecursionError`` past about a thousand levels),
    and a NUL character in a text (``\\u0000``), which PostgreSQL's text columns and ``jsonb`` refuse."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    where = _nul_at(data)
    if where is not None:
        raise ValueError(f"a text holds a NUL character (\\u0000) at {where or 'the top'}")
    return data


def _nul_at(data: Any) -> str | None:
    """Where the first text (key or value) holding a NUL sits: ``parameter[2].code``; ``None`` if none does."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return path
        elif isinstance(node, dict):
            for key, value in reversed(node.items()):
                if "\x00" in key:
                    return path
                stack.append((f"{path}.{key}" if path else key, value))
        elif isinstance(node, list):
            stack.extend((f"{path}[{index}]", value) for index, value in reversed(list(enumerate(node))))
    return None
