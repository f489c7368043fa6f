"""Render :class:`~odtrial.report.sections.ReportContent` as a Word document.

NIHR Journals Library conventions: one Word file, editable tables titled above with
lettered footnotes below, figures in the main body with their title below, no
footnotes in the text. The report type is repeated in every page header.
The file is deterministic: fixed core properties and fixed zip timestamps.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import docx
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from odtrial.report.sections import (
    Bullets,
    FigureBlock,
    Para,
    ReportContent,
    Section,
    TableBlock,
)
from odtrial.report.tables import add_table_to_docx

_FIXED_TIME = datetime(2000, 1, 1)  # core properties need a date; a fixed one keeps bytes stable
_TEXT_WIDTH_CM = 16.0
_LANDSCAPE_WIDTH_CM = 24.7  # 29.7 cm less the 2.5 cm side margins
_NAVY = RGBColor(0x1F, 0x4E, 0x79)


def _styles(doc) -> None:
    normal = doc.styles["Normal"]
    normal.font.name = "Arial"
    normal.font.size = Pt(10)
    normal.paragraph_format.space_after = Pt(6)
    normal.paragraph_format.line_spacing = 1.15
    # East-Asian font slot too, or LibreOffice falls back for some glyphs
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), "Arial")
    for name, size in (("Heading 1", 15), ("Heading 2", 12), ("Title", 20)):
        st = doc.styles[name]
        st.font.name = "Arial"
        _drop_theme_fonts(st)
        st.font.size = Pt(size)
        st.font.color.rgb = _NAVY
        st.paragraph_format.keep_with_next = True
    cap = doc.styles["Caption"]
    cap.font.name = "Arial"
    cap.font.size = Pt(9.5)
    cap.font.italic = False
    cap.font.color.rgb = RGBColor(0, 0, 0)
    cap.paragraph_format.space_before = Pt(6)
    cap.paragraph_format.space_after = Pt(3)


def _drop_theme_fonts(style) -> None:
    """Theme font attributes override the named font: remove them so Arial applies."""
    rfonts = style.element.rPr.rFonts
    for attr in ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme"):
        rfonts.attrib.pop(qn(f"w:{attr}"), None)
    rfonts.set(qn("w:eastAsia"), "Arial")


def _page_setup(doc, header_text: str) -> None:
    sec = doc.sections[0]
    sec.page_height, sec.page_width = Cm(29.7), Cm(21.0)
    sec.left_margin = sec.right_margin = Cm(2.5)
    sec.top_margin, sec.bottom_margin = Cm(2.2), Cm(2.0)
    hp = sec.header.paragraphs[0]
    hp.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    r = hp.add_run(header_text)
    r.font.size = Pt(8)
    r.bold = True
    r.font.color.rgb = RGBColor(0x9C, 0x1C, 0x1C)
    fp = sec.footer.paragraphs[0]
    fp.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _page_field(fp)


def _page_field(paragraph) -> None:
    """A PAGE field: Word and LibreOffice fill in the page number."""
    run = paragraph.add_run()
    for kind, text in (("begin", None), (None, "PAGE"), ("separate", None), ("end", None)):
        if kind:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
        else:
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = text
        run._r.append(el)
    run.font.size = Pt(9)


def _shade(paragraph, fill: str, border: str) -> None:
    p_pr = paragraph._p.get_or_add_pPr()
    bdr = OxmlElement("w:pBdr")
    for side in ("top", "left", "bottom", "right"):
        el = OxmlElement(f"w:{side}")
        for k, v in (("val", "single"), ("sz", "12"), ("space", "4"), ("color", border)):
            el.set(qn(f"w:{k}"), v)
        bdr.append(el)
    p_pr.append(bdr)
    shd = OxmlElement("w:shd")
    for k, v in (("val", "clear"), ("color", "auto"), ("fill", fill)):
        shd.set(qn(f"w:{k}"), v)
    p_pr.append(shd)


def _para(doc, b: Para) -> None:
    if b.style == "title":
        p = doc.add_paragraph(b.text, style="Title")
        p.paragraph_format.space_before = Pt(60)
        return
    p = doc.add_paragraph()
    if b.lead:
        lead = p.add_run(b.lead + " ")
        lead.bold = True
    run = p.add_run(b.text)
    if b.style == "subtitle":
        run.font.size = Pt(13)
        run.font.color.rgb = _NAVY
        p.paragraph_format.space_after = Pt(24)
    elif b.style == "banner":
        run.bold = True
        run.font.size = Pt(12)
        run.font.color.rgb = RGBColor(0x9C, 0x1C, 0x1C)
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.paragraph_format.space_after = Pt(30)
        _shade(p, "FBEAEA", "9C1C1C")
    elif b.style in ("meta", "small"):
        run.font.size = Pt(9.5 if b.style == "meta" else 8.5)


def _figure(doc, b: FigureBlock, png: Path) -> None:
    pic = doc.add_paragraph()
    pic.alignment = WD_ALIGN_PARAGRAPH.CENTER
    pic.paragraph_format.keep_with_next = True  # the title below stays with its figure
    pic.add_run().add_picture(str(png), width=Cm(min(b.width_cm, _TEXT_WIDTH_CM)))
    cap = doc.add_paragraph(style="Caption")
    r = cap.add_run(f"Figure {b.number} ")
    r.bold = True
    cap.add_run(b.title + ("." if not b.note else ". " + b.note))


def _section(doc, s: Section, figures: Mapping[str, Path]) -> None:
    if s.level == 0:  # title page: no heading
        pass
    else:
        h = doc.add_heading(s.title, level=s.level)
        h.paragraph_format.page_break_before = s.page_break
    for i, b in enumerate(s.blocks):
        if isinstance(b, Para):
            _para(doc, b)
            nxt = s.blocks[i + 1] if i + 1 < len(s.blocks) else None
            if isinstance(nxt, TableBlock | FigureBlock):
                # the sentence introducing a table or figure stays on its page
                doc.paragraphs[-1].paragraph_format.keep_with_next = True
        elif isinstance(b, Bullets):
            for item in b.items:
                p = doc.add_paragraph(item, style="List Bullet")
                p.paragraph_format.space_after = Pt(2)
        elif isinstance(b, TableBlock):
            if b.landscape:
                _orient(doc, landscape=True)
                add_table_to_docx(doc, b.table, width_cm=_LANDSCAPE_WIDTH_CM)
                _orient(doc, landscape=False)
            else:
                add_table_to_docx(doc, b.table, width_cm=_TEXT_WIDTH_CM)
        elif isinstance(b, FigureBlock):
            _figure(doc, b, figures[b.key])


def _orient(doc, *, landscape: bool) -> None:
    """Start a new page section in landscape or portrait (headers carry over)."""
    sec = doc.add_section(WD_SECTION.NEW_PAGE)
    sec.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    long, short = Cm(29.7), Cm(21.0)
    sec.page_width, sec.page_height = (long, short) if landscape else (short, long)


def _deterministic_zip(data: bytes) -> bytes:
    """Rewrite the .docx zip with fixed timestamps and a fixed member order."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        names = src.namelist()
        # [Content_Types].xml must stay first for strict readers
        for name in sorted(names, key=lambda n: (n != "[Content_Types].xml", n)):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, src.read(name))
    return out.getvalue()


def write_docx(content: ReportContent, path: Path, *, figures: Mapping[str, Path]) -> None:
    """Write the Word report to ``path``; ``figures`` maps figure keys to PNG files."""
    doc = docx.Document()
    _styles(doc)
    header = {
        "blinded": "BLINDED REPORT: arms shown as A and B",
        "unblinded": "UNBLINDED REPORT",
        "open": "OPEN REPORT: arms pooled",
    }[content.report_type]
    _page_setup(doc, header)
    cp = doc.core_properties
    cp.title = content.title
    cp.subject = f"{content.report_type} statistical report"
    cp.author = "odtrial"
    cp.last_modified_by = "odtrial"
    cp.comments = (
        f"Analysis plan version {content.metadata.get('plan_version')} "
        f"({content.metadata.get('plan_status')})"
    )
    cp.created = cp.modified = _FIXED_TIME
    cp.last_printed = _FIXED_TIME
    cp.revision = 1
    for s in content.sections:
        _section(doc, s, figures)
    buf = io.BytesIO()
    doc.save(buf)
    path.write_bytes(_deterministic_zip(buf.getvalue()))
