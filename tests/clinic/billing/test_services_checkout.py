"""Checkout without HTTP: invoices from the steps actually performed, hand-computed totals, one per visit."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from clinic.audit import services as audit_log
from clinic.audit.models import AuditEvent
from clinic.billing.checkout import check_out, checkout_queue, invoice_document, preview
from clinic.billing.invoices import credit_invoice, issue_invoice
from clinic.billing.models import Invoice, InvoiceLine, InvoiceStatus
from clinic.errors import Conflict, NotFound
from clinic.settings import ConfigError, vat_rate_bp
from clinic.unit.models import Pathway, PathwayStep, ResourceKind
from clinic.visits.models import StepStatus, Visit, VisitStatus, VisitStep
from tests.factories import make_patient, make_step_type, make_unit, make_user, make_visit

TZ = "Europe/Amsterdam"
UNIT = make_unit(tz=TZ)
DAY = dt.date(2026, 12, 1)
START = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 12, 1, 14, 0, tzinfo=dt.UTC)


def infusion_pathway(session: Session) -> Pathway:
    """reg (free) -> lab 24.50 at 9 % -> consult 115.00 at 21 % -> infusion 680.00 at 0 % -> checkout (free)."""
    specs = [
        ("reg", ResourceKind.REGISTRATION, 10, 0, 0, "Registration"),
        ("lab", ResourceKind.LAB, 15, 2450, 900, "Blood draw"),
        ("cons", ResourceKind.CONSULT, 20, 11500, 2100, "Consultation"),
        ("treat", ResourceKind.CHAIR, 60, 68000, 0, "Infusion treatment"),
        ("out", ResourceKind.CHECKOUT, 10, 0, 0, "Checkout"),
    ]
    pathway = Pathway(code=f"onco-{id(specs)}", name="Oncology infusion day")
    for sequence, (code, kind, minutes, tariff, vat, name) in enumerate(specs, start=1):
        step_type = make_step_type(session, kind=kind, minutes=minutes, name=name, vat_rate_bp=vat)
        step_type.tariff_cents = tariff
        pathway.steps.append(PathwayStep(code=code, sequence=sequence, step_type=step_type))
    session.add(pathway)
    session.commit()
    return pathway


def set_steps(session: Session, visit: Visit, statuses: dict[str, StepStatus]) -> None:
    for step in visit.steps:
        status = statuses.get(step.pathway_step.code, StepStatus.PLANNED)
        step.status = status
        if status in (StepStatus.DONE, StepStatus.IN_PROGRESS):
            step.actual_start = step.planned_start
        if status == StepStatus.DONE:
            step.actual_end = step.planned_end
    session.commit()


@pytest.fixture
def pathway(session: Session) -> Pathway:
    return infusion_pathway(session)


def test_invoice_charges_performed_steps_with_vat_rounded_per_line(
    session: Session, pathway: Pathway
) -> None:
    clerk = make_user(session, username="clerk")
    visit = make_visit(session, pathway=pathway, day=DAY, start=START, status=VisitStatus.IN_PROGRESS)
    set_steps(session, visit, {"reg": StepStatus.DONE, "lab": StepStatus.DONE, "cons": StepStatus.DONE,
                               "treat": StepStatus.IN_PROGRESS})  # fmt: skip

    shown = preview(session=session, visit_id=visit.id, unit=UNIT, now=NOW)
    assert shown.allowed and [line.name for line in shown.charged] == [
        "Registration", "Blood draw", "Consultation", "Infusion treatment", "Checkout"
    ]  # fmt: skip
    invoice = check_out(session=session, visit_id=visit.id, actor_id=clerk.id, unit=UNIT, now=NOW)

    # 24.50 at 9 % = 2.205 -> 2.21 (half up); 115.00 at 21 % = 24.15; 680.00 at 0 %
    # every performed step is on the invoice, the free ones at 0
    assert [(li.description, li.net_cents, li.vat_cents) for li in invoice.lines] == [
        ("Registration", 0, 0),
        ("Blood draw", 2450, 221),
        ("Consultation", 11500, 2415),
        ("Infusion treatment", 68000, 0),
        ("Checkout", 0, 0),
    ]
    assert (invoice.subtotal_cents, invoice.vat_cents, invoice.total_cents) == (81950, 2636, 84586)
    assert shown.total_cents == invoice.total_cents
    assert invoice.number == "2026-000001" and invoice.currency == "EUR"

    session.expire_all()
    visit = session.get(Visit, visit.id)
    assert visit.status is VisitStatus.COMPLETED
    by_code = {s.pathway_step.code: s for s in visit.steps}
    assert by_code["treat"].status is StepStatus.DONE and by_code["treat"].actual_end == NOW
    assert by_code["out"].status is StepStatus.DONE  # the checkout step itself is performed now
    actions = {e.action for e in session.exec(select(AuditEvent))}
    assert {"visit.checked_out", "invoice.issued"} <= actions
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "visit.checked_out")).one()
    assert event.actor_id == clerk.id and event.details["invoice"] == "2026-000001"


def test_steps_not_performed_are_skipped_and_not_charged(session: Session, pathway: Pathway) -> None:
    visit = make_visit(session, pathway=pathway, day=DAY, start=START, status=VisitStatus.IN_PROGRESS)
    set_steps(session, visit, {"reg": StepStatus.DONE, "lab": StepStatus.DONE})
    invoice = check_out(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=NOW)
    assert [li.description for li in invoice.lines] == ["Registration", "Blood draw", "Checkout"]
    assert (invoice.subtotal_cents, invoice.vat_cents, invoice.total_cents) == (2450, 221, 2671)
    session.expire_all()
    statuses = {s.pathway_step.code: s.status for s in session.get(Visit, visit.id).steps}
    assert statuses == {"reg": StepStatus.DONE, "lab": StepStatus.DONE, "cons": StepStatus.SKIPPED,
                        "treat": StepStatus.SKIPPED, "out": StepStatus.DONE}  # fmt: skip


def test_configured_vat_rate_overrides_the_step_types(session: Session, pathway: Pathway) -> None:
    visit = make_visit(session, pathway=pathway, day=DAY, start=START, status=VisitStatus.CHECKED_IN)
    set_steps(session, visit, {"lab": StepStatus.DONE, "cons": StepStatus.DONE})
    invoice = check_out(session=session, visit_id=visit.id, actor_id=None, unit=make_unit(vat_rate_bp=2100), now=NOW)
    # 24.50 * 21 % = 5.145 -> 5.15; 115.00 * 21 % = 24.15
    assert [li.vat_cents for li in invoice.lines] == [515, 2415, 0]  # lab, consult, checkout
    assert (invoice.subtotal_cents, invoice.vat_cents, invoice.total_cents) == (13950, 2930, 16880)
    assert {li.vat_rate_bp for li in invoice.lines} == {2100}


def test_vat_rate_setting_is_checked() -> None:
    assert vat_rate_bp(None) is None and vat_rate_bp(" ") is None
    assert vat_rate_bp("2100") == 2100 and vat_rate_bp(0) == 0
    for bad in ("21%", "-1", "10001", "abc"):
        with pytest.raises(ConfigError, match="VAT_RATE_BP"):
            vat_rate_bp(bad)


@pytest.mark.parametrize(
    "status",
    [
        VisitStatus.REQUESTED,
        VisitStatus.BOOKED,
        VisitStatus.CONFIRMED,
        VisitStatus.CANCELLED,
        VisitStatus.NO_SHOW,
    ],  # fmt: skip
)
def test_visits_not_checked_in_are_refused_and_nothing_is_written(
    session: Session, pathway: Pathway, status: VisitStatus
) -> None:
    visit = make_visit(session, pathway=pathway, day=DAY, start=START, status=status)
    assert preview(session=session, visit_id=visit.id, unit=UNIT, now=NOW).problem.code == "not_checked_in"
    with pytest.raises(Conflict) as info:
        check_out(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=NOW)
    assert info.value.code == "not_checked_in" and status.value in info.value.message
    session.expire_all()
    assert session.get(Visit, visit.id).status is status
    assert session.exec(select(Invoice)).all() == [] and session.exec(select(AuditEvent)).all() == []
    assert {s.status for s in session.exec(select(VisitStep))} == {StepStatus.PLANNED}


def test_nothing_chargeable_is_refused_without_changing_the_visit(session: Session, pathway: Pathway) -> None:
    visit = make_visit(session, pathway=pathway, day=DAY, start=START, status=VisitStatus.CHECKED_IN)
    set_steps(session, visit, {"reg": StepStatus.DONE})
    with pytest.raises(Conflict) as info:
        check_out(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=NOW)
    assert info.value.code == "nothing_to_invoice"
    session.expire_all()
    visit = session.get(Visit, visit.id)
    assert visit.status is VisitStatus.CHECKED_IN
    assert {s.pathway_step.code: s.status for s in visit.steps}["out"] is StepStatus.PLANNED


def test_unknown_visit_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        check_out(session=session, visit_id=999999, actor_id=None, unit=UNIT)
    with pytest.raises(NotFound):
        preview(session=session, visit_id=999999, unit=UNIT)


def test_checking_out_twice_is_impossible(session: Session, pathway: Pathway) -> None:
    visit = make_visit(session, pathway=pathway, day=DAY, start=START, status=VisitStatus.IN_PROGRESS)
    set_steps(session, visit, {"lab": StepStatus.DONE})
    first = check_out(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=NOW)
    with pytest.raises(Conflict) as info:
        check_out(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=NOW)
    assert info.value.code == "already_invoiced" and first.number in info.value.message
    with pytest.raises(Conflict, match="already"):
        issue_invoice(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=NOW)
    assert preview(session=session, visit_id=visit.id, unit=UNIT, now=NOW).open_invoice_id == first.id
    assert len(session.exec(select(Invoice)).all()) == 1


def test_the_database_refuses_a_second_open_invoice_for_a_visit(session: Session, pathway: Pathway) -> None:
    """The unique partial index holds even when two clerks pass the service check at the same moment."""
    visit = make_visit(session, pathway=pathway, day=DAY, start=START, status=VisitStatus.COMPLETED)
    issue_invoice(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=NOW)
    session.add(Invoice(year=2026, seq=99, patient_id=visit.patient_id, visit_id=visit.id, currency="EUR"))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_the_database_refuses_a_second_credit_note(session: Session, pathway: Pathway) -> None:
    visit = make_visit(session, pathway=pathway, day=DAY, start=START, status=VisitStatus.COMPLETED)
    invoice = issue_invoice(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=NOW)
    credit_invoice(session=session, invoice_id=invoice.id, actor_id=None, tz=TZ, now=NOW)
    session.execute(sa.update(Invoice).where(Invoice.id == invoice.id).values(status="issued"))
    session.commit()
    session.expire_all()
    with pytest.raises(Conflict) as info:
        credit_invoice(session=session, invoice_id=invoice.id, actor_id=None, tz=TZ, now=NOW)
    assert info.value.code == "not_creditable"
    assert len(session.exec(select(Invoice).where(Invoice.credit_for_id == invoice.id)).all()) == 1


def test_credit_note_negates_the_lines_is_numbered_and_allows_a_new_checkout(
    session: Session, pathway: Pathway
) -> None:
    clerk = make_user(session, username="clerk")
    visit = make_visit(session, pathway=pathway, day=DAY, start=START, status=VisitStatus.IN_PROGRESS)
    set_steps(session, visit, {"lab": StepStatus.DONE, "cons": StepStatus.DONE})
    invoice = check_out(session=session, visit_id=visit.id, actor_id=clerk.id, unit=UNIT, now=NOW)
    credit = credit_invoice(
        session=session, invoice_id=invoice.id, actor_id=clerk.id, tz=TZ, now=NOW, reason="  wrong tariff "
    )
    assert credit.number == "2026-000002" and credit.credit_for_id == invoice.id
    assert [(li.description, li.unit_cents, li.net_cents, li.vat_cents) for li in credit.lines] == [
        ("Blood draw", -2450, -2450, -221),
        ("Consultation", -11500, -11500, -2415),
        ("Checkout", 0, 0, 0),
    ]
    assert credit.total_cents == -invoice.total_cents == -16586
    session.expire_all()
    assert session.get(Invoice, invoice.id).status is InvoiceStatus.CREDITED
    # the original invoice's lines were not touched
    assert sorted(li.net_cents for li in session.exec(select(InvoiceLine).where(
        InvoiceLine.invoice_id == invoice.id))) == [0, 2450, 11500]  # fmt: skip
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "invoice.credited")).one()
    assert event.details == {"number": invoice.number, "credit_note": credit.number, "reason": "wrong tariff"}

    document = invoice_document(session=session, invoice_id=credit.id)
    assert document.is_credit_note and document.credit_for_number == invoice.number
    assert invoice_document(session=session, invoice_id=invoice.id).credited_by_number == credit.number

    # the completed, no longer invoiced visit can be checked out again (a corrected invoice)
    again = check_out(session=session, visit_id=visit.id, actor_id=clerk.id, unit=UNIT, now=NOW)
    assert again.number == "2026-000003" and again.total_cents == invoice.total_cents


def test_numbers_follow_the_clinic_year(session: Session, pathway: Pathway) -> None:
    new_year = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)  # 2027 in Amsterdam
    numbers = []
    for when in (NOW, new_year, new_year):
        day = when.astimezone(ZoneInfo(TZ)).date()  # checked out on the visit's own day
        visit = make_visit(session, pathway=pathway, day=day, start=START + (day - DAY), status=VisitStatus.CHECKED_IN)
        set_steps(session, visit, {"lab": StepStatus.DONE})
        numbers.append(check_out(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=when).number)
    assert numbers == ["2026-000001", "2027-000001", "2027-000002"]


def test_checkout_queue_lists_todays_visits_not_yet_invoiced_first(
    session: Session, pathway: Pathway
) -> None:
    patient = make_patient(session, given_name="Zoë", family_name="Zuidema")
    waiting = make_visit(session, patient=patient, pathway=pathway, day=DAY, start=START,
                         status=VisitStatus.IN_PROGRESS)  # fmt: skip
    done = make_visit(session, pathway=pathway, day=DAY, start=START, status=VisitStatus.IN_PROGRESS)
    set_steps(session, done, {"lab": StepStatus.DONE})
    invoice = check_out(session=session, visit_id=done.id, actor_id=None, unit=UNIT, now=NOW)
    make_visit(session, pathway=pathway, day=DAY, start=START, status=VisitStatus.BOOKED)
    rows = checkout_queue(session=session, day=DAY)
    assert [(r.visit_id, r.invoice_number) for r in rows] == [(waiting.id, None), (done.id, invoice.number)]


def test_audit_log_search_filters_by_entity_user_and_local_date(session: Session, pathway: Pathway) -> None:
    clerk = make_user(session, username="clerk", display_name="Clara Clerk")
    other = make_user(session, username="other")
    visit = make_visit(session, pathway=pathway, day=DAY, start=START, status=VisitStatus.IN_PROGRESS)
    set_steps(session, visit, {"lab": StepStatus.DONE})
    check_out(session=session, visit_id=visit.id, actor_id=clerk.id, unit=UNIT, now=NOW)
    session.execute(sa.update(AuditEvent).values(at=NOW))  # the service stamps the real time
    late = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)  # 2 December in Amsterdam
    session.add(
        AuditEvent(actor_id=other.id, action="visit.note", entity="visit", entity_id=visit.id, at=late)
    )
    session.commit()

    everything = audit_log.search(session=session, tz=TZ)
    assert everything.total == 3 and everything.rows[0].action == "visit.note"  # newest first
    invoices = audit_log.search(session=session, tz=TZ, entity="invoice")
    assert [r.action for r in invoices.rows] == ["invoice.issued"] and invoices.rows[
        0
    ].actor_name == "Clara Clerk"
    assert audit_log.search(session=session, tz=TZ, actor_id=other.id).total == 1
    assert audit_log.search(session=session, tz=TZ, date_from=DAY, date_to=DAY).total == 2
    assert audit_log.search(session=session, tz=TZ, date_from=DAY + dt.timedelta(days=1)).total == 1
    assert audit_log.search(session=session, tz=TZ, entity="visit", entity_id=visit.id).total == 2
    assert audit_log.entities(session=session) == ["invoice", "visit"]
    paged = audit_log.search(session=session, tz=TZ, page=2, page_size=2)
    assert len(paged.rows) == 1 and paged.pages == 2 and paged.has_previous and not paged.has_next
    with pytest.raises(Exception, match="before the start"):
        audit_log.search(session=session, tz=TZ, date_from=DAY, date_to=DAY - dt.timedelta(days=1))


def test_concurrent_checkouts_of_one_visit_issue_exactly_one_invoice(
    session: Session, pathway: Pathway
) -> None:
    """Four clerks press "check out" at the same moment: one invoice, the others get ``already_invoiced``."""
    import threading

    visit = make_visit(session, pathway=pathway, day=DAY, start=START, status=VisitStatus.IN_PROGRESS)
    set_steps(session, visit, {"lab": StepStatus.DONE, "cons": StepStatus.IN_PROGRESS})
    engine = session.get_bind()
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def clerk() -> None:
        with Session(engine, expire_on_commit=False) as own:
            barrier.wait()
            try:
                check_out(session=own, visit_id=visit.id, actor_id=None, unit=UNIT, now=NOW)
                outcomes.append("issued")
            except Conflict as exc:
                outcomes.append(exc.code)

    threads = [threading.Thread(target=clerk) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["already_invoiced"] * 3 + ["issued"]
    session.expire_all()
    assert len(session.exec(select(Invoice)).all()) == 1
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "visit.checked_out")).all()) == 1


def test_an_issued_invoice_cannot_be_edited_only_credited(session: Session, pathway: Pathway) -> None:
    from clinic.billing.invoices import InvoiceImmutable

    visit = make_visit(session, pathway=pathway, day=DAY, start=START, status=VisitStatus.COMPLETED)
    invoice = issue_invoice(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=NOW)
    invoice.total_cents += 100
    with pytest.raises(InvoiceImmutable, match="total_cents"):
        session.commit()
    session.rollback()
    invoice = session.get(Invoice, invoice.id)
    invoice.lines[0].description = "Something else"
    with pytest.raises(InvoiceImmutable):
        session.commit()
    session.rollback()
    invoice = session.get(Invoice, invoice.id)
    invoice.status = InvoiceStatus.ISSUED  # no change at all is fine
    session.commit()
    credit_invoice(session=session, invoice_id=invoice.id, actor_id=None, tz=TZ, now=NOW)
    assert session.get(Invoice, invoice.id).status is InvoiceStatus.CREDITED


def test_checkout_rereads_a_visit_another_clerk_changed_after_the_preview(
    session: Session, pathway: Pathway
) -> None:
    visit = make_visit(session, pathway=pathway, day=DAY, start=START, status=VisitStatus.IN_PROGRESS)
    set_steps(session, visit, {"lab": StepStatus.DONE})
    assert preview(session=session, visit_id=visit.id, unit=UNIT, now=NOW).allowed  # loads the visit into this session
    with Session(session.get_bind()) as other:
        other.execute(sa.update(Visit).where(Visit.id == visit.id).values(status="cancelled"))
        other.commit()
    with pytest.raises(Conflict) as info:
        check_out(session=session, visit_id=visit.id, actor_id=None, unit=UNIT, now=NOW)
    assert info.value.code == "not_checked_in"
