"""Bad seed files are rejected with file, row (or YAML path) and field, and the database stays untouched."""

import shutil
from pathlib import Path

import pytest
from sqlmodel import Session

from clinic import planning
from clinic.demo import seed
from clinic.errors import SeedError
from tests.clinic.conftest import SEED_DIR
from tests.factories import make_unit

UNIT = make_unit()


@pytest.fixture
def seed_copy(tmp_path: Path) -> Path:
    target = tmp_path / "seed"
    shutil.copytree(SEED_DIR, target)
    return target


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def _rejected(session: Session, directory: Path) -> str:
    with pytest.raises(SeedError) as info:
        seed.load_demo(session=session, directory=directory, unit=UNIT)
    assert seed.is_empty(session=session)
    return str(info.value)


def test_missing_field(session: Session, seed_copy: Path) -> None:
    _edit(seed_copy / "resources.yaml", "{code: desk-2, name: Registration desk 2, ", "{code: desk-2, ")
    assert "resources.yaml: resources[1].name: Field required" in _rejected(session, seed_copy)


def test_bad_phone_names_the_csv_row(session: Session, seed_copy: Path) -> None:
    _edit(seed_copy / "patients.csv", "+31 970 1000 0004", "+31 12")
    message = _rejected(session, seed_copy)
    assert "patients.csv: row 5: phone: '+31 12' is not a valid phone number" in message


def test_unknown_resource_kind(session: Session, seed_copy: Path) -> None:
    _edit(seed_copy / "resources.yaml", "kind: ecg,", "kind: ekg,")
    message = _rejected(session, seed_copy)
    assert "resources.yaml: resources[11].kind: Input should be" in message


def test_bad_time(session: Session, seed_copy: Path) -> None:
    _edit(seed_copy / "resources.yaml", '["07:30", "18:30"]', '["07:30", "25:30"]')
    message = _rejected(session, seed_copy)
    assert "resources.yaml: resources[0].hours[0].windows[0][1]: '25:30' is not a time of day" in message


def test_unknown_references_are_reported_together(session: Session, seed_copy: Path) -> None:
    _edit(seed_copy / "pathways.yaml", "type: echo,", "type: echography,")
    _edit(seed_copy / "pathways.yaml", "resource: dr-bakker", "resource: dr-nobody")
    message = _rejected(session, seed_copy)
    assert "pathways.yaml: pathways[3].steps[2].type: unknown step type 'echography'" in message
    assert "pathways.yaml: pathways[1].steps[1].resource: unknown resource 'dr-nobody'" in message


def test_problems_in_several_files_are_all_listed(session: Session, seed_copy: Path) -> None:
    _edit(seed_copy / "users.yaml", "role: admin", "role: root")
    _edit(seed_copy / "patients.csv", "1958-10-12", "1958-13-12")
    _edit(seed_copy / "volunteers.yaml", 'phone: "+31 970 1000 0902"', 'phone: "none"')
    message = _rejected(session, seed_copy)
    assert "users.yaml: users[3].role" in message
    assert "patients.csv: row 2: birth_date" in message
    assert "volunteers.yaml: volunteers[1].phone" in message


def test_invalid_yaml_gives_the_line(session: Session, seed_copy: Path) -> None:
    _edit(seed_copy / "step_types.yaml", "step_types:", "step_types: [")
    assert "step_types.yaml: line " in _rejected(session, seed_copy)


def test_missing_file(session: Session, seed_copy: Path) -> None:
    (seed_copy / "volunteers.yaml").unlink()
    assert "volunteers.yaml: file is missing" in _rejected(session, seed_copy)


def test_a_failure_while_loading_rolls_everything_back(
    session: Session, seed_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_kw):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(planning, "plan_day", broken)
    with pytest.raises(RuntimeError, match="engine exploded"):
        seed.load_demo(session=session, directory=seed_copy, unit=UNIT)
    assert seed.is_empty(session=session)


def test_a_misspelt_skill_is_refused_with_file_and_key(session: Session, seed_copy: Path) -> None:
    _edit(seed_copy / "resources.yaml", "attributes: [wheelchair], skills: [rheumatology]", "attributes: [wheelchair], skills: [reumatology]")
    _edit(seed_copy / "pathways.yaml", "skills: [oncology]}", "skills: [onclogy]}")
    message = _rejected(session, seed_copy)
    assert "resources.yaml: resources[4].skills[0]: unknown skill 'reumatology'" in message
    assert "pathways.yaml: pathways[0].steps[2].skills[0]: unknown skill 'onclogy'" in message
    assert "pathways.yaml: pathways[1].steps[1].skills: 'dr-bakker' (the step's resource) lacks rheumatology" in message


def test_a_step_needing_skills_no_resource_of_its_kind_has_is_refused(session: Session, seed_copy: Path) -> None:
    _edit(seed_copy / "pathways.yaml", "skills: [oncology]}", "skills: [oncology, cardiology]}")
    _edit(seed_copy / "pathways.yaml", "skills: [diabetes]}", "skills: [chemo-certified]}")
    _edit(seed_copy / "resources.yaml", "skills: [oncology, rheumatology,", "skills: [oncology, rheumatology, rheumatology,")
    message = _rejected(session, seed_copy)
    assert "pathways.yaml: pathways[0].steps[2].skills: no consult resource has oncology, cardiology" in message
    assert "pathways.yaml: pathways[2].steps[2].skills: no consult resource has chemo-certified" in message
    assert "resources.yaml: skills[2]: 'rheumatology' already used at skills[1]" in message


@pytest.mark.parametrize("name", ["patients.csv", "resources.yaml", "volunteers.yaml"])
def test_a_file_not_saved_as_utf8_is_named_with_its_line(session: Session, seed_copy: Path, name: str) -> None:
    """A spreadsheet saves CSV in the computer's own encoding (Windows-1252 on many) unless told otherwise."""
    path = seed_copy / name
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    path.write_bytes(text.encode("utf-8") + "# café\n".encode("cp1252"))
    line = text.count("\n") + 1
    assert f"{name}: line {line}: not UTF-8 text (byte 0xe9); save the file as UTF-8" in _rejected(session, seed_copy)


def test_a_nul_character_in_a_file_is_named_with_its_line(session: Session, seed_copy: Path) -> None:
    """Raw in a CSV (a UTF-16 export read as UTF-8 is full of them) or as YAML's ``"\\0"``: PostgreSQL's text
    cannot hold one, so it must stop at the file's check, not at the database."""
    _edit(seed_copy / "patients.csv", "1958-10-12", "1958-10-12\x00")
    _edit(seed_copy / "resources.yaml", "name: Registration desk 2", 'name: "Registration\\0desk 2"')
    message = _rejected(session, seed_copy)
    line = next(number for number, text in enumerate((seed_copy / "patients.csv").read_text().splitlines(), 1)
                if "\x00" in text)
    assert f"patients.csv: line {line}: holds a NUL character: save the file as UTF-8 text" in message
    assert "resources.yaml: line 13, column 26: not valid YAML (a text holds a NUL character)" in message
