"""The published JSON Schemas: generated from the contract's models, shipped as files, and met by the examples."""

import json
from pathlib import Path

import pytest

import scheduling
from scheduling import cli
from scheduling.contract import json_schema, read_instance
from tests.scheduling.conftest import EXAMPLES

SCHEMAS = Path(scheduling.__file__).parent / "schemas"

try:
    import jsonschema
except ImportError:
    jsonschema = None


@pytest.mark.parametrize("which", ["instance", "schedule"])
def test_shipped_schema_is_what_the_models_generate(which):
    shipped = json.loads((SCHEMAS / f"daycare-{which}-1.schema.json").read_text(encoding="utf-8"))
    assert shipped == json_schema(which), f"regenerate it: python -m scheduling schema {which} -o ..."
    assert shipped["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_command_prints_or_writes(tmp_path, capsys):
    assert cli.main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema("instance")
    out = tmp_path / "s.json"
    assert cli.main(["schema", "schedule", "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == json_schema("schedule")


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_every_example_meets_the_instance_schema(path):
    data = json.loads(path.read_text(encoding="utf-8"))
    if jsonschema is not None:
        jsonschema.Draft202012Validator(json_schema("instance")).validate(data)
    else:
        read_instance(data)


def test_schema_documents_the_spec():
    instance = json_schema("instance")
    request = instance["$defs"]["RequestDoc"]["properties"]
    assert "must_place" in request and request["must_place"]["description"]
    assert instance["$defs"]["ResourceDoc"]["additionalProperties"] is False
    visit = json_schema("schedule")["$defs"]["VisitDoc"]["properties"]
    assert "announced" in visit
