"""Forest plot of treatment effects with 95% confidence intervals.

Ratios (odds, rate, hazard ratios) are drawn on a log axis around 1; mean
differences on a linear axis around 0, in a panel of their own so the two
scales are never mixed.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


@dataclass(frozen=True)
class Effect:
    label: str
    measure: str  # "OR", "RR", "HR", "MD"
    estimate: float
    lower: float
    upper: float

    @property
    def is_ratio(self) -> bool:
        return self.measure != "MD"


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Readable ticks on a log axis: doubling steps, finer only for a narrow range."""
    for cands in ((0.1, 0.25, 0.5, 1, 2, 4, 10), (0.5, 0.75, 1, 1.5, 2), (0.8, 0.9, 1, 1.1, 1.25)):
        ticks = [t for t in cands if lo <= t <= hi]
        if len(ticks) >= 3:
            return ticks
    return [1.0]


def draw_forest(effects: Sequence[Effect], *, arm_labels: tuple[str, str] = ("A", "B")) -> Figure:
    """One row per effect; ratio effects (log axis) and mean differences in separate panels.

    The outcome labels sit left of the axis and the estimates with 95% CIs right of
    it, as in a published forest plot; sized for a 16 cm wide page at 100%.
    """
    from odtrial.report.fmt import est_ci

    ratios = [e for e in effects if e.is_ratio]
    diffs = [e for e in effects if not e.is_ratio]
    panels = [p for p in (ratios, diffs) if p]
    row_in = 0.42
    long_arm = len(arm_labels[0]) > 17  # direction labels then take an extra line
    label_in = 1.0 if long_arm else 0.85  # tick labels and axis label under each panel
    heights = [len(p) * row_in + label_in for p in panels]
    total = sum(heights) + 0.3
    fig = plt.figure(figsize=(6.5, total))
    left, width = 0.42, 0.30
    top = 1 - 0.3 / total
    for k, panel in enumerate(panels):
        h_axes = len(panel) * row_in / total
        bottom = top - h_axes
        ax = fig.add_axes((left, bottom, width, h_axes))
        ratio = panel[0].is_ratio
        y = np.arange(len(panel))[::-1]
        est = np.array([e.estimate for e in panel])
        lo = np.array([e.lower for e in panel])
        hi = np.array([e.upper for e in panel])
        ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="s", color="#1f4e79",
                    ecolor="#1f4e79", capsize=3, markersize=5, lw=1.3)  # fmt: skip
        ref = 1.0 if ratio else 0.0
        ax.axvline(ref, color="#888888", lw=0.9, ls="--")
        if ratio:
            ax.set_xscale("log")
            span = max(float(np.max(hi)) / ref, ref / float(np.min(lo)), 1.5) * 1.15
            ax.set_xlim(ref / span, ref * span)
            ticks = _log_ticks(ref / span, ref * span)
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{t:g}" for t in ticks])
            ax.minorticks_off()
            xlabel = "Ratio, log scale"
        else:
            span = max(float(np.max(np.abs(np.r_[lo, hi]))), 1e-9) * 1.15
            ax.set_xlim(-span, span)
            ax.xaxis.set_major_locator(plt.MaxNLocator(5, symmetric=True))
            xlabel = "Mean difference"
        lower, higher = f"\u2190 lower with {arm_labels[0]}", f"higher with {arm_labels[0]} \u2192"
        # long arm names (unblinded reports) go on two lines rather than past the figure edge
        sep = "\n" if len(lower) > 30 else "    "
        ax.set_xlabel(f"{xlabel}\n{lower}{sep}{higher}", fontsize=8.5)
        ax.tick_params(axis="x", labelsize=8.5)
        ax.set_yticks([])
        ax.set_ylim(-0.6, len(panel) - 0.4)
        for yi, e in zip(y, panel, strict=True):
            label = textwrap.fill(f"{e.label} ({e.measure})", 40)
            ax.text(-0.04, yi, label, transform=ax.get_yaxis_transform(), ha="right",
                    va="center", fontsize=8.5, linespacing=1.1)  # fmt: skip
            ax.text(1.04, yi, est_ci(e.estimate, e.lower, e.upper), ha="left", va="center",
                    transform=ax.get_yaxis_transform(), fontsize=8.5)  # fmt: skip
        if k == 0:
            for x, text, ha in ((-0.04, "Outcome", "right"), (1.04, "Estimate (95% CI)", "left")):
                ax.text(x, 1.0, text, transform=ax.transAxes, ha=ha, va="bottom",
                        fontsize=8.5, fontweight="bold")  # fmt: skip
        ax.spines[["top", "right", "left"]].set_visible(False)
        top = bottom - label_in / total
    return fig
