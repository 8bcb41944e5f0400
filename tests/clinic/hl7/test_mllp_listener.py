"""The running listener over a real socket: an hl7apy-built client sends ADT messages with MLLP framing and
reads the ACKs; the database shows what was applied (once) and that bad messages changed nothing."""

import datetime as dt
import threading

import pytest
from sqlmodel import Session, select

from clinic.audit.models import AuditEvent
from clinic.hl7.client import MllpClient, Person, adt_message, read_ack
from clinic.hl7.models import Hl7Inbound
from clinic.patients.models import Patient, PatientMerge
from clinic.patients.services import patient_by_mrn
from clinic.visits.models import Visit
from tests.factories import make_patient, make_visit


def patients(session: Session) -> list[Patient]:
    session.expire_all()
    return list(session.exec(select(Patient).order_by(Patient.mrn)))


def inbound(session: Session) -> list[Hl7Inbound]:
    session.expire_all()
    return list(session.exec(select(Hl7Inbound).order_by(Hl7Inbound.id)))


def test_a04_registers_the_patient_and_answers_aa(session, mllp_client):
    ack = read_ack(mllp_client.send(adt_message("A04", Person(mrn="P000123", language="fr"), control_id="MSG1")))
    assert (ack.code, ack.control_id) == ("AA", "MSG1")
    patient = patient_by_mrn(session=session, mrn="P000123")
    assert patient is not None
    assert (patient.given_name, patient.family_name, patient.birth_date) == ("Mila", "de Vries", dt.date(1958, 4, 30))
    assert (patient.phone, patient.email, patient.language) == ("+31612345678", "mila@example.org", "fr")
    assert (patient.address_line, patient.postcode, patient.city) == ("Kerkstraat 1", "3511 AB", "Utrecht")
    [row] = inbound(session)
    assert (row.control_id, row.trigger, row.ack_code, row.sending_application) == ("MSG1", "ADT^A04", "AA", "HIS")
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "patient.created")).one()
    assert event.details["source"] == "hl7:ADT^A04"


def test_a08_updates_and_keeps_what_the_desk_entered(session, mllp_client):
    existing = make_patient(session, mrn="P000123", distance_km=61.0, needs_interpreter=True)
    person = Person(mrn="P000123", family_name="Jansen", address="Dorpsweg 4^^Zeist^^3701 AA^NL^H")
    assert read_ack(mllp_client.send(adt_message("A08", person, control_id="MSG2"))).code == "AA"
    [patient] = patients(session)
    assert patient.id == existing.id
    assert (patient.family_name, patient.address_line, patient.city) == ("Jansen", "Dorpsweg 4", "Zeist")
    assert (patient.distance_km, patient.needs_interpreter) == (61.0, True)


def test_a28_and_a31_register_and_update_too(session, mllp_client):
    assert read_ack(mllp_client.send(adt_message("A28", Person(mrn="P7"), control_id="M28"))).code == "AA"
    assert read_ack(mllp_client.send(adt_message("A31", Person(mrn="P7", given_name="Mia"), control_id="M31"))
                    ).code == "AA"
    [patient] = patients(session)
    assert (patient.mrn, patient.given_name) == ("P7", "Mia")
    assert [row.trigger for row in inbound(session)] == ["ADT^A28", "ADT^A31"]


def test_the_same_message_twice_is_applied_once_and_answered_with_the_same_ack(session, mllp_client):
    first = adt_message("A08", Person(mrn="P1"), control_id="DUP1")
    answer = mllp_client.send(first)
    again = mllp_client.send(first)
    assert read_ack(answer).code == "AA" and again == answer
    # the same control id with other content is still the message already applied: nothing changes
    changed = adt_message("A08", Person(mrn="P1", given_name="Other"), control_id="DUP1")
    assert mllp_client.send(changed) == answer
    [patient] = patients(session)
    assert patient.given_name == "Mila"
    assert len(session.exec(select(AuditEvent)).all()) == 1
    assert len(inbound(session)) == 1
    # another sender may use the same control id for its own message
    other = adt_message("A08", Person(mrn="P2"), control_id="DUP1", sending_application="LAB")
    assert read_ack(mllp_client.send(other)).code == "AA"
    assert len(patients(session)) == 2


