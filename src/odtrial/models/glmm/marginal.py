"""Marginal (population-average) risks, risk difference and risk ratio from a
fitted binary GLMM, by standardisation.

For each level ``a`` of the treatment, every row of ``data`` keeps its own
covariates with the treatment set to ``a``; its risk is averaged over the
random-intercept distribution N(0, σ²_u),

    P_i(a) = ∫ expit(x_i(a) β + o_i + σ z) φ(z) dz   (Gauss–Hermite, ``nodes`` points),

and the standardised risk is the mean over rows (weighted by trials for a
binomial response with trials). The risk difference is R(1) - R(0) and the risk
ratio R(1)/R(0).

Confidence intervals use the delta method with the gradient in (β, log σ) and
the joint covariance of (β, log σ) stored by :func:`fit_glmm` in
``result.extra["cov_full"]``: the inverse of the observed information (the
Hessian of the marginal log-likelihood at the estimate; the σ row/column taken
to log σ by the delta method). At a boundary fit (σ = 0) σ is held at 0 and only
the β part of the variance is used. The risk ratio's interval is computed on the
log scale. The reference distribution is t with the degrees of freedom of the
treatment term(s) in the model (``df="z"`` fits give normal intervals), unless
``df`` is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from odtrial.errors import ModelError
from odtrial.models.results import ModelResults


@dataclass(frozen=True)
class MarginalEffects:
    """Standardised risks by arm, risk difference and risk ratio with delta-method SEs."""

    treatment: str
    levels: tuple[Any, Any]  # (reference, comparator)
    risk_reference: float
    risk_comparator: float
    se_risk_reference: float
    se_risk_comparator: float
    risk_difference: float
    se_risk_difference: float
    risk_ratio: float
    se_log_risk_ratio: float
    df: float  # inf for a normal reference
    sigma_variance_used: bool  # False at a boundary fit (σ held at 0)

    def _crit(self, level: float) -> float:
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        q = 1 - (1 - level) / 2
        return float(stats.norm.ppf(q) if np.isinf(self.df) else stats.t.ppf(q, self.df))

    def to_frame(self, level: float = 0.95) -> pd.DataFrame:
        """One row per quantity: estimate, std_error, ci_lower, ci_upper."""
        c = self._crit(level)
        rows = {
            f"risk[{self.levels[0]}]": (self.risk_reference, self.se_risk_reference),
            f"risk[{self.levels[1]}]": (self.risk_comparator, self.se_risk_comparator),
            "risk_difference": (self.risk_difference, self.se_risk_difference),
        }
        out = {k: (est, se, est - c * se, est + c * se) for k, (est, se) in rows.items()}
        lrr = np.log(self.risk_ratio)
        out["risk_ratio"] = (
            self.risk_ratio,
            self.risk_ratio * self.se_log_risk_ratio,  # delta-method SE of the ratio itself
            float(np.exp(lrr - c * self.se_log_risk_ratio)),
            float(np.exp(lrr + c * self.se_log_risk_ratio)),
        )
        return pd.DataFrame.from_dict(
            out, orient="index", columns=["estimate", "std_error", "ci_lower", "ci_upper"]
        ).rename_axis("quantity")

    def _repr_html_(self) -> str:
        """Jupyter's rich display of :meth:`to_frame` (95% CIs)."""
        from odtrial.models import _html

        rows = [
            [_html.esc(q), _html.num(r["estimate"]), _html.num(r["std_error"]),
             f"{_html.num(r['ci_lower'])} to {_html.num(r['ci_upper'])}"]
            for q, r in self.to_frame().iterrows()
        ]  # fmt: skip
        facts = _html.facts(
            "Standardised (marginal) risks",
            [
                ("treatment", f"{self.treatment}: {self.levels[1]} vs {self.levels[0]}", False),
                ("df", _html.df_text(self.df), False),
                ("cluster variance used", str(self.sigma_variance_used),
                 not self.sigma_variance_used),
            ],
        )  # fmt: skip
        return _html.page(facts, _html.grid(["quantity", "estimate", "SE", "95% CI"], rows))


