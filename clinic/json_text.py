"""Reading JSON that comes from outside (a request body, a form, a file, an environment variable)."""

import json
from typing import Any


def loads(text: str | bytes) -> Any:
    """``json.loads``, except that text nested too deeply for the parser is a ``ValueError`` like any other
    bad JSON: ``json.loads`` raises ``RecursionError`` past about a thousand levels, which no caller expects."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