def test_the_same_message_on_two_connections_at_once_is_applied_once(session, listener):
    message = adt_message("A04", Person(mrn="P9"), control_id="RACE1")
    answers: list[str] = []
    barrier = threading.Barrier(4)

    def send() -> None:
        with MllpClient("127.0.0.1", listener.bound_port) as connection:
            barrier.wait()
            answers.append(connection.send(message))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == 4 and len(set(answers)) == 1 and read_ack(answers[0]).code == "AA"
    assert len(patients(session)) == 1
    assert len([row for row in inbound(session) if row.ack_code == "AA"]) == 1


@pytest.mark.parametrize(
    ("message", "code", "location", "reason"),
    [
        (adt_message("A04", Person(mrn="P5", birth_date="20261350"), control_id="BAD1"), "AE", "PID^1^7",
         "PID-7 birth date 20261350 is not a date"),
        (adt_message("A04", Person(mrn="P5", identifier=""), control_id="BAD2"), "AE", "PID^1^3",
         "PID-3 patient identifier is missing"),
        (adt_message("A04", Person(mrn="P5", identifier="P5^^^OTHERHOSP^MR"), control_id="BAD3"), "AE", "PID^1^3",
         "PID-3 patient identifier has no identifier of assigning authority UMCU"),
        (adt_message("A04", Person(mrn="P5", phones=["^PRN^CP^^31^6^12"]), control_id="BAD4"), "AE", "PID^1^13",
         "PID-13 phone +31612"),
        (adt_message("A04", Person(mrn="P5", birth_date="21000101"), control_id="BAD5"), "AE", "PID^1^7",
         "cannot be in the future"),
        (adt_message("A04", Person(mrn="P5", family_name=""), control_id="BAD6"), "AE", "PID^1^5",
         "PID-5 patient name (family name) is missing"),
        (adt_message("A01", Person(mrn="P5"), control_id="BAD7"), "AR", "MSH^1^9",
         "MSH-9 trigger event A01 is not supported"),
        (adt_message("A40", Person(mrn="P5"), merged_mrn="P5", control_id="BAD8"), "AE", "MRG^1^1",
         "MRG-1 prior patient identifier P5 is the surviving patient's own"),
    ],
    ids=["birth-date", "no-pid-3", "other-authority", "phone", "future-birth", "no-name", "unsupported", "self-merge"],
)
def test_a_bad_message_is_answered_with_the_reason_and_changes_nothing(session, mllp_client, message, code,
                                                                       location, reason):
    ack = read_ack(mllp_client.send(message))
    assert ack.code == code
    assert ack.error_location == location
    assert reason in ack.error_text, ack.error_text
    assert patients(session) == []
    assert session.exec(select(AuditEvent)).all() == []
    [row] = inbound(session)
    assert row.ack_code == code and reason in row.error


def test_garbage_in_a_frame_gets_an_ar_and_the_connection_stays_usable(session, mllp_client):
    ack = read_ack(mllp_client.send_bytes(b"\x0b\xff\xfe not HL7 at all \x00\x1c\x0d"))
    assert ack.code == "AR" and ack.control_id == ""
    assert "not an HL7 message" in ack.error_text
    assert read_ack(mllp_client.send(adt_message("A04", Person(mrn="P3"), control_id="AFTER"))).code == "AA"
    assert [row.ack_code for row in inbound(session)] == ["AR", "AA"]
    assert [p.mrn for p in patients(session)] == ["P3"]


def test_bytes_outside_frames_are_dropped_and_two_messages_in_one_write_get_two_acks(session, mllp_client):
    one = adt_message("A04", Person(mrn="P1"), control_id="TWO1").encode()
    two = adt_message("A04", Person(mrn="P2"), control_id="TWO2").encode()
    first = mllp_client.send_bytes(b"noise\r\n\x0b" + one + b"\x1c\x0d\x0b" + two + b"\x1c\x0d")
    second = mllp_client.receive()
    assert [read_ack(first).control_id, read_ack(second).control_id] == ["TWO1", "TWO2"]
    assert [p.mrn for p in patients(session)] == ["P1", "P2"]


def test_a_rejected_message_corrected_under_the_same_control_id_is_applied(session, mllp_client):
    bad = adt_message("A04", Person(mrn="P4", birth_date="19581340"), control_id="FIX1")
    assert read_ack(mllp_client.send(bad)).code == "AE"
    good = adt_message("A04", Person(mrn="P4"), control_id="FIX1")
    assert read_ack(mllp_client.send(good)).code == "AA"
    assert [p.mrn for p in patients(session)] == ["P4"]


