"""Has the imputation model converged, and do the imputed values look plausible?

* :func:`convergence`: split-R̂ (Gelman–Rubin potential scale reduction over the
  two halves of every chain; Vehtari et al. 2021 without rank normalisation)
  of each traced statistic (mean of the imputed values, cluster variance,
  residual variance) over the second half of the iterations; above 1.1 means
  more iterations are needed (``n_burn``, ``n_between``).
* :func:`plot_trace`: the traced statistics by chain and iteration.
* :func:`plot_imputed`: observed against imputed values of each imputed column
  (densities for numbers, proportions per level for categories). Under MAR they
  may differ; they should not differ absurdly (values out of range, a category
  never observed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from odtrial.missing.imputation import TRACE_STATS, Imputations

RHAT_LIMIT = 1.1


def split_rhat(draws: np.ndarray) -> float:
    """Split-R̂ of ``draws`` (chains x iterations)."""
    n = draws.shape[1]
    half = n // 2
    if half < 2:
        return float("nan")
    seqs = np.concatenate([draws[:, :half], draws[:, n - half :]])
    means = seqs.mean(axis=1)
    w = seqs.var(axis=1, ddof=1).mean()
    b = half * means.var(ddof=1)
    if w <= 0:
        return float("nan")
    var_plus = (half - 1) / half * w + b / half
    return float(np.sqrt(var_plus / w))


def convergence(imps: Imputations) -> pd.DataFrame:
    """Split-R̂ per imputed variable and traced statistic (second half of the
    iterations every chain ran), with ``converged`` (R̂ below 1.1)."""
    tv = imps.trace_values
    n_common = int(np.min(np.sum(~np.isnan(tv[:, :, 0, 0]), axis=1)))
    start = n_common // 2
    rows = []
    for k, name in enumerate(imps.imputed):
        for s, stat in enumerate(TRACE_STATS):
            draws = tv[:, start:n_common, k, s]
            if np.all(np.isnan(draws)):
                continue
            r = split_rhat(draws)
            rows.append(
                {
                    "variable": name,
                    "statistic": stat,
                    "rhat": r,
                    "chains": tv.shape[0],
                    "iterations": n_common - start,
                    "converged": bool(np.isfinite(r) and r < RHAT_LIMIT),
                }
            )
    return pd.DataFrame(rows)


def plot_trace(imps: Imputations, columns: Sequence[str] | None = None) -> Figure:
    """Each traced statistic of each imputed column against iteration, one line per chain."""
    names = list(columns) if columns is not None else list(imps.imputed)
    tv = imps.trace_values
    stats_used = [s for s, _ in enumerate(TRACE_STATS) if not np.all(np.isnan(tv[:, :, :, s]))]
    fig = Figure(figsize=(3.2 * len(stats_used), 2.2 * len(names)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(names), len(stats_used), squeeze=False))
    order = list(imps.imputed)
    it = np.arange(1, tv.shape[1] + 1)
    for r, name in enumerate(names):
        k = order.index(name)
        for c, s in enumerate(stats_used):
            ax = axes[r, c]
            for chain in range(tv.shape[0]):
                ax.plot(it, tv[chain, :, k, s], lw=0.6)
            ax.axvline(imps.settings["n_burn"], color="grey", ls=":", lw=0.8)
            ax.set_title(f"{name}: {TRACE_STATS[s].replace('_', ' ')}", fontsize=8)
            ax.tick_params(labelsize=7)
            if r == len(names) - 1:
                ax.set_xlabel("iteration", fontsize=8)
    return fig


def plot_imputed(imps: Imputations, columns: Sequence[str] | None = None) -> Figure:
    """Observed against imputed values, one panel per imputed column.

    Numbers: the density of the observed values (thick) and of each
    imputation's imputed values (thin). Categories: the proportion in each
    level, observed against imputed (mean over imputations, bars from the
    lowest to the highest imputation).
    """
    names = list(columns) if columns is not None else list(imps.imputed)
    ncol = min(3, len(names))
    nrow = -(-len(names) // ncol)
    fig = Figure(figsize=(4.0 * ncol, 3.0 * nrow), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    for ax, name in zip(axes, names, strict=False):
        col = imps.column(name)
        observed = imps.data[name].dropna()
        imputed = imps.imputed[name]
        if col.kind in ("binary", "categorical"):
            _bars(ax, col.levels, observed, imputed)
        else:
            _densities(ax, observed.to_numpy(dtype=float), imputed)
        ax.set_title(f"{name} ({len(observed)} observed, {imputed.shape[1]} imputed)", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    return fig


def _bars(ax: Any, levels: Sequence[Any], observed: pd.Series, imputed: np.ndarray) -> None:
    k = len(levels)
    obs_codes = observed.map({v: i for i, v in enumerate(levels)}).to_numpy(dtype=int)
    obs_p = np.bincount(obs_codes, minlength=k) / max(len(obs_codes), 1)
    per_imp = np.array([np.bincount(row.astype(int), minlength=k) / row.size for row in imputed])
    x = np.arange(k)
    ax.bar(x - 0.2, obs_p, width=0.4, label="observed")
    mean = per_imp.mean(axis=0)
    err = np.vstack([mean - per_imp.min(axis=0), per_imp.max(axis=0) - mean])
    ax.bar(x + 0.2, mean, width=0.4, yerr=err, capsize=2, label="imputed")
    ax.set_xticks(x, [str(v) for v in levels], fontsize=7, rotation=30 if k > 4 else 0)
    ax.set_ylabel("proportion", fontsize=8)
    ax.legend(fontsize=7)


def _densities(ax: Any, observed: np.ndarray, imputed: np.ndarray) -> None:
    allv = np.concatenate([observed, imputed.ravel()])
    lo, hi = np.min(allv), np.max(allv)
    pad = 0.05 * (hi - lo or 1.0)
    grid = np.linspace(lo - pad, hi + pad, 200)
    for i, row in enumerate(imputed):
        if np.ptp(row) > 0:
            ax.plot(grid, stats.gaussian_kde(row)(grid), color="C1", lw=0.5, alpha=0.5,
                    label="imputed" if i == 0 else None)  # fmt: skip
    if np.ptp(observed) > 0:
        ax.plot(grid, stats.gaussian_kde(observed)(grid), color="C0", lw=2, label="observed")
    ax.set_ylabel("density", fontsize=8)
    ax.legend(fontsize=7)
