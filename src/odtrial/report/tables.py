"""Report tables: one tidy object rendered to Word (editable table) and HTML.

NIHR Journals Library conventions: tables are real, editable Word tables (not
images), numbered and titled above, with footnotes marked a, b, c below the
table; no footnotes in the text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from string import ascii_lowercase

import pandas as pd


@dataclass(frozen=True)
class ReportTable:
    """A numbered table: ``body`` holds display strings; ``footnotes`` are
    lettered a, b, c in order; cell text may reference them as ``{a}``."""

    number: int
    title: str
    body: pd.DataFrame
    footnotes: Sequence[str] = field(default_factory=tuple)
    abbreviations: str = ""

    def __post_init__(self) -> None:
        if len(self.footnotes) > len(ascii_lowercase):
            raise ValueError("too many footnotes")

    @property
    def caption(self) -> str:
        return f"Table {self.number} {self.title}"

    def lettered(self) -> list[tuple[str, str]]:
        return [(ascii_lowercase[i], t) for i, t in enumerate(self.footnotes)]

    def to_csv(self) -> str:
        return self.body.to_csv(index=False, lineterminator="\n")


def glue(text: str) -> str:
    """Non-breaking spaces inside "(1.10 to 2.33)" and "118 (45.9)", so a line never
    breaks inside a confidence interval or a count with its percentage."""
    return _CI.sub(lambda m: m.group(0).replace(" ", "\u00a0"), text)


def _split_marks(text: str) -> list[tuple[str, bool]]:
    """Split 'OR{a}' into [('OR', False), ('a', True)] for superscript runs."""
    out: list[tuple[str, bool]] = []
    rest = text
    while "{" in rest and "}" in rest[rest.index("{") :]:
        i = rest.index("{")
        j = rest.index("}", i)
        mark = rest[i + 1 : j]
        if len(mark) == 1 and mark in ascii_lowercase:
            if i:
                out.append((rest[:i], False))
            out.append((mark, True))
        else:
            out.append((rest[: j + 1], False))
        rest = rest[j + 1 :]
    if rest:
        out.append((rest, False))
    return out


def table_to_html(t: ReportTable) -> str:
    def cell(text: str, tag: str) -> str:
        parts = "".join(
            f"<sup>{html.escape(s)}</sup>" if sup else html.escape(s).replace("\n", "<br>")
            for s, sup in _split_marks(glue(str(text)))
        )
        return f"<{tag}>{parts}</{tag}>"

    head = "".join(cell(c, "th") for c in t.body.columns)
    rows = "".join(
        "<tr>" + "".join(cell(v, "td") for v in row) + "</tr>"
        for row in t.body.itertuples(index=False)
    )
    notes = "".join(f"<p class='fn'><sup>{k}</sup> {html.escape(v)}</p>" for k, v in t.lettered())
    abbr = f"<p class='fn'>{html.escape(t.abbreviations)}</p>" if t.abbreviations else ""
    return (
        f"<figure class='table'><figcaption><b>Table {t.number}</b> {html.escape(t.title)}</figcaption>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{abbr}{notes}</figure>"
    )


# "(1.10 to 2.33)" and "118 (45.9)" read badly when broken: measured as one word
_CI = re.compile(r"\([\u2212\-\d.,]+ to [\u2212\-\d.,]+\)|[\u2212\-\d.,]+ \([\u2212\-\d.,%]+\)")


def column_widths_cm(t: ReportTable, total_cm: float, *, font_pt: float = 8.5) -> list[float]:
    """Column widths that never split a word: each column first gets room for its
    longest word (plus cell padding), and the rest of the width is shared in
    proportion to how much more each column's longest line needs."""
    char_cm = 0.0215 * font_pt  # average Arial glyph at this size (bold headers included)
    pad = 0.45  # left + right cell margins as Word and LibreOffice draw them
    need_word, need_line = [], []
    for col in t.body.columns:
        texts = [
            "".join(s if not sup else "x" for s, sup in _split_marks(str(x)))
            for x in (col, *t.body[col])
        ]
        lines = [ln for x in texts for ln in x.split("\n")]
        # a bracketed CI "(1.10 to 2.33)" should not break: measure it as one word
        glued = [_CI.sub(lambda m: m.group(0).replace(" ", "_"), ln) for ln in lines]
        words = [w for ln in glued for w in ln.split()]
        word = max((len(w) for w in words), default=1)
        # headers may wrap onto a few lines; the body's lines decide the width wanted
        body_lines = [ln for x in texts[1:] for ln in x.split("\n")] or lines
        line = max(len(ln) for ln in body_lines)
        need_word.append(word * char_cm + pad)
        need_line.append(min(line, 42) * char_cm + pad)
    base = sum(need_word)
    if base >= total_cm:  # cannot avoid wrapping inside words: scale down evenly
        return [w * total_cm / base for w in need_word]
    extra = [max(line - word, 0.0) for line, word in zip(need_line, need_word, strict=True)]
    extra[0] *= 1.6  # the stub column (row labels) reads best on few lines
    room = total_cm - base
    if sum(extra) == 0:
        return [w + room / len(need_word) for w in need_word]
    # the room left goes where text would otherwise wrap, in proportion to the need
    return [w + room * e / sum(extra) for w, e in zip(need_word, extra, strict=True)]


