"""The Health economics chapter's figures, drawn from results.json alone.

:mod:`odtrial.econ.figures` draws from a live :class:`~odtrial.econ.CEAResult` and its
draws; the report must rebuild from results.json (``build_report`` may get a parsed
dict and a fresh folder, with no tables/ce_plane.csv beside it). So the CE plane shows
the first draws results.json keeps (up to 1,000; the table has them all), the point
estimate and its confidence ellipse from the variances and covariance in results.json,
with the quadrant shares of all the draws; the CEAC is the curve results.json stores.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from scipy import stats

_WTP_STYLES = ("--", ":", "-.")
_BLUE = "#1f4e79"


def _money_tick(v: float, _pos: object = None) -> str:
    sign = "\u2212" if v < 0 else ""
    return f"{sign}£{abs(v):,.0f}"


def _num_tick(v: float, _pos: object = None) -> str:
    s = f"{v:.2f}".rstrip("0").rstrip(".") if abs(v) >= 1e-12 else "0"
    return s.replace("-", "\u2212")


def confidence_ellipse(res: Mapping[str, Any], n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Boundary (effect, cost) of the joint confidence region of the increments:
    ``(x − m)ᵀ Σ⁻¹ (x − m) ≤ 2 F(2, df)`` (χ²₂ without finite df)."""
    level = float(res.get("level", 0.95))
    m = np.array([float(res["incremental_effect"]), float(res["incremental_cost"])])
    se_e, se_c = float(res["se_effect"]), float(res["se_cost"])
    cov = float(res["cov_cost_effect"])
    sigma = np.array([[se_e**2, cov], [cov, se_c**2]])
    df = res.get("df")
    if df is not None and math.isfinite(float(df)):
        r2 = 2 * float(stats.f.ppf(level, 2, float(df)))
    else:
        r2 = float(stats.chi2.ppf(level, 2))
    vals, vecs = np.linalg.eigh(sigma)
    t = np.linspace(0, 2 * np.pi, n)
    circle = np.stack([np.cos(t), np.sin(t)])
    pts = vecs @ (np.sqrt(np.maximum(vals, 0.0) * r2)[:, None] * circle)
    return m[0] + pts[0], m[1] + pts[1]


