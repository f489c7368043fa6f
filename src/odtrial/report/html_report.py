"""Render :class:`~odtrial.report.sections.ReportContent` as one self-contained HTML file.

CSS is inline in the page and figures are inline SVG, so the file opens anywhere
with no network and no side files. Same sections, tables and figures as the Word
report (both are rendered from the same content).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from odtrial.report.sections import Bullets, FigureBlock, Para, ReportContent, Section, TableBlock
from odtrial.report.tables import table_to_html

_CSS = """
body{font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.45;color:#1b1b1b;
 max-width:60em;margin:0 auto;padding:1.5em 2em 4em}
h1{color:#1f4e79;font-size:1.5em;margin-top:2em;border-bottom:1px solid #c9d6e3;padding-bottom:.2em}
h2{color:#1f4e79;font-size:1.2em;margin-top:1.6em}
.title{font-size:1.9em;color:#1f4e79;font-weight:bold;margin-top:1.5em}
.subtitle{font-size:1.2em;color:#1f4e79}
.banner{border:2px solid #9c1c1c;background:#fbeaea;color:#9c1c1c;font-weight:bold;
 text-align:center;padding:.6em;margin:1.5em 0}
.meta{font-size:.92em}
.rtype{position:sticky;top:0;background:#fff;color:#9c1c1c;font-weight:bold;font-size:.8em;
 text-align:right;padding:.3em 0;border-bottom:1px solid #eee}
figure{margin:1.2em 0}
figure.table figcaption{margin-bottom:.3em}
table{border-collapse:collapse;font-size:.85em;width:100%}
th,td{border:1px solid #8a8a8a;padding:.25em .45em;vertical-align:top;text-align:left}
thead th{background:#eef3f8}
p.fn{font-size:.8em;margin:.15em 0}
figure.fig svg{max-width:100%;height:auto}
figure.fig figcaption{font-size:.92em;margin-top:.4em}
nav ol{columns:2;font-size:.92em}
@media print{body{max-width:none;padding:0;font-size:12px}.rtype{position:static}
 h1{break-before:page}figure,tr{break-inside:avoid}h1,h2,figcaption{break-after:avoid}}
"""


def _anchor(sid: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "-", sid.lower())


def _strip_xml_prolog(svg: str) -> str:
    """Inline SVG must not carry the XML declaration or DOCTYPE."""
    svg = re.sub(r"<\?xml[^>]*\?>\s*", "", svg)
    return re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg)


def _para(b: Para) -> str:
    cls = f" class='{b.style}'" if b.style != "body" else ""
    lead = f"<b>{html.escape(b.lead)}</b> " if b.lead else ""
    tag = "div" if b.style in ("title", "subtitle", "banner") else "p"
    return f"<{tag}{cls}>{lead}{html.escape(b.text)}</{tag}>"


def _section(s: Section, svgs: Mapping[str, str]) -> str:
    parts = []
    if s.level > 0:
        tag = "h1" if s.level == 1 else "h2"
        parts.append(f"<{tag} id='{_anchor(s.id)}'>{html.escape(s.title)}</{tag}>")
    for b in s.blocks:
        if isinstance(b, Para):
            parts.append(_para(b))
        elif isinstance(b, Bullets):
            items = "".join(f"<li>{html.escape(i)}</li>" for i in b.items)
            parts.append(f"<ul>{items}</ul>")
        elif isinstance(b, TableBlock):
            parts.append(table_to_html(b.table))
        elif isinstance(b, FigureBlock):
            note = f" {html.escape(b.note)}" if b.note else ""
            parts.append(
                f"<figure class='fig' id='fig-{_anchor(b.key)}'>{_strip_xml_prolog(svgs[b.key])}"
                f"<figcaption><b>Figure {b.number}</b> {html.escape(b.title)}.{note}</figcaption>"
                "</figure>"
            )
    return "\n".join(parts)


def render_html(content: ReportContent, *, svgs: Mapping[str, str]) -> str:
    """The whole report as one HTML string; ``svgs`` maps figure keys to SVG text."""
    toc = "".join(
        f"<li><a href='#{_anchor(s.id)}'>{html.escape(s.title)}</a></li>"
        for s in content.sections
        if s.level == 1
    )
    rendered = [_section(s, svgs) for s in content.sections]
    nav = f"<nav><h2>Contents</h2><ol>{toc}</ol></nav>"
    body = "\n".join([*rendered[:1], nav, *rendered[1:]])  # contents after the title page
    label = {"blinded": "BLINDED REPORT", "unblinded": "UNBLINDED REPORT", "open": "OPEN REPORT"}[
        content.report_type
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en-GB'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        f"<meta name='generator' content='odtrial {html.escape(content.metadata.get('odtrial', ''))}'>\n"
        f"<title>{html.escape(content.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<div class='rtype'>{label}</div>\n"
        f"{body}\n"
        "</body>\n</html>\n"
    )
