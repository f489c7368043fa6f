"""The results contract every model shares.

Results are immutable (frozen dataclass; arrays are read-only copies).
``conf_int`` is a method so the level is chosen when asked. ``to_frame`` is
the one tidy table from which text, HTML and Word tables are built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class Diagnostics:
    """How the fit went. Never swallowed: the report prints it."""

    converged: bool
    singular: bool = False  # a variance component at its boundary (0)
    max_abs_gradient: float = float("nan")
    hessian_positive_definite: bool = True
    n_iterations: int = 0
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "converged": self.converged,
            "singular": self.singular,
            "max_abs_gradient": self.max_abs_gradient,
            "hessian_positive_definite": self.hessian_positive_definite,
            "n_iterations": self.n_iterations,
            "warnings": list(self.warnings),
        }


def _frozen(a: Any) -> np.ndarray:
    out = np.array(a, dtype=float, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, init=False)
class ModelResults:
    """Fitted model: labelled estimates, their covariance and inference.

    Immutable: the estimates are stored as read-only arrays and every
    accessor (``params``, ``bse``, ``cov_params()`` ...) returns a new pandas
    object, so changing what you were given never changes the results.

    ``df`` holds the reference distribution's degrees of freedom per term;
    ``inf`` means a z (normal) reference. ``bse`` are the standard errors used
    for inference (for Kenward–Roger, the adjusted ones: pass ``cov`` as the
    adjusted covariance).
    """

    model: str  # "glmm", "lmm", "gee", "cluster-level", "glm"
    family: str
    link: str
    formula: str
    names: tuple[str, ...]
    _params: np.ndarray
    _cov: np.ndarray
    _df: np.ndarray
    nobs: int
    n_clusters: int
    llf: float
    n_estimated: int  # parameters counted in AIC (fixed + variance components + dispersion)
    cluster_var: float
    theta: float | None  # negative binomial dispersion (var = mu + mu^2/theta)
    scale: float  # residual variance (LMM), 1 for binomial/poisson
    df_method: str
    diagnostics: Diagnostics
    extra: Mapping[str, Any]

    def __init__(
        self,
        *,
        model: str,
        family: str,
        link: str,
        formula: str,
        params: pd.Series,
        cov: pd.DataFrame | np.ndarray,
        df: pd.Series | np.ndarray | float,
        nobs: int,
        n_clusters: int,
        llf: float = float("nan"),
        n_estimated: int = 0,
        cluster_var: float = float("nan"),
        theta: float | None = None,
        scale: float = 1.0,
        df_method: str = "z",
        diagnostics: Diagnostics | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        names = tuple(str(n) for n in params.index)
        p = len(names)
        cov_a = _frozen(cov.loc[list(names), list(names)] if isinstance(cov, pd.DataFrame) else cov)
        df_a = _frozen(
            df.loc[list(names)] if isinstance(df, pd.Series) else np.broadcast_to(df, (p,))
        )
        if cov_a.shape != (p, p) or df_a.shape != (p,):
            raise ValueError("cov must be p x p and df of length p")
        values = {
            "model": model,
            "family": family,
            "link": link,
            "formula": formula,
            "names": names,
            "_params": _frozen(params.to_numpy()),
            "_cov": cov_a,
            "_df": df_a,
            "nobs": int(nobs),
            "n_clusters": int(n_clusters),
            "llf": float(llf),
            "n_estimated": int(n_estimated),
            "cluster_var": float(cluster_var),
            "theta": None if theta is None else float(theta),
            "scale": float(scale),
            "df_method": df_method,
            "diagnostics": diagnostics if diagnostics is not None else Diagnostics(converged=True),
            "extra": MappingProxyType(dict(extra or {})),
        }
        for k, v in values.items():
            object.__setattr__(self, k, v)

    @property
    def params(self) -> pd.Series:
        return pd.Series(self._params.copy(), index=list(self.names), name="params")

    @property
    def df(self) -> pd.Series:
        return pd.Series(self._df.copy(), index=list(self.names), name="df")

    # --- inference -------------------------------------------------------
    @property
    def bse(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self._cov)), index=list(self.names), name="bse")

    @property
    def tvalues(self) -> pd.Series:
        return (self.params / self.bse).rename("statistic")

    @property
    def pvalues(self) -> pd.Series:
        t = np.abs(self.tvalues.to_numpy())
        d = self.df.to_numpy(dtype=float)
        p = np.where(
            np.isinf(d), 2 * stats.norm.sf(t), 2 * stats.t.sf(t, np.where(np.isinf(d), 1.0, d))
        )
        return pd.Series(p, index=self.params.index, name="pvalue")

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        q = 1 - (1 - level) / 2
        d = self.df.to_numpy(dtype=float)
        crit = np.where(
            np.isinf(d), stats.norm.ppf(q), stats.t.ppf(q, np.where(np.isinf(d), 1.0, d))
        )
        half = crit * self.bse.to_numpy()
        est = self.params.to_numpy()
        return pd.DataFrame({"lower": est - half, "upper": est + half}, index=self.params.index)

    def cov_params(self) -> pd.DataFrame:
        return pd.DataFrame(self._cov.copy(), index=list(self.names), columns=list(self.names))

    @property
    def converged(self) -> bool:
        return self.diagnostics.converged

    @property
    def aic(self) -> float:
        return -2 * self.llf + 2 * self.n_estimated

    @property
    def bic(self) -> float:
        return -2 * self.llf + np.log(self.nobs) * self.n_estimated

    # --- presentation ----------------------------------------------------
    def to_frame(self, level: float = 0.95) -> pd.DataFrame:
        ci = self.conf_int(level)
        return pd.DataFrame(
            {
                "estimate": self.params,
                "std_error": self.bse,
                "statistic": self.tvalues,
                "df": self.df,
                "p_value": self.pvalues,
                "ci_lower": ci["lower"],
                "ci_upper": ci["upper"],
            }
        ).rename_axis("term")

    def summary(self) -> str:
        head = [
            f"{self.model.upper()}  family={self.family}  link={self.link}  df={self.df_method}",
            f"formula: {self.formula}",
            f"observations: {self.nobs}   clusters: {self.n_clusters}",
        ]
        if not np.isnan(self.cluster_var):
            head.append(f"cluster variance: {self.cluster_var:.6g}")
        if self.theta is not None:
            head.append(f"theta (NB2): {self.theta:.6g}")
        if not np.isnan(self.llf):
            head.append(f"log-likelihood: {self.llf:.4f}   AIC: {self.aic:.4f}")
        d = self.diagnostics
        head.append(
            f"converged: {d.converged}   singular: {d.singular}   max|grad|: {d.max_abs_gradient:.2e}"
            f"   Hessian PD: {d.hessian_positive_definite}"
        )
        head.extend(f"warning: {w}" for w in d.warnings)
        return (
            "\n".join(head) + "\n\n" + self.to_frame().to_string(float_format=lambda x: f"{x:.4f}")
        )

    def __repr__(self) -> str:  # keep notebooks readable
        return f"<{type(self).__name__} {self.model} {self.family} n={self.nobs} clusters={self.n_clusters}>"
