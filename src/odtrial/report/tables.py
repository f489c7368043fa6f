"""Report tables: one tidy object rendered to Word (editable table) and HTML.

NIHR Journals Library conventions: tables are real, editable Word tables (not
images), numbered and titled above, with footnotes marked a, b, c below the
table; no footnotes in the text.
"""

from __future__ import annotations

import html
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
            f"<sup>{html.escape(s)}</sup>" if sup else html.escape(s)
            for s, sup in _split_marks(str(text))
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


def add_table_to_docx(doc, t: ReportTable) -> None:
    """Append the caption, an editable Word table and the lettered footnotes."""
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.shared import Pt

    cap = (
        doc.add_paragraph(style="Caption")
        if "Caption" in [s.name for s in doc.styles]
        else doc.add_paragraph()
    )
    run = cap.add_run(f"Table {t.number} ")
    run.bold = True
    cap.add_run(t.title)
    table = doc.add_table(rows=1, cols=len(t.body.columns))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER

    def fill(cell, text: str, *, bold: bool = False) -> None:
        para = cell.paragraphs[0]
        for s, sup in _split_marks(str(text)):
            r = para.add_run(s)
            r.font.size = Pt(8.5)
            r.bold = bold
            r.font.superscript = sup

    for cell, name in zip(table.rows[0].cells, t.body.columns, strict=True):
        fill(cell, name, bold=True)
    for row in t.body.itertuples(index=False):
        cells = table.add_row().cells
        for cell, v in zip(cells, row, strict=True):
            fill(cell, v)
    for text in [t.abbreviations] if t.abbreviations else []:
        p = doc.add_paragraph()
        p.add_run(text).font.size = Pt(8)
    for k, v in t.lettered():
        p = doc.add_paragraph()
        sup = p.add_run(k)
        sup.font.superscript = True
        sup.font.size = Pt(8)
        p.add_run(f" {v}").font.size = Pt(8)
