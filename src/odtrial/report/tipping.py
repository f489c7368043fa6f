"""Tipping-point figure: the pooled effect and its 95% CI against the shift (delta)
added to the imputed outcomes, with the no-effect line and any tipping point.

Drawn from results.json's ``multiple_imputation.tipping_point`` block (ratios on a
log axis around 1; a mean difference on a linear axis around 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure

SCALE_WORDS = {
    "logit": "log-odds",
    "probit": "probit",
    "log": "log-rate",
    "identity": "outcome",
}


def shifted_words(block: Mapping[str, Any], arm_labels: tuple[str, str]) -> str:
    """Whose imputed outcomes the delta shifts, in words."""
    shift = str(block["shift"])
    if shift == "both":
        return "both arms"
    return arm_labels[0] if shift == "intervention" else arm_labels[1]


def draw_tipping(block: Mapping[str, Any], *, measure: str, arm_labels: tuple[str, str]) -> Figure:
    """The tipping-point figure of one imputed outcome."""
    rows = list(block["rows"])
    d = np.array([r["delta"] for r in rows], dtype=float)
    est = np.array([r["estimate"] for r in rows], dtype=float)
    lo = np.array([r["ci_lower"] for r in rows], dtype=float)
    hi = np.array([r["ci_upper"] for r in rows], dtype=float)
    ratio = bool(block.get("log_scale"))
    null = 1.0 if ratio else 0.0
    fig = Figure(figsize=(6.3, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ax.fill_between(d, lo, hi, color="#9ecae1", alpha=0.6, lw=0, label="95% CI")
    ax.plot(d, est, color="#08519c", marker="o", ms=3.5, lw=1.4, label=f"pooled {measure}")
    ax.axhline(null, color="black", lw=0.8)
    ax.axvline(0.0, color="grey", lw=0.8, ls=":")
    ax.annotate("MAR", (0.0, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -12),
                textcoords="offset points", color="grey", fontsize=8)  # fmt: skip
    for side in ("below", "above"):
        v = block.get(side)
        if v is not None:
            ax.axvline(float(v), color="#cb181d", ls="--", lw=1.0)
            ax.annotate(f"tipping point {float(v):.2f}", (float(v), 0.04),
                        xycoords=("data", "axes fraction"), xytext=(3, 0),
                        textcoords="offset points", color="#cb181d", fontsize=8)  # fmt: skip
    if ratio:
        ax.set_yscale("log")
        ticks = [t for t in (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 4, 10) if lo.min() <= t <= hi.max()]
        ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
    words = SCALE_WORDS.get(str(block["scale"]), str(block["scale"]))
    who = shifted_words(block, arm_labels)
    ax.set_xlabel(f"δ added to imputed outcomes ({words} scale), {who}")
    ax.set_ylabel(f"{measure} (95% CI)")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    return fig
