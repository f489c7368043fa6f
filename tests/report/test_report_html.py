"""The HTML twin: self-contained (inline CSS and SVG, nothing fetched), the same
sections and tables as the Word report, blinding respected."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import docx

from odtrial.report.sections import build_sections


class _Collect(HTMLParser):
    """Headings, table captions, tags and URL-bearing attributes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.tags: list[str] = []
        self.urls: list[str] = []
        self._in: str | None = None
        self._buf = ""
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href", "xlink:href") and v and not v.startswith("#"):
                self.urls.append(v)
        if tag in ("h1", "h2"):
            self._in, self._buf = tag, ""

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self.headings.append(self._buf)
            self._in = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in:
            self._buf += data


def _parse(path: Any) -> tuple[_Collect, str]:
    page = path.read_text(encoding="utf-8")
    c = _Collect()
    c.feed(page)
    return c, page


def test_html_is_self_contained(built: dict[str, Any]) -> None:
    c, page = _parse(built["blinded"].html)
    assert c.urls == []  # no external stylesheet, script, image or link
    assert "script" not in c.tags and "link" not in c.tags and "img" not in c.tags
    assert page.count("<svg") == 2 and "<style>" in page
    assert "<?xml" not in page  # SVG prolog stripped for inline use
    assert page.startswith("<!DOCTYPE html>") and "<meta charset='utf-8'>" in page


def test_html_has_the_same_sections_and_tables_as_word(built: dict[str, Any]) -> None:
    c, page = _parse(built["blinded"].html)
    doc = docx.Document(str(built["blinded"].docx))
    word_headings = [p.text for p in doc.paragraphs if p.style.name.startswith("Heading")]
    assert c.headings[:1] == ["Contents"] or "Contents" in c.headings
    assert [h for h in c.headings if h != "Contents"] == word_headings
    captions = re.findall(r"<figcaption><b>Table (\d+)</b> ([^<]+)</figcaption>", page)
    word_captions = [
        p.text for p in doc.paragraphs if p.style.name == "Caption" and p.text.startswith("Table")
    ]
    assert [f"Table {n} {t}" for n, t in captions] == word_captions
    assert page.count("<table>") == len(doc.tables)


def test_html_tables_carry_lettered_footnotes(built: dict[str, Any]) -> None:
    _, page = _parse(built["blinded"].html)
    outcomes = page[page.index("Primary and secondary outcomes by arm</figcaption>") :]
    outcomes = outcomes[: outcomes.index("</figure>")]
    assert "OR 1.60 (1.10\u00a0to\u00a02.33)<sup>b</sup>" in outcomes
    notes = re.findall(r"<p class='fn'><sup>([a-z])</sup>", outcomes)
    assert notes == ["a", "b", "c", "d", "e", "f"][: len(notes)] and len(notes) >= 3


def test_html_and_word_share_the_same_text(
    built: dict[str, Any], blinded_results: dict[str, Any]
) -> None:
    import html as html_mod

    content = build_sections(blinded_results)
    _, page = _parse(built["blinded"].html)
    doc_text = "\n".join(p.text for p in docx.Document(str(built["blinded"].docx)).paragraphs)
    for sid in ("plain_language_summary", "scientific_summary", "abstract"):
        for block in content.section(sid).blocks:
            text = block.text  # type: ignore[union-attr]
            assert html_mod.escape(text) in page and text in doc_text


def test_html_blinding_and_open_report(built: dict[str, Any]) -> None:
    c, _ = _parse(built["blinded"].html)
    text = " ".join(c.text)
    assert "BLINDED REPORT" in text
    assert not re.search(r"\bPOD\b|\bTAU\b|Open Dialogue|reatment as usual", text)
    o, open_page = _parse(built["open"].html)
    otext = " ".join(o.text)
    assert "OPEN REPORT" in otext and "Arm A" not in otext and "Adjusted effect" not in otext
    assert open_page.count("<svg") == 1  # CONSORT only: a forest plot would compare arms
    u, _ = _parse(built["unblinded"].html)
    assert "Peer-supported Open Dialogue" in " ".join(u.text)
