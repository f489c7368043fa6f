"""Forest plot of treatment effects with 95% confidence intervals.

Ratios (odds, rate, hazard ratios) are drawn on a log axis around 1; mean
differences on a linear axis around 0, in a panel of their own so the two
scales are never mixed.
"""

from __future__ import annotations

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


def draw_forest(effects: Sequence[Effect], *, arm_labels: tuple[str, str] = ("A", "B")) -> Figure:
    """One row per effect; ratio effects and mean differences in separate panels."""
    ratios = [e for e in effects if e.is_ratio]
    diffs = [e for e in effects if not e.is_ratio]
    panels = [p for p in (ratios, diffs) if p]
    heights = [max(len(p), 1) + 1.2 for p in panels]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(7.2, 0.45 * sum(heights) + 0.6),
        gridspec_kw={"height_ratios": heights}, squeeze=False,
    )  # fmt: skip
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        ratio = panel[0].is_ratio
        y = np.arange(len(panel))[::-1]
        est = np.array([e.estimate for e in panel])
        lo = np.array([e.lower for e in panel])
        hi = np.array([e.upper for e in panel])
        ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="s", color="#1f4e79",
                    ecolor="#1f4e79", capsize=3, markersize=5, lw=1.2)  # fmt: skip
        ref = 1.0 if ratio else 0.0
        ax.axvline(ref, color="#888888", lw=0.9, ls="--")
        if ratio:
            ax.set_xscale("log")
            span = max(np.max(hi) / ref, ref / np.min(lo), 1.5)
            ax.set_xlim(ref / span / 1.15, ref * span * 1.15)
            ticks = [
                t
                for t in (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4)
                if ref / span / 1.15 <= t <= ref * span * 1.15
            ]
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{t:g}" for t in ticks])
            ax.minorticks_off()
            ax.set_xlabel("Ratio (95% CI), log scale")
        else:
            ax.set_xlabel("Mean difference (95% CI)")
        ax.set_yticks(y)
        ax.set_yticklabels([f"{e.label} ({e.measure})" for e in panel], fontsize=8.5)
        ax.set_ylim(-0.8, len(panel) - 0.2)
        for yi, e in zip(y, panel, strict=True):
            ax.annotate(f"{e.estimate:.2f} ({e.lower:.2f} to {e.upper:.2f})", xy=(1.01, yi),
                        xycoords=("axes fraction", "data"), va="center", fontsize=8)  # fmt: skip
        ax.text(0.0, 1.02, f"← lower with {arm_labels[0]}", transform=ax.transAxes, fontsize=7.5,
                ha="left", color="#555555")  # fmt: skip
        ax.text(1.0, 1.02, f"higher with {arm_labels[0]} →", transform=ax.transAxes, fontsize=7.5,
                ha="right", color="#555555")  # fmt: skip
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.subplots_adjust(right=0.72)
    return fig
