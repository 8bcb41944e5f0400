"""The invoice PDF: a real PDF, carrying the invoice number, lines and amounts in the patient's language."""

import re

from sqlmodel import select

from clinic.billing.invoice_pdf import PdfInvoice, pdf_text, render_pdf
from clinic.billing.models import Invoice
from clinic.visits.models import StepStatus
from tests.clinic.billing.test_web_checkout import checked_in_visit


def _checked_out(desk_client, post_form, session, language: str) -> Invoice:
    visit = checked_in_visit(session, language=language, reg=StepStatus.DONE, lab=StepStatus.DONE,
                             cons=StepStatus.DONE)  # fmt: skip
    assert post_form(desk_client, f"/visits/{visit.id}/checkout", {}).status_code == 302
    return session.exec(select(Invoice)).one()


def _strings(pdf: bytes) -> str:
    """Text shown on the pages of an uncompressed PDF (the operands of its ``Tj`` operators)."""
    shown = re.findall(rb"\((.*?)\) Tj", pdf)
    return " ".join(s.decode("latin-1").replace("\\200", "€").replace("\\240", " ") for s in shown)


def test_pdf_download_has_the_number_lines_and_dutch_amounts(app, desk_client, post_form, session):
    app.config["INVOICE_PDF_COMPRESS"] = False
    invoice = _checked_out(desk_client, post_form, session, "nl")
    response = desk_client.get(f"/invoices/{invoice.id}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="invoice-{invoice.number}.pdf"'
    body = response.get_data()
    assert body.startswith(b"%PDF")
    assert invoice.number.encode() in body
    shown = _strings(body)
    assert "Blood draw" in shown and "Consultation" in shown and "Infusion treatment" not in shown
    assert "€ 165,86" in shown and "€ 24,50" in shown  # Dutch formatting of the patient
    assert "december 2026" in shown and "Greet Jansen" in shown


def test_pdf_for_a_french_patient_and_a_credit_note(app, desk_client, post_form, session):
    app.config["INVOICE_PDF_COMPRESS"] = False
    invoice = _checked_out(desk_client, post_form, session, "fr")
    shown = _strings(desk_client.get(f"/invoices/{invoice.id}.pdf").get_data())
    assert "165,86 €" in shown and "décembre 2026".encode("cp1252").decode("latin-1") in shown.replace(
        "\\351", "é"
    )
    post_form(
        desk_client,
        f"/invoices/{invoice.id}/credit",
        {"reason": "duplicate"},
        form_page=f"/invoices/{invoice.id}",
    )
    credit = session.exec(select(Invoice).where(Invoice.credit_for_id == invoice.id)).one()
    response = desk_client.get(f"/invoices/{credit.id}.pdf")
    assert f'filename="credit-note-{credit.number}.pdf"' in response.headers["Content-Disposition"]
    shown = _strings(response.get_data())
    assert credit.number in shown and invoice.number in shown and "-165,86 €" in shown


def test_default_pdf_is_compressed_but_still_a_pdf(desk_client, post_form, session):
    invoice = _checked_out(desk_client, post_form, session, "en")
    body = desk_client.get(f"/invoices/{invoice.id}.pdf").get_data()
    assert body.startswith(b"%PDF") and body.rstrip().endswith(b"%%EOF")
    assert b"/FlateDecode" in body


def test_volunteers_cannot_download_invoices(volunteer_client):
    assert volunteer_client.get("/invoices/1.pdf").status_code == 403


def test_text_outside_helvetica_is_replaced_not_dropped():
    assert pdf_text("1\u202f234,50\u00a0€") == "1\u00a0234,50\u00a0€"
    assert pdf_text("Zoë <b>&") == "Zoë &lt;b&gt;&amp;"
    assert pdf_text("Łukasz Ǆ") != ""
    pdf = render_pdf(
        PdfInvoice(title="Invoice", number="2026-000042", language="en", issuer=["OneVisit"],
                   recipient=["Łukasz 李"], meta=[], header=["Description", "Qty", "Unit", "VAT", "Amount"],
                   rows=[["Consult", "1", "€1.00", "0%", "€1.00"]], totals=[("Total", "€1.00")]),
        compress=False,
    )  # fmt: skip
    assert pdf.startswith(b"%PDF") and b"2026-000042" in pdf
