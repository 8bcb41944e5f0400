"""The invoice PDF: a real PDF, carrying the invoice number, lines and amounts in the patient's language."""

import io

import pytest
from pypdf import PdfReader
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
    """The text of every page as a PDF reader extracts it (no-break spaces as plain spaces)."""
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return text.replace("\u00a0", " ")


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
    assert "165,86 €" in shown and "décembre 2026" in shown
    assert "Quantité" in shown  # the column is wide enough for the word: no break inside it
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


def _document(recipient: list[str], header: list[str] | None = None) -> PdfInvoice:
    return PdfInvoice(title="Invoice", number="2026-000042", language="en", issuer=["OneVisit"],
                      recipient=recipient, meta=[("Patient", recipient[0])],
                      header=header or ["Description", "Quantity", "Unit price", "VAT", "Amount"],
                      rows=[["Consult", "1", "€1.00", "0%", "€1.00"]], totals=[("Total", "€1.00")])  # fmt: skip


def test_pdf_text_escapes_markup_and_keeps_every_letter():
    assert pdf_text("1\u202f234,50\u00a0€") == "1\u00a0234,50\u00a0€"
    assert pdf_text("Zoë <b>&") == "Zoë &lt;b&gt;&amp;"
    assert pdf_text("Łukasz Żółć") == "Łukasz Żółć"


@pytest.mark.parametrize(
    "name",
    ["Łukasz Żółć", "Nguyễn Thị Minh Khai", "Ελένη Παπαδοπούλου", "Дмитрий Иванович Соколов", "Zoë Ørsted-Çelik"],
)
def test_names_print_as_written_with_an_embedded_unicode_font(name):
    pdf = render_pdf(_document([name, "Grote Markt 1"]))
    assert pdf.startswith(b"%PDF")
    shown = _strings(pdf)
    assert name in shown and "2026-000042" in shown
    assert b"/FontFile2" in pdf  # a TrueType font, embedded


def test_french_headers_are_never_broken_inside_a_word():
    shown = _strings(render_pdf(_document(["Zoë"], ["Description", "Quantité", "Prix unitaire", "TVA", "Montant"])))
    assert "Quantité" in shown and "Montant" in shown
