"""The export's PDF: in the patient's language, set with the invoice PDF's machinery (its fonts)."""

import io

from pypdf import PdfReader

from clinic.billing.invoice_pdf import PdfInvoice, render_pdf
from clinic.privacy.export_pdf import PdfExport, PdfSection, render_export_pdf

NAME = "Zofia Wiśniewska-Quist, Łódź"


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_a_unicode_name_prints_as_written_with_the_invoices_font():
    invoice = render_pdf(PdfInvoice(title="Facture", number="1", language="fr", issuer=["OneVisit"],
                                    recipient=[NAME], meta=[], header=["a", "b", "c", "d", "e"], rows=[],
                                    totals=[]))  # fmt: skip
    export = render_export_pdf(PdfExport(title="Vos données", language="fr", intro=[], details=[("Nom", NAME)]))
    printed = next(line for line in text_of(invoice).splitlines() if "Quist" in line)
    assert printed.strip() in text_of(export)
    assert NAME in text_of(export)


def test_sections_list_their_rows_and_say_when_empty():
    document = PdfExport(
        title="Uw gegevens bij OneVisit",
        language="nl",
        intro=["Alles wat de dagbehandeling over u bewaart."],
        details=[("Naam", "Anna Tester")],
        sections=[
            PdfSection(heading="Bezoeken", header=["Datum", "Details"], rows=[["3 dec 2026", "status: completed"]],
                       empty="Niets vastgelegd."),
            PdfSection(heading="Wachtlijst", header=["Datum", "Details"], rows=[], empty="Niets vastgelegd."),
        ],
    )  # fmt: skip
    text = text_of(render_export_pdf(document))
    for expected in ("Uw gegevens bij OneVisit", "Anna Tester", "Bezoeken", "status: completed", "Wachtlijst",
                     "Niets vastgelegd."):  # fmt: skip
        assert expected in text, expected
