"""Number formatting for the report: one place, so every table and sentence agree.

Conventions: ratios and differences to 2 dp, risk differences to 3 dp, ICCs to
3 dp, p-values ``p = 0.034`` or ``p < 0.001``, estimates with CIs as
``1.60 (1.10 to 2.33)``. Minus signs are the typographic minus (U+2212).
Numbers are only formatted here, never recomputed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from odtrial._words import count as count  # re-exported: the report's one place
from odtrial._words import noun as noun

MINUS = "\u2212"
DASH = "\u2013"  # en dash for "not available"


def num(x: float | int | None, dp: int = 2) -> str:
    """Fixed decimals with a real minus sign; ``None`` becomes an en dash."""
    if x is None:
        return DASH
    s = f"{float(x):.{dp}f}"
    if s.startswith("-"):
        # -0.00 is shown as 0.00: a sign on a rounded zero is noise
        s = s[1:] if float(s) == 0 else MINUS + s[1:]
    return s


def pvalue(p: float | None, *, prefix: bool = True) -> str:
    """``p = 0.034``, ``p < 0.001`` (or without ``p`` when ``prefix`` is False)."""
    if p is None:
        return DASH
    if p < 0.001:
        body = "< 0.001"
    elif p > 0.999:
        body = "> 0.999"
    else:
        body = f"= {p:.3f}"
    return f"p {body}" if prefix else body.replace("= ", "")


def est_ci(est: float | None, lo: float | None, hi: float | None, dp: int = 2) -> str:
    """``1.60 (1.10 to 2.33)``."""
    if est is None:
        return DASH
    return f"{num(est, dp)} ({num(lo, dp)} to {num(hi, dp)})"


def effect_dp(measure: str) -> int:
    return 3 if measure == "risk difference" else 2


def effect_text(effect: Mapping[str, Any] | None) -> str:
    """Estimate with 95% CI of a contract ``effect`` or ``absolute`` block."""
    if not effect:
        return DASH
    dp = effect_dp(str(effect.get("measure", "")))
    return est_ci(effect.get("estimate"), effect.get("ci_lower"), effect.get("ci_upper"), dp)


def df_text(df: float | str | None) -> str:
    """Degrees of freedom: ``z`` (normal reference) for inf, else up to 1 dp."""
    if df is None:
        return DASH
    if df == "inf" or (isinstance(df, float) and df == float("inf")):
        return "z"
    d = float(df)
    return f"{d:.0f}" if d == round(d) else f"{d:.1f}"


def sci(x: float | None) -> str:
    """Small diagnostics (gradients) in scientific notation, ``3.4 × 10⁻⁶`` style."""
    if x is None:
        return DASH
    if x == 0:
        return "0"
    mant, exp = f"{x:.1e}".split("e")
    sup = str(int(exp)).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"{mant.replace('-', MINUS)} × 10{sup}"


def yes_no(flag: bool | None) -> str:
    return DASH if flag is None else ("Yes" if flag else "No")
