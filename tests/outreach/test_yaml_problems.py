"""Every settings loader words its problems the same way: ``file: where: message``."""

import pytest
import yaml

from outreach.yaml_problems import key_path, syntax_problem, validation_problems


def test_broken_yaml_names_line_and_column() -> None:
    with pytest.raises(yaml.YAMLError) as info:
        yaml.safe_load("version: 1\nrules: [\n")
    assert syntax_problem(info.value).startswith("line 3, column 1: not valid YAML (")


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("resources", 0, "hours", 1), "resources[0].hours[1]"),
        (("monthly_limits", "frontdesk", "[key]"), "monthly_limits.frontdesk.[key]"),
        (("birth_date", "function-after[_birth_date()]"), "birth_date"),
        ((), "(top level)"),
    ],
)
def test_key_paths_read_like_the_file(loc: tuple, path: str) -> None:
    assert key_path(loc) == path


def test_bare_drops_pydantics_value_error_words() -> None:
    errors = [{"loc": ("phone",), "msg": "Value error, '12' is not a valid phone number"}]
    assert validation_problems("patients.csv: row 5", errors, bare=True) == [
        "patients.csv: row 5: phone: '12' is not a valid phone number"
    ]
    assert validation_problems("x.yaml", errors) == ["x.yaml: phone: Value error, '12' is not a valid phone number"]