def draw_ce_plane(
    res: Mapping[str, Any], *, arm_labels: tuple[str, str], wtp: Sequence[float] | None = None
) -> Figure:
    """The base case on the cost-effectiveness plane (incremental QALYs across, cost up)."""
    a, b = arm_labels
    ex, cy = confidence_ellipse(res)
    de, dc = float(res["incremental_effect"]), float(res["incremental_cost"])
    pct = round(float(res.get("level", 0.95)) * 100)
    fig = Figure(figsize=(6.3, 4.8), layout="constrained")
    ax = fig.add_subplot()
    shown = res.get("plane_draws") or {}
    de_draws = np.asarray(shown.get("incremental_effect", ()), dtype=float)
    dc_draws = np.asarray(shown.get("incremental_cost", ()), dtype=float)
    # the region and (all but the most extreme 1% of) the draws in view
    far_x = [float(np.max(np.abs(ex)))]
    far_y = [float(np.max(np.abs(cy)))]
    if de_draws.size:
        far_x.append(float(np.quantile(np.abs(de_draws), 0.99)))
        far_y.append(float(np.quantile(np.abs(dc_draws), 0.99)))
    half_x = max(*far_x, 1e-6) * 1.2
    half_y = max(*far_y, 1.0) * 1.2
    ax.set_xlim(-half_x, half_x)
    ax.set_ylim(-half_y, half_y)
    if de_draws.size:
        ax.scatter(de_draws, dc_draws, s=4, color="#6baed6", alpha=0.45, lw=0, zorder=1,
                   label=f"{de_draws.size:,} draws of the increments")  # fmt: skip
        ax.plot(ex, cy, color=_BLUE, lw=1.1, zorder=2, label=f"{pct}% confidence region")
    else:
        ax.fill(ex, cy, color="#9ecae1", alpha=0.5, lw=0, label=f"{pct}% confidence region")
        ax.plot(ex, cy, color=_BLUE, lw=0.8)
    ax.plot([de], [dc], "o", color="#b22222", ms=6, zorder=3, label="Point estimate")
    ax.axhline(0, color="0.3", lw=0.8)
    ax.axvline(0, color="0.3", lw=0.8)
    thresholds = [float(m["wtp"]) for m in res.get("inmb", [])] if wtp is None else list(wtp)
    xs = np.array([-half_x, half_x])
    for w, style in zip(thresholds, _WTP_STYLES, strict=False):
        ax.plot(xs, w * xs, style, color="0.15", lw=1.0, label=f"{_money_tick(w)} per QALY")
    q = res.get("plane_quadrants") or {}
    corners = {
        "more_costly_more_effective": (0.98, 0.98, "right", "top"),
        "more_costly_less_effective": (0.02, 0.98, "left", "top"),
        "less_costly_less_effective": (0.02, 0.02, "left", "bottom"),
        "less_costly_more_effective": (0.98, 0.02, "right", "bottom"),
    }
    for key, (x, y, ha, va) in corners.items():
        if key in q:
            words = key.replace("_", " ").replace("costly ", "costly,\n")
            ax.text(x, y, f"{words}\n{100 * float(q[key]):.1f}% of draws", transform=ax.transAxes,
                    ha=ha, va=va, fontsize=7.5, color="0.25")  # fmt: skip
    ax.set_ylim(-half_y, half_y)
    ax.set_xlim(-half_x, half_x)
    diff = f"({a} minus {b})"
    # long (unblinded) arm names: the difference on a line of its own, wrapped
    wrapped = "\n".join(textwrap.wrap(diff, 40))
    ax.set_xlabel(f"Incremental QALYs {diff}" if len(diff) < 40 else f"Incremental QALYs\n{wrapped}",
                  fontsize=9)  # fmt: skip
    ax.set_ylabel(f"Incremental cost, £ {diff}" if len(diff) < 30 else f"Incremental cost, £\n{wrapped}",
                  fontsize=9)  # fmt: skip
    ax.yaxis.set_major_formatter(FuncFormatter(_money_tick))
    ax.xaxis.set_major_formatter(FuncFormatter(_num_tick))
    ax.tick_params(labelsize=8.5)
    fig.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def draw_ceac(
    base: Mapping[str, Any],
    sensitivity: Sequence[Mapping[str, Any]] = (),
    *,
    arm_labels: tuple[str, str],
) -> Figure:
    """Probability that the first arm is cost-effective against willingness to pay per QALY:
    the base case, its sensitivity analyses dashed, the thresholds marked."""
    a = arm_labels[0]
    fig = Figure(figsize=(6.3, 3.9), layout="constrained")
    ax = fig.add_subplot()
    styles = ("--", ":", "-.", (0, (5, 1, 1, 1)))
    greys = ("0.35", "0.5", "0.2", "0.6")
    for k, s in enumerate(sensitivity):
        c = s.get("ceac") or []
        ax.plot([float(r["wtp"]) for r in c], [float(r["probability"]) for r in c],
                ls=styles[k % len(styles)], color=greys[k % len(greys)], lw=1.2,
                label=str(s.get("label", s.get("id", ""))))  # fmt: skip
    c = base.get("ceac") or []
    w_all = [float(r["wtp"]) for r in c]
    ax.plot(w_all, [float(r["probability"]) for r in c], color=_BLUE, lw=2.0, label="Base case")
    for m in base.get("inmb", []):
        w = float(m["wtp"])
        ax.axvline(w, color="0.6", lw=0.8, ls=":")
        p = next((float(r["probability"]) for r in c if float(r["wtp"]) == w), None)
        if p is not None:
            ax.plot([w], [p], "o", color=_BLUE, ms=4)
            ax.annotate(f"{p:.2f}", (w, p), textcoords="offset points", xytext=(4, 6), fontsize=8,
                        bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none"})  # fmt: skip
    ax.set_ylim(0, 1.02)
    if w_all:
        ax.set_xlim(min(w_all), max(w_all))
    ax.xaxis.set_major_formatter(FuncFormatter(_money_tick))
    ax.set_xlabel("Willingness to pay per QALY", fontsize=9)
    ax.set_ylabel(f"Probability {a} is cost-effective", fontsize=9)
    ax.tick_params(labelsize=8.5)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig
