"""``flask load-policy``: the unit's policy files without any demo patients, volunteers, users or visits."""

import shutil
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from clinic.demo import seed
from clinic.errors import Conflict, SeedError
from clinic.messaging import rules_file
from clinic.messaging.models import OutreachRuleSet
from clinic.patients.models import Patient
from clinic.refill.models import WaitlistEntry
from clinic.service.models import Volunteer
from clinic.unit.models import Pathway, Resource, StepType
from clinic.users.models import User
from clinic.visits.models import Visit
from tests.clinic.conftest import SEED_DIR
from tests.factories import make_unit

UNIT = make_unit()
POLICY_FILES = ("resources.yaml", "step_types.yaml", "pathways.yaml", "booking_rules.yaml", "outreach_rules.yaml",
                "kbrs.yaml", "touchpoints.yaml", "service_recovery.yaml")


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """Only the unit's policy files: no patients.csv, users.yaml, volunteers.yaml or visits.yaml at all."""
    target = tmp_path / "policy"
    target.mkdir()
    for name in POLICY_FILES:
        shutil.copy(SEED_DIR / name, target / name)
    return target


def _count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_load_policy_stores_the_unit_and_no_demo_data(session: Session, policy_dir: Path) -> None:
    summary = seed.load_policy(session=session, directory=policy_dir, unit=UNIT)
    assert _count(session, Resource) == summary["resources"] > 0
    assert _count(session, StepType) == summary["step types"] > 0
    assert _count(session, Pathway) == summary["pathways"] > 0
    for model in (Patient, User, Volunteer, Visit, WaitlistEntry):
        assert _count(session, model) == 0, model.__name__
    assert summary["outreach rule versions"] == 0  # the same rules as the default in force


def test_the_units_own_outreach_rules_become_the_version_in_force(session: Session, policy_dir: Path) -> None:
    path = policy_dir / "outreach_rules.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# our unit\n", encoding="utf-8")
    seed.load_policy(session=session, directory=policy_dir, unit=UNIT)
    assert _count(session, OutreachRuleSet) == 1
    assert rules_file.rules_in_force(session=session).text.endswith("# our unit\n")


def test_every_problem_of_every_policy_file_is_named_and_nothing_is_stored(session: Session, policy_dir: Path) -> None:
    for name, old, new in (
        ("pathways.yaml", "type: registration}", "type: registrashun}"),
        ("booking_rules.yaml", "kind: hard", "kind: firm"),
        ("touchpoints.yaml", "late_minutes_max:", "late_minutes_maximum:"),
    ):
        path = policy_dir / name
        text = path.read_text(encoding="utf-8")
        assert old in text, (name, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    (policy_dir / "kbrs.yaml").unlink()
    with pytest.raises(SeedError) as info:
        seed.load_policy(session=session, directory=policy_dir, unit=UNIT)
    report = "\n".join(info.value.problems)
    for name in ("pathways.yaml", "booking_rules.yaml", "touchpoints.yaml", "kbrs.yaml"):
        assert name in report, name
    assert _count(session, Resource) == _count(session, Pathway) == 0


@pytest.mark.parametrize("name", ["booking_rules.yaml", "kbrs.yaml", "outreach_rules.yaml", "touchpoints.yaml"])
def test_a_rule_file_not_saved_as_utf8_is_named_with_its_line(session: Session, policy_dir: Path, name: str) -> None:
    path = policy_dir / name
    text = path.read_text(encoding="utf-8")
    path.write_bytes(text.encode("utf-8") + "# café\n".encode("cp1252"))
    with pytest.raises(SeedError) as info:
        seed.load_policy(session=session, directory=policy_dir, unit=UNIT)
    line = text.count("\n") + 1
    assert f"{name}: line {line}: not UTF-8 text (byte 0xe9); save the file as UTF-8" in info.value.problems
    assert _count(session, Resource) == 0


def test_a_database_with_a_unit_is_refused(session: Session, policy_dir: Path) -> None:
    seed.load_policy(session=session, directory=policy_dir, unit=UNIT)
    with pytest.raises(Conflict, match="already holds"):
        seed.load_policy(session=session, directory=policy_dir, unit=UNIT)


def test_the_command_loads_the_policy_and_says_how_to_make_the_first_admin(app, session: Session, policy_dir) -> None:
    result = app.test_cli_runner().invoke(args=["load-policy", "--dir", str(policy_dir)])
    assert result.exit_code == 0, result.output
    assert "Loaded: " in result.output and "pathways" in result.output
    assert f"ONEVISIT_SEED_DIR={policy_dir.resolve()}" in result.output
    assert "users create NAME --role admin" in result.output
    assert _count(session, Pathway) > 0 and _count(session, Patient) == _count(session, User) == 0
    missing = app.test_cli_runner().invoke(args=["load-policy", "--dir", str(policy_dir / "nowhere")])
    assert missing.exit_code == 1 and "policy directory does not exist" in missing.output
