"""Reading ADT messages into commands, and the ACKs answered (parsed back with hl7apy)."""

import datetime as dt

import pytest

from clinic.hl7 import adt
from clinic.hl7.ack import build_ack
from clinic.hl7.client import Person, adt_message, read_ack

MSH = "MSH|^~\\&|HIS|UMC|ONEVISIT|DAYCARE|20261207101500||ADT^{trigger}|C1|P|2.5"
PID = ("PID|1||999999999^^^NLMINBIZA^NNNLD~P000123^^^UMCU&2.16.840.1.113883.2.4.3.8&ISO^MR||"
       "de Vries&de&Vries^Mila^J^^^^L~Mila^^^^^^N||19580430000000+0100|F|||"
       "Postbus 1^^Utrecht^^3500 AA^NL^M~&Kerkstraat&12^A^Utrecht^^3511 AB^NL^H||"
       "^PRN^PH^^31^30^2345678~^PRN^CP^^31^6^12345678~^NET^Internet^mila@example.org||nl-NL")


def message(trigger: str = "A04", *segments: str) -> str:
    return "\r".join([MSH.format(trigger=trigger), "EVN|" + trigger, *(segments or (PID,)), "PV1|1|O"])


def rejected(text: str, **kw) -> adt.Rejected:
    with pytest.raises(adt.Rejected) as raised:
        adt.parse(text, **kw)
    return raised.value


def test_a04_is_a_register_with_every_mapped_field():
    command = adt.parse(message(), assigning_authority="UMCU")
    assert isinstance(command, adt.Register)
    record = command.record
    assert record.mrn == "P000123"
    assert (record.family_name, record.given_name) == ("de Vries", "Mila")
    assert record.birth_date == dt.date(1958, 4, 30)
    assert (record.address_line, record.postcode, record.city) == ("Kerkstraat 12 A", "3511 AB", "Utrecht")
    assert (record.phone, record.email, record.language) == ("+31612345678", "mila@example.org", "nl")
    header = command.header
    assert (header.sending_application, header.sending_facility, header.control_id, header.trigger) == (
        "HIS", "UMC", "C1", "ADT^A04")


@pytest.mark.parametrize(("trigger", "kind"), [("A04", adt.Register), ("A28", adt.Register), ("A08", adt.Update),
                                               ("A31", adt.Update)])
def test_triggers_map_to_commands(trigger, kind):
    assert isinstance(adt.parse(message(trigger)), kind)


def test_the_authority_matches_the_universal_id_too_and_without_one_the_first_identifier_is_taken():
    assert adt.parse(message(), assigning_authority="2.16.840.1.113883.2.4.3.8").record.mrn == "P000123"
    assert adt.parse(message()).record.mrn == "999999999"


def test_a40_is_a_merge_of_mrg_1_into_the_pid_patient():
    command = adt.parse(message("A40", PID, "MRG|P000099^^^UMCU^MR~123^^^NLMINBIZA"), assigning_authority="UMCU")
    assert isinstance(command, adt.Merge)
    assert (command.record.mrn, command.merged_mrn) == ("P000123", "P000099")


def test_escapes_and_other_separators_are_read():
    text = message("A04", PID.replace("de Vries&de&Vries", "O\\T\\Brien \\S\\ Smith"))
    assert adt.parse(text).record.family_name == "O&Brien ^ Smith"
    other = message().replace("|", "#").replace("^", "$").replace("MSH#$~\\&", "MSH#$~\\&")
    assert adt.parse(other, assigning_authority="UMCU").record.mrn == "P000123"


def test_segments_separated_by_newlines_are_read():
    assert adt.parse(message().replace("\r", "\r\n")).record.city == "Utrecht"


def test_an_unknown_language_is_left_unset():
    assert adt.parse(message("A04", PID.replace("||nl-NL", "||tur"))).record.language is None