def marginal_effects(
    result: ModelResults,
    data: pd.DataFrame,
    *,
    treatment: str = "arm",
    levels: Sequence[Any] | None = None,
    nodes: int = 40,
    df: float | None = None,
    offset: np.ndarray | None = None,
) -> MarginalEffects:
    """Standardised risk difference and risk ratio from a binomial :func:`fit_glmm`.

    Parameters
    ----------
    result : ModelResults
        A binomial GLMM fitted from a formula (its model spec is in ``extra``).
    data : DataFrame
        The rows to standardise over (usually the analysis data).
    treatment : str
        Treatment column; it is set to each level in turn.
    levels : pair, optional
        (reference, comparator); default the two sorted distinct values of the column.
    nodes : int
        Gauss–Hermite points for the integral over the random intercept.
    df : float, optional
        Degrees of freedom for the intervals (default: the treatment term's).
    offset : array, optional
        Needed only if the model was fitted with an offset given as an array.
    """
    if result.model != "glmm" or result.family != "binomial":
        raise ModelError(
            f"marginal effects need a binomial GLMM; got {result.model} {result.family}"
        )
    spec = result.extra.get("spec")
    if spec is None:
        raise ModelError(
            "marginal effects need a GLMM fitted from a formula (fit_glmm), not arrays"
        )
    if treatment not in data.columns:
        raise ModelError(f"treatment column {treatment!r} is not in the data")
    lv = _levels(data[treatment], levels, treatment)
    names = list(result.names)
    beta = result.params.to_numpy()
    sigma = float(result.extra["sigma"])
    off = _offset(result, data, offset)
    trials = result.extra.get("trials")
    wt = np.ones(len(data)) if trials is None else data[trials].to_numpy(dtype=float)
    wt = wt / wt.sum()
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()

    risks, grads, Xs = [], [], []
    for a in lv:
        d = data.copy()
        d[treatment] = pd.Series([a] * len(d), index=d.index, dtype=data[treatment].dtype)
        try:
            mm = spec.get_model_matrix(d, na_action="raise")
        except Exception as e:  # one line for the user
            raise ModelError(
                f"cannot rebuild the design for {treatment}={a!r}: {str(e).splitlines()[0]}"
            ) from None
        X = mm.reindex(columns=names).to_numpy(dtype=float)
        if np.isnan(X).any():
            raise ModelError(f"the data do not rebuild the model's columns for {treatment}={a!r}")
        p = special.expit((X @ beta + off)[:, None] + sigma * z[None, :])  # (n, K)
        dp = p * (1 - p)
        risks.append(float(wt @ (p @ w)))
        g_beta = (wt * (dp @ w)) @ X
        g_logsig = float(wt @ (dp @ (w * z))) * sigma  # ∂/∂log σ = σ ∂/∂σ
        grads.append(np.r_[g_beta, g_logsig])
        Xs.append(X)

    cov_full = result.extra["cov_full"]
    use_sigma = sigma > 0 and np.isfinite(cov_full.loc["log_sigma", "log_sigma"])
    keep = [*names, "log_sigma"] if use_sigma else names
    V = cov_full.loc[keep, keep].to_numpy()
    g0, g1 = (g[: len(keep)] for g in grads)
    r0, r1 = risks

    def se(g: np.ndarray) -> float:
        return float(np.sqrt(max(g @ V @ g, 0.0)))

    if df is None:
        changed = np.any(Xs[0] != Xs[1], axis=0)
        dfs = result.df.to_numpy()[changed]
        df = float(dfs.min()) if len(dfs) else float("inf")
    return MarginalEffects(
        treatment=treatment,
        levels=(lv[0], lv[1]),
        risk_reference=r0,
        risk_comparator=r1,
        se_risk_reference=se(g0),
        se_risk_comparator=se(g1),
        risk_difference=r1 - r0,
        se_risk_difference=se(g1 - g0),
        risk_ratio=r1 / r0,
        se_log_risk_ratio=se(g1 / r1 - g0 / r0),
        df=float(df),
        sigma_variance_used=bool(use_sigma),
    )


def _levels(col: pd.Series, levels: Sequence[Any] | None, name: str) -> tuple[Any, Any]:
    if levels is not None:
        if len(levels) != 2:
            raise ModelError(f"levels must be a pair (reference, comparator); got {levels!r}")
        return levels[0], levels[1]
    vals = sorted(pd.unique(col.dropna()).tolist())
    if len(vals) != 2:
        raise ModelError(
            f"treatment {name!r} has {len(vals)} distinct values; pass levels=(reference, comparator)"
        )
    return vals[0], vals[1]


def _offset(result: ModelResults, data: pd.DataFrame, offset: np.ndarray | None) -> np.ndarray:
    if offset is not None:
        off = np.asarray(offset, dtype=float)
        if off.shape != (len(data),):
            raise ModelError(f"offset has shape {off.shape}; expected ({len(data)},)")
        return off
    col = result.extra.get("offset")
    if col is not None:
        if col not in data.columns:
            raise ModelError(f"offset column {col!r} is not in the data")
        return data[col].to_numpy(dtype=float)
    if result.extra.get("has_offset"):
        raise ModelError("the model was fitted with an offset array: pass offset= for these rows")
    return np.zeros(len(data))
