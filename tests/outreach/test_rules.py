"""Rules as data: the default file loads, layering replaces by specificity, errors name file, rule, field."""

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outreach.rules import (
    PatientFacts,
    RuleSetError,
    VisitFacts,
    actions_for,
    load_rules,
    parse_offset,
    parse_rules,
)

RULES = Path(__file__).resolve().parents[2] / "seed_data" / "outreach_rules.yaml"
NOW = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
DAY = dt.date(2026, 12, 15)


def patient(*, age: int = 40, region: str = "local", **kw) -> PatientFacts:
    birth = dt.date(DAY.year - age, 1, 1)
    return PatientFacts(birth_date=birth, region=region, language=kw.pop("language", "nl"),
                        channel=kw.pop("channel", "sms"), **kw)


def visit(**kw) -> VisitFacts:
    return VisitFacts(date=DAY, pathway=kw.pop("pathway", "onco-infusion"), **kw)


@pytest.fixture(scope="module")
def rules():
    return load_rules(RULES)


def fired(rules, p, v=None):
    """Action -> the rule id that fires for it, or the ids in file order when several add up."""
    ids: dict[str, list[str]] = {}
    for f in actions_for(p, v or visit(), now=NOW, rules=rules):
        ids.setdefault(f.action, []).append(f.rule.id)
    return {action: found[0] if len(found) == 1 else tuple(found) for action, found in ids.items()}


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (patient(), {"confirmation": "basic-confirmation", "reminder": "basic-reminder"}),
        (
            patient(region="regional"),
            {"confirmation": "basic-confirmation", "reminder": ("basic-reminder", "regional-reminder-call")},
        ),
        (
            patient(region="long_distance"),
            {
                "confirmation": "basic-confirmation",
                "reminder": "basic-reminder",
                "coffee_voucher": "long-distance-coffee",
                "volunteer_meet": "long-distance-volunteer",
            },
        ),
        (
            patient(age=70),
            {
                "confirmation": "basic-confirmation",
                "reminder": ("basic-reminder", "senior-reminder-call"),
                "transport_offer": "senior-transport-offer",
            },
        ),
        (
            patient(age=82, region="long_distance"),
            {
                "confirmation": "basic-confirmation",
                "reminder": ("basic-reminder", "senior-reminder-call"),
                "coffee_voucher": "long-distance-coffee",
                "volunteer_meet": "long-distance-volunteer",
                "transport_offer": "senior-long-distance-transport-call",
            },
        ),
    ],
)
def test_the_default_rules_per_segment(rules, facts, expected):
    assert fired(rules, facts) == expected


def test_age_is_taken_on_the_visit_date(rules):
    p = PatientFacts(birth_date=dt.date(1956, 12, 16), region="local", language="en", channel="sms")
    assert "transport_offer" not in fired(rules, p)  # 69 on 15 December 2026, 70 the day after
    assert "transport_offer" in fired(rules, p, visit().__class__(date=dt.date(2026, 12, 16), pathway="x"))


def test_a_cancelled_visit_fires_only_the_cancellation_rules(rules):
    assert fired(rules, patient(age=80), visit(status="cancelled")) == {"reoffer": "basic-reoffer"}


def test_why_and_replaced_are_reported(rules):
    evaluation = rules.evaluate(patient(age=75, region="regional"), visit(), now=NOW)
    reminder = next(f for f in evaluation.fired if f.action == "reminder")
    assert reminder.rule.id == "basic-reminder" and reminder.replaced == ()  # the call adds to it
    call = [f for f in evaluation.fired if f.action == "reminder"][1]
    assert call.rule.id == "regional-reminder-call"  # same layer: the first in the file wins
    assert call.replaced == ("senior-reminder-call",)
    reasons = dict((rule.id, why) for rule, why in evaluation.not_fired)
    assert reasons["senior-reminder-call"] == "replaced by regional-reminder-call (segment)"
    assert reasons["long-distance-coffee"] == "region regional not = long_distance"


def test_conditions_and_or_not_needs_language_pathway():
    text = """
version: 1
rules:
  - id: base
    layer: basic
    action: hello
    template: t
    timing: {relative_to: booking}
  - id: special
    layer: segment
    action: hello
    template: t
    timing: {relative_to: booking, offset: 1h}
    condition:
      any:
        - {needs: wheelchair}
        - all: [{language: fr}, {not: {pathway: diabetes}}]
  - id: narrow
    layer: sub_segment
    action: hello
    template: t
    timing: {relative_to: booking}
    condition: {needs: {in: [hearing, interpreter]}, age: {lt: 30}}
"""
    rules = parse_rules(text, filename="t.yaml")
    assert fired(rules, patient()) == {"hello": "base"}
    assert fired(rules, patient(needs=frozenset({"wheelchair"}))) == {"hello": "special"}
    assert fired(rules, patient(language="fr")) == {"hello": "special"}
    assert fired(rules, patient(language="fr"), visit(pathway="diabetes")) == {"hello": "base"}
    assert fired(rules, patient(age=20, needs=frozenset({"hearing"}))) == {"hello": "narrow"}
    assert fired(rules, patient(age=40, needs=frozenset({"hearing"}))) == {"hello": "base"}
    special = rules.rules[1]
    assert special.condition.describe() == "needs wheelchair or (language = fr and not (pathway = diabetes))"