def test_a40_merges_the_visits_into_the_survivor(session, mllp_client):
    survivor = make_patient(session, mrn="S0001")
    merged = make_patient(session, mrn="M0001")
    visits = [make_visit(session, patient=merged).id, make_visit(session, patient=merged).id]
    message = adt_message("A40", Person(mrn="S0001", given_name="Saskia"), merged_mrn="M0001", control_id="MRG1")
    ack = read_ack(mllp_client.send(message))
    assert ack.code == "AA", ack.error_text
    [patient] = patients(session)
    assert (patient.id, patient.given_name) == (survivor.id, "Saskia")
    assert {v.patient_id for v in session.exec(select(Visit).where(Visit.id.in_(visits)))} == {survivor.id}
    assert session.exec(select(PatientMerge.merged_mrn)).all() == ["M0001"]
    # the engine sends the merge again under a new control id: a no-op, still AA
    again = adt_message("A40", Person(mrn="S0001", given_name="Saskia"), merged_mrn="M0001", control_id="MRG2")
    assert read_ack(mllp_client.send(again)).code == "AA"
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "patient.merged")).all()) == 1


def test_a40_for_an_unknown_record_changes_nothing(session, mllp_client):
    make_patient(session, mrn="S0001", given_name="Sara")
    message = adt_message("A40", Person(mrn="S0001", given_name="Saskia"), merged_mrn="M0404", control_id="MRG3")
    ack = read_ack(mllp_client.send(message))
    assert (ack.code, ack.error_location) == ("AE", "MRG^1^1")
    assert "record number M0404 does not exist" in ack.error_text
    [patient] = patients(session)
    assert patient.given_name == "Sara"  # the PID update of the same message was rolled back


def test_a_message_for_a_merged_record_number_is_refused(session, mllp_client):
    make_patient(session, mrn="S0001"), make_patient(session, mrn="M0001")
    before = adt_message("A08", Person(mrn="M0001"), control_id="EARLY1")
    applied = mllp_client.send(before)
    assert read_ack(mllp_client.send(adt_message("A40", Person(mrn="S0001"), merged_mrn="M0001",
                                                 control_id="MRG4"))).code == "AA"
    ack = read_ack(mllp_client.send(adt_message("A08", Person(mrn="M0001"), control_id="LATE1")))
    assert (ack.code, ack.error_location) == ("AE", "PID^1^3")
    assert "merged into S0001" in ack.error_text
    assert [p.mrn for p in patients(session)] == ["S0001"]
    # a copy of a message applied before the merge still gets its stored ACK
    assert mllp_client.send(before) == applied and read_ack(applied).code == "AA"


def test_an_older_version_gets_its_error_in_err_1(session, mllp_client):
    ack = read_ack(mllp_client.send(adt_message("A04", Person(mrn="P6", birth_date="1958"), control_id="V23",
                                                version="2.3")))
    assert ack.code == "AE" and ack.error_location.startswith("PID^1^7^102")
    assert "PID-7 birth date 1958" in ack.text


