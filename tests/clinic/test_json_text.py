"""JSON from outside: too deep a nesting is bad JSON like any other, never a RecursionError."""

import json

import pytest

from clinic import json_text


def test_it_reads_what_json_reads() -> None:
    text = '{"a": [1, 2.5, null, {"b": "c"}]}'
    assert json_text.loads(text) == json.loads(text)
    assert json_text.loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize("text", ["[" * 5_000, "{" * 5_000, '{"a":' * 5_000, "{not json"])
def test_bad_json_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        json_text.loads(text)
