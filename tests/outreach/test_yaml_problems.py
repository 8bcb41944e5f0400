"""Every settings loader words its problems the same way: ``file: where: message``."""

import re

import pytest
import yaml

from outreach.yaml_problems import key_path, load, read_text, syntax_problem, validation_problems


def test_broken_yaml_names_line_and_column() -> None:
    with pytest.raises(yaml.YAMLError) as info:
        load("version: 1\nrules: [\n")
    assert syntax_problem(info.value).startswith("line 3, column 1: not valid YAML (")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("version: 1\nclosed: 2026-13-45\n", "line 2, column 9: not valid YAML ('2026-13-45': month must be in 1..12)"),
        ("a: !!float x", "line 1, column 4: not valid YAML ('x': could not convert string to float: 'x')"),
        ("a: !!int 0xZZ", "line 1, column 4: not valid YAML ('0xZZ': invalid literal for int() with base 16: 'ZZ')"),
        ("[" * 5000 + "]" * 5000, "not valid YAML (nested too deeply)"),
        ('name: "a\\0b"', "line 1, column 7: not valid YAML (a text holds a NUL character)"),
        ('"\\0": 1', "line 1, column 1: not valid YAML (a text holds a NUL character)"),
    ],
)
def test_every_way_yaml_fails_is_a_yaml_problem(text: str, problem: str) -> None:
    with pytest.raises(yaml.YAMLError) as info:
        load(text)
    assert syntax_problem(info.value) == problem


def test_load_reads_what_the_safe_loader_reads() -> None:
    text = "day: 2026-12-01\nlist: [1, 2.5, {b: c}]\nflag: yes\n"
    assert load(text) == yaml.safe_load(text)


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


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot be read (No such file or directory)"),
        ("a: 1\nb: café\n".encode("cp1252"), "line 2: not UTF-8 text (byte 0xe9); save the file as UTF-8"),
        (b"a: 1\nb: 2\nc: \x003\n", "line 3: holds a NUL character: save the file as UTF-8 text"),
    ],
)
def test_a_file_that_is_not_utf8_text_is_a_problem_naming_its_line(tmp_path, content, problem) -> None:
    path = tmp_path / "rules.yaml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=f"^{re.escape(problem)}$"):
        read_text(path)