def test_two_messages_about_one_new_patient_at_once_are_both_applied(session, listener):
    """A04 and A08 of the same new patient on two connections: both insert the patient, one loses the race
    on the record number and is applied again as an update."""
    pairs = [(adt_message("A04", Person(mrn=f"R{n}"), control_id=f"R{n}-1"),
              adt_message("A08", Person(mrn=f"R{n}", given_name="Mia"), control_id=f"R{n}-2")) for n in range(12)]
    answers: list[str] = []
    barrier = threading.Barrier(2)

    def send(column: int) -> None:
        with MllpClient("127.0.0.1", listener.bound_port) as connection:
            for pair in pairs:
                barrier.wait()
                answers.append(connection.send(pair[column]))

    threads = [threading.Thread(target=send, args=(column,)) for column in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(read_ack(answer).code for answer in answers) == ["AA"] * 24, [
        read_ack(answer).error_text for answer in answers if read_ack(answer).code != "AA"]
    assert len(patients(session)) == 12


def test_a40_with_only_identifiers_and_name_merges_into_a_known_survivor(session, mllp_client):
    survivor = make_patient(session, mrn="S0001", given_name="Sara")
    merged = make_patient(session, mrn="M0001")
    visit = make_visit(session, patient=merged)
    minimal = Person(mrn="S0001", birth_date="", address="", phones=[], emails=[], language="")
    ack = read_ack(mllp_client.send(adt_message("A40", minimal, merged_mrn="M0001", control_id="MIN1")))
    assert ack.code == "AA", ack.error_text
    [patient] = patients(session)
    assert (patient.id, patient.given_name) == (survivor.id, "Sara")
    assert session.get(Visit, visit.id).patient_id == survivor.id
    unknown = adt_message("A40", Person(mrn="S0404", birth_date="", address="", phones=[], emails=[]),
                          merged_mrn="S0001", control_id="MIN2")
    ack = read_ack(mllp_client.send(unknown))
    assert (ack.code, ack.error_location) == ("AE", "PID^1^3")
    assert "record number S0404 does not exist" in ack.error_text


def test_a_frame_without_an_end_longer_than_the_limit_gets_an_ar_and_the_connection_closes(mllp_client):
    from clinic.hl7.listener import MAX_MESSAGE_BYTES

    ack = read_ack(mllp_client.send_bytes(b"\x0bMSH|" + b"A" * (MAX_MESSAGE_BYTES + 10)))
    assert ack.code == "AR" and "longer than" in ack.error_text
    with pytest.raises((ConnectionError, OSError)):
        mllp_client.send(adt_message("A04", Person(mrn="P1"), control_id="LATE"))


def test_when_the_database_is_down_the_message_gets_ae_207_to_be_sent_again():
    from clinic.bootstrap import make_session_factory
    from clinic.db import make_engine
    from clinic.hl7 import listener as mllp
    from clinic.hl7.feed import FeedConfig

    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    server, thread = mllp.start("127.0.0.1", 0, session_factory=make_session_factory(engine), config=FeedConfig())
    try:
        with MllpClient("127.0.0.1", server.bound_port) as connection:
            ack = read_ack(connection.send(adt_message("A04", Person(mrn="P1"), control_id="DOWN1")))
    finally:
        mllp.stop(server, thread)
        engine.dispose()
    assert (ack.code, ack.control_id) == ("AE", "DOWN1")
    assert "|207^Application internal error^HL70357|" in ack.raw
    assert "the database is not available" in ack.error_text


def test_nul_characters_are_dropped_before_anything_is_stored(session, mllp_client):
    message = adt_message("A04", Person(mrn="P8", family_name="de\x00 Vries"), control_id="NUL\x001")
    assert read_ack(mllp_client.send(message)).code == "AA"
    [patient] = patients(session)
    assert patient.family_name == "de Vries"
    assert inbound(session)[0].control_id == "NUL1"


def test_the_check_tool_sends_a_latin1_file_and_names_a_missing_one(session, listener, tmp_path, capsys):
    """``python -m clinic.hl7.client``, as docs/hl7.md has IT staff check a listener: a message file saved in
    ISO 8859-1 with LF line ends is sent as it reads; a file that is not there is named, not a traceback."""
    from clinic.hl7.client import main

    message = adt_message("A04", Person(mrn="P000321", family_name="Béchet"), control_id="FILE1")
    (tmp_path / "a04.hl7").write_bytes(message.replace("\r", "\n").encode("iso-8859-1"))
    with pytest.raises(SystemExit) as exit_code:
        main(["--host", "127.0.0.1", "--port", str(listener.bound_port), str(tmp_path / "a04.hl7"),
              str(tmp_path / "missing.hl7")])
    assert exit_code.value.code == 1
    out, err = capsys.readouterr()
    assert f"{tmp_path / 'a04.hl7'}: AA FILE1" in out
    assert f"{tmp_path / 'missing.hl7'}: cannot be read (No such file or directory)" in err
    assert patient_by_mrn(session=session, mrn="P000321").family_name == "Béchet"


def test_the_check_tool_says_when_no_listener_answers(tmp_path):
    from clinic.hl7.client import main

    with pytest.raises(SystemExit, match=r"cannot reach an MLLP listener at 127.0.0.1:1 \(Connection refused\)"):
        main(["--host", "127.0.0.1", "--port", "1", str(tmp_path / "any.hl7")])
