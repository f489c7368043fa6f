"""Missing-not-at-random sensitivity analyses: delta adjustment and tipping point.

A pattern-mixture model (Carpenter & Kenward 2013, ch. 10; Leacy et al. 2017):
participants whose outcome is missing are assumed to differ from those
observed with the same covariates by ``δ``, possibly by arm. The MAR
imputations are shifted after imputation:

* binary: on the link scale. Each imputed value was drawn as ``U < p`` with
  ``p`` its MAR predictive probability; the adjusted value is
  ``U < expit(logit(p) + δ)`` (``scale="probit"``: ``Φ(Φ⁻¹(p) + δ)``), with
  the same ``U``, so ``δ = 0`` gives back the MAR imputations exactly and a
  larger ``δ`` never turns a 1 into a 0. ``δ`` is a log odds ratio of
  ``levels[1]`` (True, 1, or the second value in sort order) for the missing
  against the observed;
* continuous: on the analysis scale, ``y + δ``;
* count: ``scale="log"`` (default) multiplies by ``exp(δ)`` (a rate ratio),
  ``"identity"`` adds ``δ``; both rounded to whole numbers, at least 0.

Only the adjusted column changes: other variables imputed from it keep their
MAR values (the usual choice when the outcome is the last visit). A
tipping-point analysis repeats the adjusted analysis over a grid of ``δ`` and
reports where the conclusion (the CI excluding the null) changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import special

from odtrial.errors import ModelError
from odtrial.missing.imputation import Imputations
from odtrial.models.results import ModelResults

SCALES = {"binary": ("logit", "probit"), "continuous": ("identity",), "count": ("log", "identity")}


def delta_adjust(
    imps: Imputations,
    column: str,
    delta: float | Mapping[Any, float],
    *,
    by: str | None = None,
    scale: str | None = None,
) -> Imputations:
    """Shift the imputed values of ``column`` by ``delta`` (MNAR pattern mixture).

    Parameters
    ----------
    imps
        MAR imputations from :func:`~odtrial.missing.impute`.
    column
        An imputed column (binary, continuous or count).
    delta
        One shift for every imputed value, or with ``by`` a mapping from each
        level of ``by`` to its shift (levels left out are not shifted).
    by
        A fully observed column, usually the arm.
    scale
        ``"logit"`` (default) or ``"probit"`` for binary, ``"identity"`` for
        continuous, ``"log"`` (default) or ``"identity"`` for a count.

    Returns
    -------
    Imputations
        New imputations (the input is unchanged); ``settings["delta"]`` records
        every adjustment made.
    """
    if column not in imps.imputed:
        raise ModelError(
            f"{column!r} was not imputed; imputed columns: {', '.join(imps.imputed) or 'none'}"
        )
    col = imps.column(column)
    if col.kind not in SCALES:
        raise ModelError(f"delta adjustment of a {col.kind} column ({column!r}) is not supported")
    scale = scale or SCALES[col.kind][0]
    if scale not in SCALES[col.kind]:
        raise ModelError(
            f"scale {scale!r} does not fit the {col.kind} column {column!r}; "
            f"use {' or '.join(map(repr, SCALES[col.kind]))}"
        )
    rows = imps.missing_rows[column]
    shift = _shift_per_row(imps, rows, delta, by)
    old = imps.imputed[column]
    if col.kind == "binary":
        p = imps.probabilities[column]
        if scale == "logit":
            q = special.expit(special.logit(p) + shift)
        else:
            q = special.ndtr(special.ndtri(p) + shift)
        new = (imps.uniforms[column] < q).astype(float)
    elif col.kind == "continuous":
        new = old + shift
    else:
        new = old * np.exp(shift) if scale == "log" else old + shift
        new = np.maximum(np.rint(new), 0.0)
    new.flags.writeable = False
    imputed = dict(imps.imputed)
    imputed[column] = new
    record = {"delta": _jsonable(delta), "by": by, "scale": scale}
    settings = dict(imps.settings)
    settings["delta"] = {**dict(settings.get("delta", {})), column: record}
    return dataclasses.replace(imps, imputed=imputed, settings=settings)


def _shift_per_row(
    imps: Imputations, rows: np.ndarray, delta: float | Mapping[Any, float], by: str | None
) -> np.ndarray:
    if by is None:
        if isinstance(delta, Mapping):
            raise ModelError("delta given per level needs by= (the column whose levels they are)")
        return np.full(rows.size, float(delta))
    if by not in imps.data.columns:
        raise ModelError(f"by column {by!r} is not in the data")
    if not isinstance(delta, Mapping):
        raise ModelError(
            f"with by={by!r}, give delta as a mapping from each level of {by!r} to its shift"
        )
    groups = imps.data[by].iloc[rows]
    if groups.isna().any():
        raise ModelError(f"by column {by!r} is missing for some rows whose value was imputed")
    levels = set(imps.data[by].dropna().unique().tolist())
    unknown = [k for k in delta if k not in levels]
    if unknown:
        raise ModelError(
            f"delta names levels {unknown} not in {by!r}; its levels are {sorted(levels, key=str)}"
        )
    return groups.map(lambda v: float(delta.get(v, 0.0))).to_numpy(dtype=float)


def _jsonable(delta: float | Mapping[Any, float]) -> Any:
    if isinstance(delta, Mapping):
        return {str(k): float(v) for k, v in delta.items()}
    return float(delta)


@dataclass(frozen=True)
class TippingPoint:
    """The adjusted analysis over a grid of deltas.

    ``table`` has one row per delta (estimate, std_error, df, p_value,
    ci_lower, ci_upper, significant); ``tipping_points`` the deltas nearest 0
    below and above at which the conclusion differs from MAR's (linear
    interpolation of the CI bound crossing the null; None if the grid never
    reaches one).
    """

    table: pd.DataFrame
    column: str
    term: str
    by: str | None
    shifted: tuple[Any, ...]
    scale: str
    level: float
    null: float

    @property
    def mar(self) -> pd.Series:
        """The row at delta 0 (the MAR analysis)."""
        return self.table.loc[self.table["delta"] == 0.0].iloc[0]

    @property
    def tipping_points(self) -> dict[str, float | None]:
        t = self.table.sort_values("delta").reset_index(drop=True)
        status = _status(t, self.null)
        zero = int(np.flatnonzero(t["delta"].to_numpy() == 0.0)[0])
        out: dict[str, float | None] = {"below": None, "above": None}
        for side, step in (("below", -1), ("above", 1)):
            i = zero
            while 0 <= i + step < len(t):
                j = i + step
                if status[j] != status[zero]:
                    out[side] = _crossing(t, i, j, status, self.null)
                    break
                i = j
        return out

    @property
    def tipping_point(self) -> float | None:
        """The delta nearest 0 (either side) at which the conclusion changes."""
        found = [v for v in self.tipping_points.values() if v is not None]
        return min(found, key=abs) if found else None

    def plot(self, *, ax: Any = None) -> Figure:
        """Estimate and CI against delta, the null line and the tipping points marked."""
        if ax is None:
            fig = Figure(figsize=(6.0, 4.0), layout="constrained")
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        t = self.table.sort_values("delta")
        pct = f"{100 * self.level:g}%"
        ax.fill_between(t["delta"], t["ci_lower"], t["ci_upper"], alpha=0.25, label=f"{pct} CI")
        ax.plot(t["delta"], t["estimate"], marker="o", ms=3, label="estimate")
        ax.axhline(self.null, color="black", lw=0.8)
        ax.axvline(0.0, color="grey", lw=0.8, ls=":")
        for v in self.tipping_points.values():
            if v is not None:
                ax.axvline(v, color="C3", ls="--", lw=1.0)
                ax.annotate(f"tipping point {v:.3g}", (v, self.null), xytext=(3, 6),
                            textcoords="offset points", color="C3", fontsize=8)  # fmt: skip
        where = "" if self.by is None else f" where {self.by} = {', '.join(map(str, self.shifted))}"
        ax.set_xlabel(f"δ added to imputed {self.column} ({self.scale} scale){where}")
        ax.set_ylabel(f"{self.term} (pooled)")
        ax.legend(loc="best", fontsize=8)
        return fig


def _status(t: pd.DataFrame, null: float) -> np.ndarray:
    lo, hi = t["ci_lower"].to_numpy(), t["ci_upper"].to_numpy()
    return np.where(lo > null, 1, np.where(hi < null, -1, 0))


def _crossing(t: pd.DataFrame, i: int, j: int, status: np.ndarray, null: float) -> float:
    bound = "ci_lower" if 1 in (status[i], status[j]) else "ci_upper"
    a, b = t["delta"].iloc[i], t["delta"].iloc[j]
    fa, fb = t[bound].iloc[i] - null, t[bound].iloc[j] - null
    if fb == fa:
        return float(b)
    return float(a + (0.0 - fa) * (b - a) / (fb - fa))


def tipping_point(
    imps: Imputations,
    fitter: Callable[..., ModelResults],
    formula: str,
    *,
    column: str,
    term: str,
    deltas: Sequence[float],
    by: str | None = None,
    shift: Any = None,
    scale: str | None = None,
    level: float = 0.95,
    null: float = 0.0,
    n_jobs: int = 1,
    **fit_kw: Any,
) -> TippingPoint:
    """Refit the analysis with the imputed ``column`` shifted by each delta.

    Parameters
    ----------
    imps, fitter, formula
        As for :meth:`Imputations.fit`; ``fit_kw`` go to the fitter.
    column
        The imputed outcome to shift.
    term
        The coefficient whose conclusion is tracked (the arm).
    deltas
        The grid; 0 (MAR) is added if absent.
    by, shift
        Shift only rows whose ``by`` is ``shift`` (a level or a list of levels),
        e.g. the intervention arm; ``by`` None shifts every imputed value.
    scale, level, null
        Scale of the shift (see :func:`delta_adjust`), CI level, and the null
        value of ``term`` (0 for a difference or a log ratio).
    """
    if by is None and shift is not None:
        raise ModelError("shift= names levels of by=; give by= too")
    levels: tuple[Any, ...] = ()
    if by is not None:
        if shift is None:
            raise ModelError(f"with by={by!r}, name the level(s) to shift with shift=")
        levels = tuple(shift) if isinstance(shift, list | tuple) else (shift,)
    grid = sorted({0.0, *map(float, deltas)})
    rows = []
    for d in grid:
        delta: float | dict[Any, float] = d if by is None else dict.fromkeys(levels, d)
        adj = delta_adjust(imps, column, delta, by=by, scale=scale)
        res = adj.fit(fitter, formula, n_jobs=n_jobs, **fit_kw)
        if term not in res.names:
            raise ModelError(f"term {term!r} is not in the model; its terms are {list(res.names)}")
        i = res.names.index(term)
        ci = res.conf_int(level).to_numpy()[i]
        rows.append(
            {
                "delta": d,
                "estimate": res.params.to_numpy()[i],
                "std_error": res.bse.to_numpy()[i],
                "df": res.df.to_numpy()[i],
                "p_value": res.pvalues.to_numpy()[i],
                "ci_lower": ci[0],
                "ci_upper": ci[1],
            }
        )
    table = pd.DataFrame(rows)
    table["significant"] = (table["ci_lower"] > null) | (table["ci_upper"] < null)
    col = imps.column(column)
    return TippingPoint(
        table=table,
        column=column,
        term=term,
        by=by,
        shifted=levels,
        scale=scale or SCALES.get(col.kind, ("identity",))[0],
        level=level,
        null=null,
    )
