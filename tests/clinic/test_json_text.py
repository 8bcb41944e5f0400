"""JSON from outside: too deep a nesting is bad JSON like any other, never a RecursionError."""

import json
import re

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


@pytest.mark.parametrize(("text", "message"), [
    ('"a\\u0000b"', "a text holds a NUL character (\\u0000) at (top level)"),
    ('{"resourceType": "Patient", "name": [{"given": ["Mila", "x\\u0000"]}]}',
     "a text holds a NUL character (\\u0000) at name[0].given[1]"),
    ('{"parameter": [{"a\\u0000": 1}]}', "a key holds a NUL character (\\u0000) in parameter[0]"),
])
def test_a_nul_in_a_text_is_a_value_error_naming_where(text: str, message: str) -> None:
    """PostgreSQL's text columns and jsonb cannot hold one: it must not get past the reading."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        json_text.loads(text)


def test_elements_walk_every_element_in_document_order_at_any_depth() -> None:
    assert list(json_text.elements({"a": [1, {"b": None}], "c": "d"})) == [
        ((), {"a": [1, {"b": None}], "c": "d"}), (("a",), [1, {"b": None}]), (("a", 0), 1),
        (("a", 1), {"b": None}), (("a", 1, "b"), None), (("c",), "d"),
    ]
    deep = json.loads("[" * 900 + "]" * 900)
    assert len(list(json_text.elements(deep))) == 900
