"""A patient's export (art. 15) as a readable PDF, from text already translated and formatted.

As with the invoice (``clinic.billing.invoice_pdf``, whose text handling and fonts this reuses), the web
layer translates every heading into the patient's language and formats every date; this module lays the
sections out on A4: the patient's details, then one table per kind of record. The invoice's embedded
Unicode font (Source Sans Pro) sets it, so names print as written (Polish, Czech, Greek, Cyrillic...).
"""

import io
from dataclasses import dataclass, field

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from clinic.billing.invoice_pdf import FONT, FONT_BOLD, pdf_text, register_fonts


@dataclass(frozen=True)
class PdfSection:
    heading: str
    header: list[str]
    rows: list[list[str]]
    empty: str


@dataclass(frozen=True)
class PdfExport:
    title: str
    language: str
    intro: list[str]
    details: list[tuple[str, str]]
    sections: list[PdfSection] = field(default_factory=list)


def render_export_pdf(document: PdfExport, *, compress: bool = True) -> bytes:
    """The PDF bytes; ``compress=False`` leaves page streams readable (tests search them for text)."""
    register_fonts()
    regular, bold = FONT, FONT_BOLD
    buffer = io.BytesIO()
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontName=regular, fontSize=9, leading=11)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#444444"))
    head = ParagraphStyle("head", parent=body, fontName=bold)
    title = ParagraphStyle("title", parent=styles["Title"], fontName=bold, fontSize=18, alignment=0)
    heading = ParagraphStyle("heading", parent=styles["Heading2"], fontName=bold, fontSize=12)
    pdf = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=document.title,
        author="OneVisit",
        lang=document.language,
        pageCompression=1 if compress else 0,
        invariant=1,
    )
    story: list = [Paragraph(pdf_text(document.title), title), Spacer(1, 2 * mm)]
    story.extend(Paragraph(pdf_text(line), small) for line in document.intro)
    story.append(Spacer(1, 4 * mm))
    story.append(
        Table(
            [[Paragraph(pdf_text(k), small), Paragraph(pdf_text(v), body)] for k, v in document.details],
            colWidths=[45 * mm, 129 * mm],
            style=TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("VALIGN", (0, 0), (-1, -1), "TOP")]),
        )
    )
    for section in document.sections:
        story.append(Paragraph(pdf_text(section.heading), heading))
        if not section.rows:
            story.append(Paragraph(pdf_text(section.empty), small))
            continue
        widths = [38 * mm, 136 * mm] if len(section.header) == 2 else None
        story.append(
            Table(
                [
                    [Paragraph(pdf_text(h), head) for h in section.header],
                    *[[Paragraph(pdf_text(cell), body) for cell in row] for row in section.rows],
                ],
                colWidths=widths,
                repeatRows=1,
                style=TableStyle(
                    [
                        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ]
                ),
            )
        )
    pdf.build(story)
    return buffer.getvalue()