ADDING = """
version: 1
rules:
  - {id: base, layer: basic, action: hello, template: t, timing: {relative_to: booking}}
  - id: call
    layer: segment
    action: hello
    template: t
    replaces: false
    timing: {relative_to: booking, offset: 1h}
    condition: {region: regional}
  - id: other-call
    layer: segment
    action: hello
    template: t
    timing: {relative_to: booking, offset: 2h}
    condition: {age: {gte: 70}}
  - id: narrow
    layer: sub_segment
    action: hello
    template: t
    timing: {relative_to: booking}
    condition: {needs: hearing}
"""


def test_a_rule_that_does_not_replace_adds_to_the_less_specific_ones():
    rules = parse_rules(ADDING)
    assert fired(rules, patient(region="regional")) == {"hello": ("base", "call")}
    assert fired(rules, patient(age=80)) == {"hello": "other-call"}  # replaces by default
    assert fired(rules, patient(region="regional", age=80)) == {"hello": ("base", "call")}  # same layer: first wins
    assert fired(rules, patient(region="regional", needs=frozenset({"hearing"}))) == {"hello": "narrow"}
    assert [r.replaces for r in rules.rules] == [True, False, True, True]


def test_replaces_must_be_true_or_false():
    with pytest.raises(RuleSetError) as caught:
        parse_rules(ADDING.replace("replaces: false", "replaces: sometimes"), filename="t.yaml")
    assert caught.value.problems[0].rule == "call" and caught.value.problems[0].field == "replaces"


def test_the_default_reminder_calls_add_to_the_basic_reminder(rules):
    calls = [r for r in rules.rules if r.action == "reminder" and r.channel == "voice"]
    assert calls and all(not r.replaces for r in calls)


@pytest.mark.parametrize(
    ("change", "rule", "field_name", "message"),
    [
        (("layer: segment", "layer: segmnt"), "long-distance-coffee", "layer", "must be one of"),
        (("offset: -7d", "offset: -7days"), "regional-reminder-call", "timing.offset", "is not an offset"),
        (("{region: regional}", "{region: faraway}"), "regional-reminder-call", "condition.region", "unknown region"),
        (("{age: {gte: 70}}", "{age: {between: 70}}"), "senior-reminder-call", "condition.age.between", "unknown operator"),
        (("template: reminder", "template: nonsense"), "basic-reminder", "template", "unknown template"),
        (("relative_to: cancellation", "relative_to: whenever"), "basic-reoffer", "timing.relative_to", "must be one of"),
        (("id: basic-reoffer", "id: basic-reminder"), "basic-reminder", "id", "used twice"),
        (('at: "10:00"', 'at: "25:00"'), "basic-reminder", "timing.at", "time of day"),
        (("offset: -2d", "offset: 2d"), "basic-reminder", "timing.offset", "before the visit"),
        (("    essential: true\n    timing: {relative_to: booking}", "    essential: maybe\n    timing: {relative_to: booking}"),
         "basic-confirmation", "essential", "true or false"),
    ],
)
def test_errors_name_file_rule_and_field(change, rule, field_name, message):
    text = RULES.read_text().replace(*change, 1)
    with pytest.raises(RuleSetError) as caught:
        parse_rules(text, filename="clinic.yaml", known_templates={"confirmation", "reminder", "coffee_voucher",
                                                                   "transport_offer"})
    problem = caught.value.problems[0]
    assert (problem.file, problem.rule, problem.field) == ("clinic.yaml", rule, field_name)
    assert message in problem.message
    assert str(problem).startswith(f"clinic.yaml: rule {rule}: field {field_name}: ")


def test_every_problem_is_reported_at_once():
    text = RULES.read_text().replace("layer: segment", "layer: nope").replace("channel: voice", "channel: fax")
    with pytest.raises(RuleSetError) as caught:
        parse_rules(text, filename="x.yaml")
    assert len(caught.value.problems) >= 8


@pytest.mark.parametrize(
    "text",
    ["", "[1, 2]", "version: 2\nrules: []", "version: 1\nrules:\n  - 7", "version: 1\nrules: {a: 1}", "a: [",
     "version: 1\nrules:\n  - id: a\n    layer: basic\n    action: x\n    template: t\n    timing: {relative_to: booking}\n    condition: {age: 3}"],
)
def test_malformed_files_are_refused_with_the_file_named(text):
    with pytest.raises(RuleSetError) as caught:
        parse_rules(text, filename="bad.yaml")
    assert all(p.file == "bad.yaml" for p in caught.value.problems)


