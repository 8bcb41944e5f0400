"""The patient feed's screen: the last messages with their ACK codes and errors, for coordinators and admins."""

from clinic.hl7.client import Person, adt_message
from clinic.hl7.models import Hl7Inbound


def test_the_screen_lists_the_messages_newest_first_with_their_answers(coordinator_client, session, mllp_client):
    mllp_client.send(adt_message("A04", Person(mrn="P1"), control_id="SCREEN-OK"))
    mllp_client.send(adt_message("A04", Person(mrn="P2", birth_date="20261350"), control_id="SCREEN-BAD"))
    page = coordinator_client.get("/hl7/inbound")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "SCREEN-OK" in text and "SCREEN-BAD" in text
    assert text.index("SCREEN-BAD") < text.index("SCREEN-OK")
    assert "PID-7 birth date 20261350 is not a date" in text
    assert "AA Applied" in text and "AE Error" in text


def test_the_screen_is_translated(admin_client, session):
    session.add(Hl7Inbound(control_id="X1", trigger="ADT^A04", ack_code="AR", error="garbage", ack="MSH|"))
    session.commit()
    dutch = admin_client.get("/hl7/inbound", headers={"Accept-Language": "nl"}).get_data(as_text=True)
    assert "Patiëntenfeed" in dutch and "AR Geweigerd" in dutch
    french = admin_client.get("/hl7/inbound", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Flux patients" in french and "AR Rejeté" in french


def test_the_front_desk_may_not_see_it(desk_client):
    assert desk_client.get("/hl7/inbound").status_code == 403
