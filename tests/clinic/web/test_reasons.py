"""Reasons and summaries the domain writes in English, said in the reader's language on staff screens."""

import datetime as dt

import pytest
from flask_babel import force_locale

from clinic.web.reasons import follow_up_note, stored_reason, why_text
from outreach.rules import PatientFacts, VisitFacts, Why, parse_rules

RULES = """
version: 1
rules:
  - {id: basic-reminder, layer: basic, action: reminder, kind: message, channel: sms, template: reminder,
     essential: true, timing: {relative_to: visit, offset: -2d, at: "10:00"}}
  - {id: older-call, layer: segment, action: reminder, kind: message, channel: voice, template: reminder,
     timing: {relative_to: visit, offset: -7d, at: "10:00"}, condition: {age: {gte: 70}}, replaces: false}
  - {id: far-coffee, layer: segment, action: coffee_voucher, kind: service,
     timing: {relative_to: visit}, condition: {region: long_distance}}
"""


def _evaluation():
    rules = parse_rules(RULES, filename="test.yaml")
    patient = PatientFacts(birth_date=dt.date(1950, 1, 1), region="local", language="nl", channel="sms")
    visit = VisitFacts(visit_id=1, date=dt.date(2026, 12, 14), pathway="onco", status="booked")
    return rules.evaluate(patient, visit, now=dt.datetime(2026, 12, 7, tzinfo=dt.UTC))


def test_why_keeps_the_english_text_and_its_parts():
    evaluation = _evaluation()
    whys = {firing.rule.id: firing.why for firing in evaluation.fired}
    assert whys["basic-reminder"] == "every patient (basic service)" and whys["older-call"] == "age 76 ≥ 70"
    assert isinstance(whys["older-call"], Why) and whys["older-call"].params["actual"] == 76
    assert dict((rule.id, why) for rule, why in evaluation.not_fired)["far-coffee"] == "region local not = long_distance"


@pytest.mark.parametrize(
    ("language", "basic", "age", "region"),
    [
        ("nl", "elke patiënt (basisservice)", "leeftijd 76 ≥ 70", "regio lokaal niet = lange afstand"),
        ("fr", "chaque patient (service de base)", "âge 76 ≥ 70", "région local pas = longue distance"),
        ("en", "every patient (basic service)", "age 76 ≥ 70", "region local not = long distance"),
    ],
)
def test_rule_reasons_in_the_readers_language(app, language, basic, age, region):
    evaluation = _evaluation()
    whys = {firing.rule.id: firing.why for firing in evaluation.fired}
    not_fired = dict((rule.id, why) for rule, why in evaluation.not_fired)
    with app.test_request_context("/"), force_locale(language):
        assert why_text(whys["basic-reminder"]) == basic
        assert why_text(whys["older-call"]) == age
        assert why_text(not_fired["far-coffee"]).lower() == region.lower()


@pytest.mark.parametrize(
    ("stored", "dutch"),
    [
        ("the patient opted out of non-essential messages",
         "de patiënt heeft zich afgemeld voor niet-noodzakelijke berichten"),
        ("not sent: the visit is cancelled", "niet verstuurd: het bezoek is geannuleerd"),
        ("no longer planned (visit moved, cancelled or rules changed)",
         "niet meer gepland (bezoek verplaatst of geannuleerd, of regels gewijzigd)"),
        ("HTTP 500 from provider; falling back to voice", "HTTP 500 from provider; terugval op telefoontje"),
        ("timeout; outcome unknown (the channel cannot say what it sent), please call",
         "timeout; uitkomst onbekend (het kanaal kan niet zeggen wat het verstuurde), bel a.u.b."),
    ],
)  # fmt: skip
def test_outbox_skip_and_withdraw_reasons_in_dutch(app, stored, dutch):
    with app.test_request_context("/"), force_locale("nl"):
        assert stored_reason(stored) == dutch


@pytest.mark.parametrize(
    ("note", "language", "shown"),
    [
        ("needed: yes, good job: no", "nl", "gekregen wat nodig was: ja, goed geholpen: nee"),
        ('needed: no, good job: - — "too long"', "fr", 'besoin satisfait : non, bon travail : - — "too long"'),
        ("survey 12: no answer", "fr", "questionnaire 12 : pas de réponse"),
        ("Called, left a message", "nl", "Called, left a message"),  # what staff wrote stays as written
    ],
)
def test_follow_up_summaries_in_the_readers_language(app, note, language, shown):
    with app.test_request_context("/"), force_locale(language):
        assert follow_up_note(note) == shown
