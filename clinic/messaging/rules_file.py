"""The outreach rules in force: the newest uploaded version of the rule file, else the default
``seed_data/outreach_rules.yaml``; an upload is validated whole before it is stored."""

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from clinic.audit import record as audit
from clinic.errors import ValidationError
from clinic.messaging.models import OutreachRuleSet
from clinic.messaging.texts import TEMPLATES
from outreach.rules import Rule, RuleSet, RuleSetError, parse_rules

RULES_PATH = Path(__file__).resolve().parents[2] / "seed_data" / "outreach_rules.yaml"


class RulesRejected(ValidationError):
    """An uploaded rule file has errors; ``problems`` names file, rule and field of each."""

    default_code = "rules_rejected"

    def __init__(self, error: RuleSetError):
        self.problems = [str(p) for p in error.problems]
        super().__init__("\n".join(self.problems), field="rules")


@dataclass(frozen=True)
class RulesInForce:
    rules: RuleSet
    text: str
    filename: str
    version: int | None  # None: the default file, nobody uploaded a version yet
    created_at: dt.datetime | None = None
    created_by: int | None = None


def parse(text: str, filename: str) -> RuleSet:
    return parse_rules(text, filename=filename, known_templates=TEMPLATES)


@lru_cache(maxsize=4)
def _default_rules(path: str, mtime: float) -> tuple[RuleSet, str]:
    text = Path(path).read_text(encoding="utf-8")
    return parse(text, Path(path).name), text


def rules_in_force(*, session: Session) -> RulesInForce:
    """The newest stored version, or the default ``seed_data/outreach_rules.yaml``."""
    latest = session.exec(
        select(OutreachRuleSet).order_by(col(OutreachRuleSet.version).desc()).limit(1)
    ).first()
    if latest is None:
        ruleset, text = _default_rules(str(RULES_PATH), RULES_PATH.stat().st_mtime)
        return RulesInForce(rules=ruleset, text=text, filename=RULES_PATH.name, version=None)
    return RulesInForce(
        rules=_parse_cached(latest.text, latest.filename),
        text=latest.text,
        filename=latest.filename,
        version=latest.version,
        created_at=latest.created_at,
        created_by=latest.created_by,
    )


@lru_cache(maxsize=16)
def _parse_cached(text: str, filename: str) -> RuleSet:
    return parse(text, filename)


def save_rules(*, session: Session, text: str, filename: str, actor_id: int | None) -> OutreachRuleSet:
    """Validate the whole file; store it as the new version in force, or raise ``RulesRejected`` and
    change nothing."""
    filename = (filename or "outreach_rules.yaml").strip()[:200] or "outreach_rules.yaml"
    try:
        parse(text, filename)
    except RuleSetError as exc:
        raise RulesRejected(exc) from None
    newest = session.exec(select(sa.func.max(OutreachRuleSet.version))).one()
    version = int(newest or 0) + 1
    row = OutreachRuleSet(version=version, filename=filename, text=text, created_by=actor_id)
    session.add(row)
    try:
        session.flush()
        audit.record(
            session=session,
            actor_id=actor_id,
            action="outreach.rules_saved",
            entity="outreach_rule_set",
            entity_id=row.id,
            details={"version": version, "filename": filename},
        )
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ValidationError("someone saved the rules at the same moment; try again", field="rules") from None
    return row


def rule_by_id(ruleset: RuleSet, rule_id: str) -> Rule | None:
    return next((rule for rule in ruleset.rules if rule.id == rule_id), None)