@pytest.mark.parametrize(
    ("text", "code", "error", "location", "reason"),
    [
        (message("A04", PID.replace("19580430000000+0100", "20261350")), "AE", "102", ("PID", 7),
         "PID-7 birth date 20261350 is not a date"),
        (message("A04", PID.replace("19580430000000+0100", "")), "AE", "101", ("PID", 7),
         "PID-7 birth date is missing"),
        (message("A04", PID.replace("999999999^^^NLMINBIZA^NNNLD~P000123^^^UMCU&2.16.840.1.113883.2.4.3.8&ISO^MR",
                                    "")), "AE", "101", ("PID", 3), "PID-3 patient identifier is missing"),
        (message("A04", "EVN|x"), "AE", "100", ("PID", None), "PID segment is missing"),
        (message("A40"), "AE", "100", ("MRG", None), "MRG segment is missing"),
        (message("A40", PID, "MRG|"), "AE", "101", ("MRG", 1), "MRG-1 prior patient identifier is missing"),
        (message("A03"), "AR", "201", ("MSH", 9), "MSH-9 trigger event A03 is not supported"),
        (message("A04").replace("ADT^A04", "ORU^R01"), "AR", "200", ("MSH", 9), "MSH-9 message type ORU"),
        (message().replace("|2.5", "|2.9"), "AR", "203", ("MSH", 12), "MSH-12 version 2.9 is not supported"),
        (message().replace("|C1|", "||"), "AR", "101", ("MSH", 10), "MSH-10 message control id is missing"),
        ("hello", "AR", "100", ("MSH", None), "not an HL7 message"),
        ("", "AR", "100", ("MSH", None), "not an HL7 message"),
        (message("A04", PID.replace("de Vries&de&Vries^Mila^J^^^^L~Mila^^^^^^N", "")), "AE", "101", ("PID", 5),
         "PID-5 patient name (family name) is missing"),
        (message("A04", PID.replace("Postbus 1^^Utrecht^^3500 AA^NL^M~&Kerkstraat&12^A^Utrecht^^3511 AB^NL^H",
                                    "Kerkstraat 1^^Utrecht^^^NL^H")), "AE", "101", ("PID", 11),
         "PID-11 patient address (postcode) is missing"),
        (message("A04", PID.replace("mila@example.org", "mila-at-example")), "AE", "102", ("PID", 13),
         "PID-13 e-mail mila-at-example: 'mila-at-example' is not an e-mail address"),
    ],
)
def test_problems_are_rejected_naming_segment_and_field(text, code, error, location, reason):
    problem = rejected(text, assigning_authority="UMCU")
    assert (problem.code, problem.error, (problem.segment, problem.field)) == (code, error, location)
    assert reason in problem.text, problem.text


def test_the_ack_of_an_applied_message_is_a_well_formed_aa():
    header = adt.parse(message()).header
    ack = read_ack(build_ack(header, "AA", application="ONEVISIT"))
    assert (ack.code, ack.control_id, ack.error_location) == ("AA", "C1", "")
    assert ack.raw.startswith("MSH|^~\\&|ONEVISIT|DAYCARE|HIS|UMC|") and "|ACK^A04^ACK|" in ack.raw


def test_the_ack_of_a_rejected_message_names_location_code_and_reason_escaped():
    problem = rejected(message("A04", PID.replace("19580430000000+0100", "2026|13")))
    ack = read_ack(build_ack(problem.header, problem.code, application="ONEVISIT", rejected=problem))
    assert (ack.code, ack.control_id, ack.error_location) == ("AE", "C1", "PID^1^7")
    assert "|102^Data type error^HL70357|E|" in ack.raw
    assert ack.error_text.startswith("PID-7 birth date 2026")


def test_garbage_gets_an_ar_without_a_control_id():
    problem = rejected("\x00\xff garbage")
    ack = read_ack(build_ack(problem.header, problem.code, application="ONEVISIT", rejected=problem))
    assert (ack.code, ack.control_id) == ("AR", "")


def test_the_client_builds_messages_the_parser_reads_back():
    text = adt_message("A40", Person(mrn="S1"), merged_mrn="M1", control_id="X1")
    command = adt.parse(text, assigning_authority="UMCU")
    assert isinstance(command, adt.Merge) and (command.record.mrn, command.merged_mrn) == ("S1", "M1")


def test_separators_in_the_reason_are_escaped_in_the_ack():
    header = adt.parse(message()).header
    problem = adt.Rejected("AE", "PID-5 name O|Brien^&~\\x is odd", error="102", segment="PID", field=5)
    ack = read_ack(build_ack(header, "AE", application="ONEVISIT", rejected=problem))
    assert ack.error_text == "PID-5 name O|Brien^&~\\x is odd"
    assert ack.raw.count("\r") == 3


def test_a40_with_a_minimal_pid_merges_without_demographics_but_a_wrong_field_is_still_refused():
    minimal = message("A40", "PID|1||P000123^^^UMCU^MR||de Vries^Mila", "MRG|P000099^^^UMCU^MR")
    command = adt.parse(minimal, assigning_authority="UMCU")
    assert isinstance(command, adt.Merge) and command.record is None
    assert (command.survivor_mrn, command.merged_mrn) == ("P000123", "P000099")
    wrong = minimal.replace("de Vries^Mila", "de Vries^Mila||20261350")
    problem = rejected(wrong, assigning_authority="UMCU")
    assert (problem.code, problem.segment, problem.field) == ("AE", "PID", 7)
