"""An invoice or credit note as a PDF (reportlab), from text already translated and formatted.

The caller (the web layer) translates every label and formats every amount and date in the
patient's language; this module only lays them out on A4. The text is set in Source Sans Pro
(TrueType, from the ``font-source-sans-pro`` package, SIL Open Font License), embedded as a subset, so
names print as written in Latin scripts (Polish, Czech, Vietnamese...), Greek and Cyrillic; reportlab's
built-in Helvetica only knows Windows-1252 and would have changed them.
"""

import io
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import font_source_sans_pro
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT = "OneVisitSans"
FONT_BOLD = "OneVisitSans-Bold"
_SPACES = {"\u202f": "\u00a0", "\u2009": "\u00a0", "\u2007": "\u00a0"}


@dataclass(frozen=True)
class PdfInvoice:
    title: str
    number: str
    language: str
    issuer: list[str]
    recipient: list[str]
    meta: list[tuple[str, str]]
    header: list[str]
    rows: list[list[str]]
    totals: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)


def register_fonts() -> None:
    """Registers the embedded font family with reportlab once per process."""
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    files = font_source_sans_pro.font_files_ttf
    pdfmetrics.registerFont(TTFont(FONT, files["SourceSansPro"]))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, files["SourceSansProBold"]))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD)


def pdf_text(value: object) -> str:
    """``value`` XML-escaped for reportlab paragraphs; the thin no-break spaces Babel puts in French
    amounts (which the font lacks) become ordinary no-break spaces."""
    return escape("".join(_SPACES.get(ch, ch) for ch in str(value)))


def render_pdf(document: PdfInvoice, *, compress: bool = True) -> bytes:
    """The PDF bytes; ``compress=False`` leaves page streams readable (tests search them for text)."""
    register_fonts()
    buffer = io.BytesIO()
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontName=FONT, fontSize=10, leading=13)
    small = ParagraphStyle("small", parent=body, fontSize=9, leading=11, textColor=colors.HexColor("#444444"))
    right = ParagraphStyle("right", parent=body, alignment=TA_RIGHT)
    bold_right = ParagraphStyle("bold_right", parent=right, fontName=FONT_BOLD)
    title = ParagraphStyle(
        "title", parent=styles["Title"], fontName=FONT_BOLD, fontSize=18, alignment=0
    )

    pdf = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"{document.title} {document.number}",
        author=" ".join(document.issuer[:1]),
        lang=document.language,
        pageCompression=1 if compress else 0,
        invariant=1,
    )

    def lines(values: list[str], style: ParagraphStyle) -> Paragraph:
        return Paragraph("<br/>".join(pdf_text(v) for v in values), style)

    story: list = [
        Table(
            [[lines(document.issuer, small), lines(document.recipient, body)]],
            colWidths=[87 * mm, 87 * mm],
            style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]),
        ),
        Spacer(1, 8 * mm),
        Paragraph(pdf_text(f"{document.title} {document.number}"), title),
        Spacer(1, 3 * mm),
    ]
    if document.meta:
        story.append(
            Table(
                [[Paragraph(pdf_text(k), small), Paragraph(pdf_text(v), body)] for k, v in document.meta],
                colWidths=[45 * mm, 129 * mm],
                style=TableStyle(
                    [("LEFTPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]
                ),
            )
        )
    story.append(Spacer(1, 6 * mm))
    widths = [70 * mm, 24 * mm, 28 * mm, 20 * mm, 32 * mm]
    head = [
        Paragraph(f"<b>{pdf_text(h)}</b>", body if i == 0 else right) for i, h in enumerate(document.header)
    ]
    rows = [
        [Paragraph(pdf_text(c), body if i == 0 else right) for i, c in enumerate(row)]
        for row in document.rows
    ]
    story.append(
        Table(
            [head, *rows],
            colWidths=widths,
            repeatRows=1,
            style=TableStyle(
                [
                    ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                    ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            ),
        )
    )
    story.append(Spacer(1, 4 * mm))
    totals = [
        [Paragraph(pdf_text(k), bold_right if i == len(document.totals) - 1 else right),
         Paragraph(pdf_text(v), bold_right if i == len(document.totals) - 1 else right)]
        for i, (k, v) in enumerate(document.totals)
    ]  # fmt: skip
    if totals:
        story.append(
            Table(
                totals,
                colWidths=[142 * mm, 32 * mm],
                style=TableStyle([("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black)]),
            )
        )
    if document.notes:
        story.append(Spacer(1, 8 * mm))
        story.extend(Paragraph(pdf_text(note), small) for note in document.notes)
    pdf.build(story)
    return buffer.getvalue()