def _set_repeat_header(row) -> None:
    """Mark a row as a header row, repeated on every page the table spans."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tr_pr = row._tr.get_or_add_trPr()
    el = OxmlElement("w:tblHeader")
    el.set(qn("w:val"), "true")
    tr_pr.append(el)


#: Tables up to this many body rows are kept on one page (about a page at 8.5 pt).
_KEEP_WHOLE_ROWS = 35


def _no_split(row) -> None:
    from docx.oxml import OxmlElement

    row._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))


def add_table_to_docx(doc, t: ReportTable, *, width_cm: float = 16.0, font_pt: float = 8.5) -> None:
    """Append the caption (kept with the table), an editable Word table with a
    repeating header row, and the lettered footnotes below it."""
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.shared import Cm, Pt

    cap = (
        doc.add_paragraph(style="Caption")
        if "Caption" in [s.name for s in doc.styles]
        else doc.add_paragraph()
    )
    cap.paragraph_format.keep_with_next = True
    run = cap.add_run(f"Table {t.number} ")
    run.bold = True
    cap.add_run(t.title)
    table = doc.add_table(rows=1, cols=len(t.body.columns))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    widths = [Cm(w) for w in column_widths_cm(t, width_cm, font_pt=font_pt)]

    def fill(cell, text: str, *, bold: bool = False) -> None:
        para = cell.paragraphs[0]
        para.paragraph_format.space_after = Pt(0)
        para.paragraph_format.space_before = Pt(0)
        for s, sup in _split_marks(glue(str(text))):
            r = para.add_run(s)
            r.font.size = Pt(font_pt)
            r.bold = bold
            r.font.superscript = sup

    header = table.rows[0]
    _set_repeat_header(header)
    for cell, name in zip(header.cells, t.body.columns, strict=True):
        fill(cell, name, bold=True)
    # a table that fits on a page is kept whole (a short table split over two
    # pages reads as two tables): every row but the last keeps with the next
    whole = len(t.body) <= _KEEP_WHOLE_ROWS
    for i, row in enumerate(t.body.itertuples(index=False)):
        new = table.add_row()
        _no_split(new)
        for cell, v in zip(new.cells, row, strict=True):
            fill(cell, v)
            cell.paragraphs[0].paragraph_format.keep_with_next = whole and i < len(t.body) - 1
    if whole:
        for cell in header.cells:
            cell.paragraphs[0].paragraph_format.keep_with_next = True
    for col, w in zip(table.columns, widths, strict=True):
        col.width = w
        for cell in col.cells:
            cell.width = w
    for text in [t.abbreviations] if t.abbreviations else []:
        p = doc.add_paragraph()
        p.paragraph_format.space_after = Pt(0)
        p.add_run(text).font.size = Pt(8)
    for k, v in t.lettered():
        p = doc.add_paragraph()
        p.paragraph_format.space_after = Pt(0)
        sup = p.add_run(k)
        sup.font.superscript = True
        sup.font.size = Pt(8)
        p.add_run(f" {v}").font.size = Pt(8)
    spacer = doc.add_paragraph()
    spacer.paragraph_format.space_after = Pt(4)