def test_unreadable_file(tmp_path):
    with pytest.raises(RuleSetError, match="missing.yaml: cannot be read"):
        load_rules(tmp_path / "missing.yaml")
    (tmp_path / "latin.yaml").write_bytes("version: 1\n# café\n".encode("cp1252"))
    with pytest.raises(RuleSetError, match=r"latin.yaml: line 2: not UTF-8 text \(byte 0xe9\)"):
        load_rules(tmp_path / "latin.yaml")


@pytest.mark.parametrize(("text", "minutes"), [("-2d", -2880), ("3h", 180), ("-1d12h", -2160), ("30m", 30), (0, 0)])
def test_offsets(text, minutes):
    assert parse_offset(text) == dt.timedelta(minutes=minutes)


@given(
    age=st.integers(min_value=0, max_value=110),
    region=st.sampled_from(["local", "regional", "long_distance"]),
    needs=st.frozensets(st.sampled_from(["wheelchair", "interpreter", "hearing"])),
    language=st.sampled_from(["en", "nl", "fr"]),
)
def test_at_most_one_rule_per_action_and_layer_and_the_most_specific_wins(age, region, needs, language):
    rules = load_rules(RULES)
    evaluation = rules.evaluate(patient(age=age, region=region, needs=needs, language=language), visit(), now=NOW)
    actions = [f.action for f in evaluation.fired]
    layers = [(f.action, f.rule.layer) for f in evaluation.fired]
    assert len(layers) == len(set(layers))
    for action in set(actions):  # several rules of one action only where the more specific ones add
        same = sorted((f.rule for f in evaluation.fired if f.action == action), key=lambda r: r.rank)
        assert all(not r.replaces for r in same[1:])
    assert {"confirmation", "reminder"} <= set(actions)
    for firing in evaluation.fired:
        for loser in firing.replaced:
            assert next(r for r in rules.rules if r.id == loser).rank <= firing.rule.rank


# --- service levels and potential ideas (issue 6) -------------------------------------------------

LEVELLED = """
version: 1
rules:
  - {id: core, layer: basic, action: confirmation, template: confirmation, level: generic, timing: {relative_to: booking}}
  - {id: remind, layer: basic, action: reminder, template: reminder, timing: {relative_to: visit, offset: -2d}}
  - {id: coffee, layer: segment, action: coffee_voucher, template: coffee_voucher, timing: {relative_to: booking},
     condition: {region: long_distance}}
potential:
  - id: parking
    description: Reserved parking for wheelchair users.
    condition: {needs: wheelchair}
  - {id: video, description: Video consult instead of travelling., action: video_consult}
"""


def test_levels_default_by_layer_and_ideas_are_listed_but_never_fire():
    ruleset = parse_rules(LEVELLED, filename="levels.yaml")
    assert {r.id: r.level for r in ruleset.rules} == {"core": "generic", "remind": "expected", "coffee": "augmented"}
    assert [(i.id, i.level, i.action) for i in ruleset.potential] == [
        ("parking", "potential", None), ("video", "potential", "video_consult"),
    ]  # fmt: skip
    assert ruleset.potential[0].condition.describe() == "needs wheelchair"
    actions = fired(ruleset, patient(region="long_distance", needs=frozenset({"wheelchair"})))
    assert actions == {"confirmation": "core", "reminder": "remind", "coffee_voucher": "coffee"}


def test_the_default_rules_have_every_level(rules):
    levels = {r.level for r in rules.rules} | {i.level for i in rules.potential}
    assert levels == {"generic", "expected", "augmented", "potential"}
    assert all(r.level == "augmented" for r in rules.rules if r.layer != "basic")


@pytest.mark.parametrize(
    ("change", "rule", "field_name", "message"),
    [
        (("level: generic", "level: premium"), "core", "level", "must be one of generic, expected, augmented"),
        (("level: generic", "level: potential"), "core", "level", "list the idea under 'potential:'"),
        (("id: parking", "id: coffee"), "coffee", "id", "rule and idea ids must be unique"),
        (("description: Reserved parking for wheelchair users.", "description: ''"), "parking", "description", "required"),
        (("condition: {needs: wheelchair}", "condition: {needs: wings}"), "parking", "condition.needs", "unknown needs"),
        (("action: video_consult", "action: Video Consult"), "video", "action", "a name like"),
        (("  - id: parking", "  - id: parking\n    colour: red"), "parking", "colour", "unknown field"),
    ],
)
def test_level_and_idea_errors_name_rule_and_field(change, rule, field_name, message):
    with pytest.raises(RuleSetError) as error:
        parse_rules(LEVELLED.replace(*change), filename="levels.yaml")
    assert any(
        p.file == "levels.yaml" and p.rule == rule and p.field == field_name and message in p.message
        for p in error.value.problems
    ), error.value.problems


def test_potential_must_be_a_list():
    with pytest.raises(RuleSetError, match="potential: must be a list"):
        parse_rules(LEVELLED.split("potential:")[0] + "potential: {id: x}\n", filename="levels.yaml")
