"""Figures of a cost-effectiveness analysis: the CE plane and the CEAC.

Both take a :class:`~odtrial.econ.CEAResult` and return a matplotlib Figure
(the caller saves it), sized for a 16 cm wide page.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from odtrial.econ.ce_analysis import CEAResult

_WTP_STYLES = ("--", ":", "-.")


def _money(v: float, _pos: object = None) -> str:
    sign = "−" if v < 0 else ""
    return f"{sign}£{abs(v):,.0f}"


def plot_ce_plane(
    result: CEAResult,
    *,
    effect_label: str = "Incremental QALYs",
    cost_label: str = "Incremental cost",
    max_points: int = 5000,
    wtp: Sequence[float] | None = None,
) -> Figure:
    """Cost-effectiveness plane: the draws, the point estimate and WTP threshold lines.

    Points below a threshold line (to its right, for positive effects) are
    cost-effective at that willingness to pay.
    """
    draws = result.draws
    if len(draws) > max_points:  # thin evenly (deterministic), keeping the spread
        draws = draws.iloc[np.linspace(0, len(draws) - 1, max_points).astype(int)]
    de = draws["incremental_effect"].to_numpy()
    dc = draws["incremental_cost"].to_numpy()
    fig, ax = plt.subplots(figsize=(6.3, 4.6))
    ax.scatter(
        de, dc, s=4, alpha=0.25, color="#4a77b4", linewidths=0, label="Draws", rasterized=True
    )
    ax.scatter(
        [result.incremental_effect],
        [result.incremental_cost],
        s=40,
        color="#b22222",
        zorder=3,
        label="Estimate",
    )
    ax.axhline(0, color="0.3", lw=0.8)
    ax.axvline(0, color="0.3", lw=0.8)
    x_lo, x_hi = np.quantile(de, [0.0, 1.0])
    half = max(abs(x_lo), abs(x_hi)) * 1.1 or 1.0
    ax.set_xlim(-half, half)
    y_lo, y_hi = np.quantile(dc, [0.0, 1.0])
    pad = 0.08 * (y_hi - y_lo or 1.0)
    ax.set_ylim(min(y_lo, 0) - pad, max(y_hi, 0) + pad)
    xs = np.array([-half, half])
    for w, style in zip(wtp if wtp is not None else result.wtp, _WTP_STYLES, strict=False):
        ax.plot(xs, w * xs, style, color="0.15", lw=1.0, label=f"{_money(w)} per QALY")
    ax.set_xlabel(effect_label)
    ax.set_ylabel(cost_label)
    ax.yaxis.set_major_formatter(FuncFormatter(_money))
    ax.legend(loc="best", fontsize=8, framealpha=0.85)
    ax.set_title(f"Cost-effectiveness plane ({_method_label(result)})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_ceac(result: CEAResult, *, effect_unit: str = "QALY") -> Figure:
    """Cost-effectiveness acceptability curve with the WTP thresholds marked."""
    ceac = result.ceac
    fig, ax = plt.subplots(figsize=(6.3, 3.8))
    ax.plot(ceac["wtp"], ceac["probability"], color="#4a77b4", lw=1.8)
    for w, style in zip(result.wtp, _WTP_STYLES, strict=False):
        p = float(np.interp(w, ceac["wtp"], ceac["probability"]))
        ax.axvline(w, ls=style, color="0.3", lw=0.9)
        ax.annotate(f"{p:.2f}", (w, p), textcoords="offset points", xytext=(4, -12), fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_xlim(float(ceac["wtp"].min()), float(ceac["wtp"].max()))
    ax.xaxis.set_major_formatter(FuncFormatter(_money))
    ax.set_xlabel(f"Willingness to pay per {effect_unit}")
    ax.set_ylabel("Probability cost-effective")
    ax.grid(alpha=0.3)
    ax.set_title(f"Cost-effectiveness acceptability curve ({_method_label(result)})", fontsize=10)
    fig.tight_layout()
    return fig


def _method_label(result: CEAResult) -> str:
    return {
        "bivariate": "bivariate multilevel model",
        "tsb": "two-stage cluster bootstrap",
    }.get(result.method, result.method)
