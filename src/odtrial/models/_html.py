"""Small HTML builders for the results classes' notebook display (``_repr_html_``).

Every piece of text that reaches the page goes through :func:`html.escape`:
term names, formulas and warnings come from the user's data and plan, so a
column called ``<script>`` must show as text, never run.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

# inline, so the table reads the same in Jupyter, VS Code and an exported page
_CSS = (
    "<style>"
    ".odtrial-res table{border-collapse:collapse;margin:0.3em 0;font-size:0.92em}"
    ".odtrial-res th,.odtrial-res td{padding:0.15em 0.6em;text-align:right}"
    ".odtrial-res th:first-child,.odtrial-res td:first-child{text-align:left}"
    ".odtrial-res caption{text-align:left;font-weight:bold;padding-bottom:0.2em}"
    ".odtrial-res .odtrial-facts th{font-weight:normal;color:#555}"
    ".odtrial-res .odtrial-facts td{text-align:left}"
    ".odtrial-res .odtrial-warn{color:#a40000;font-weight:bold}"
    ".odtrial-res p{margin:0.2em 0;font-size:0.88em}"
    "</style>"
)
_WARN = " class='odtrial-warn'"


def esc(x: object) -> str:
    """``str(x)`` escaped for HTML text and attribute values."""
    return html.escape(str(x), quote=True)


def num(x: float) -> str:
    """A number as a table shows it: 4 decimals, or 4 significant digits in
    scientific notation when 4 decimals would hide it (tiny or huge values)."""
    if x is None or math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x != 0 and not 1e-3 <= abs(x) < 1e7:
        return f"{x:.3e}"
    return f"{x:.4f}"


def pvalue(p: float) -> str:
    """A p-value: 4 decimals, ``<0.0001`` below that."""
    if p is None or math.isnan(p):
        return "–"
    return "&lt;0.0001" if p < 1e-4 else f"{p:.4f}"


def df_text(d: float) -> str:
    """Degrees of freedom: 2 decimals (Satterthwaite df are fractional); ∞ for a z reference."""
    if math.isnan(d):
        return "–"
    if math.isinf(d):
        return "∞"
    return f"{d:.0f}" if float(d).is_integer() else f"{d:.2f}"


def facts(caption: str, rows: Sequence[tuple[str, str, bool]]) -> str:
    """A two-column table of ``(label, value, is_warning)``; values are escaped here."""
    body = "".join(
        f"<tr><th>{esc(k)}</th><td{_WARN if warn else ''}>{esc(v)}</td></tr>" for k, v, warn in rows
    )
    return f"<table class='odtrial-facts'><caption>{esc(caption)}</caption>{body}</table>"


def grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table whose header cells are escaped here and whose body cells are
    already HTML (each built by :func:`esc` or the number formatters)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return (
        f"<table class='odtrial-grid'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def page(*parts: str) -> str:
    """Wrap the parts in the results block with its style."""
    return f"<div class='odtrial-res'>{_CSS}{''.join(parts)}</div>"


def note(text: str, *, warn: bool = False) -> str:
    """A paragraph of (escaped) text under a table."""
    return f"<p{_WARN if warn else ''}>{esc(text)}</p>"
