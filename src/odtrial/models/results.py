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

from odtrial.errors import ModelError
from odtrial.models import _html


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
    @property
    def ratio_name(self) -> str | None:
        """What ``exp(coefficient)`` of a term is: ``"odds ratio"`` (logit link),
        ``"hazard ratio"`` (Cox), ``"rate ratio"`` (Poisson, NB2), ``"risk ratio"``
        (binomial, log link); None for an identity link (no ratio to show)."""
        if self.link == "logit":
            return "odds ratio"
        if self.link != "log":
            return None
        if self.model == "cox" or self.family == "cox":
            return "hazard ratio"
        effect = self.extra.get("effect")  # the cluster-level analysis names its own
        if isinstance(effect, str) and effect.endswith("ratio"):
            return effect
        return _RATIO_BY_FAMILY.get(self.family, "ratio of means")

    @property
    def estimation(self) -> str:
        """How the model was estimated, in words (read from what each fitter records)."""
        x = self.extra
        if self.model == "glmm":
            nagq = int(x.get("nagq", 1))
            if str(x.get("estimation", "")).upper() == "REML":
                return "REML (Laplace)"
            return "ML (Laplace)" if nagq <= 1 else f"ML (adaptive Gauss–Hermite, {nagq} points)"
        if self.model == "lmm":
            return "REML" if x.get("reml", True) else "ML"
        if self.model == "gee":
            return (
                f"GEE, {x.get('cov_struct', '?')} working correlation, "
                f"{x.get('cov_type', '?')} sandwich variance"
            )
        if self.model == "cox":
            return (
                f"partial likelihood ({x.get('ties', '?')} ties), {x.get('cov_type', '?')} variance"
            )
        if self.model == "cluster-level":
            return f"cluster-level t-test, {x.get('weights', '?')} cluster weights"
        return "ML"

    def to_frame(self, level: float = 0.95, *, exponentiate: bool = False) -> pd.DataFrame:
        """One row per term: estimate, SE, statistic, df, p and CI at ``level``.

        Parameters
        ----------
        level : float, default 0.95
            Confidence level.
        exponentiate : bool, default False
            Add ``exp_estimate``, ``exp_ci_lower``, ``exp_ci_upper`` (the
            :attr:`ratio_name` and its CI); only for a log or logit link.
        """
        ci = self.conf_int(level)
        frame = pd.DataFrame(
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
        if exponentiate:
            if self.ratio_name is None:
                raise ModelError(
                    f"exponentiate=True needs a log or logit link; this {self.model} fit has "
                    f"link={self.link!r}, whose coefficients are differences"
                )
            frame["exp_estimate"] = np.exp(frame["estimate"])
            frame["exp_ci_lower"] = np.exp(frame["ci_lower"])
            frame["exp_ci_upper"] = np.exp(frame["ci_upper"])
        return frame

    def _statistic_name(self) -> str:
        d = self._df
        if np.all(np.isinf(d)):
            return "z"
        return "t" if not np.any(np.isinf(d)) else "t or z"

    def _header(self) -> list[tuple[str, str, bool]]:
        """``(label, value, is_problem)`` rows shared by :meth:`summary` and the HTML view."""
        d = self.diagnostics
        rows: list[tuple[str, str, bool]] = [
            ("model", self.model.upper(), False),
            ("family / link", f"{self.family} / {self.link}", False),
            ("formula", self.formula, False),
            ("observations", str(self.nobs), False),
            ("clusters", str(self.n_clusters), False),
        ]
        if "n_events" in self.extra:
            rows.append(("events", str(self.extra["n_events"]), False))
        rows += [
            ("estimation", self.estimation, False),
            ("df method", self.df_method, False),
        ]
        if not np.isnan(self.cluster_var):
            rows.append(("cluster variance", f"{self.cluster_var:.6g}", False))
        if self.theta is not None:
            rows.append(("theta (NB2)", f"{self.theta:.6g}", False))
        if not np.isnan(self.llf):
            rows.append(("log-likelihood", f"{self.llf:.4f}", False))
            rows.append(("AIC", f"{self.aic:.4f}", False))
        rows += [
            ("converged", str(d.converged), not d.converged),
            ("singular", str(d.singular), d.singular),
            ("Hessian positive definite", str(d.hessian_positive_definite),
             not d.hessian_positive_definite),
        ]  # fmt: skip
        if not np.isnan(d.max_abs_gradient):
            rows.append(("max |gradient|", f"{d.max_abs_gradient:.2e}", False))
        if d.n_iterations:
            rows.append(("iterations", str(d.n_iterations), False))
        return rows

    def summary(self) -> str:
        """The fit as text: the header, then the coefficient table (with the
        exponentiated effect and its CI for a log or logit link)."""
        lines = [f"{self.model.upper()}  family={self.family}  link={self.link}"]
        lines += [f"{k}: {v}" for k, v, _ in self._header() if k not in ("model", "family / link")]
        lines += [f"warning: {w}" for w in self.diagnostics.warnings]
        ratio = self.ratio_name
        frame = self.to_frame(exponentiate=ratio is not None)
        if ratio is not None:
            name = ratio.replace(" ", "_")
            frame = frame.rename(
                columns={
                    "exp_estimate": name,
                    "exp_ci_lower": f"{name}_lower",
                    "exp_ci_upper": f"{name}_upper",
                }
            )
        table = frame.to_string(float_format=lambda x: f"{x:.4f}")
        return "\n".join(lines) + "\n\n" + table

    def to_html(self, level: float = 0.95) -> str:
        """The fit as an HTML block: header facts, coefficient table, warnings.

        Built from :meth:`to_frame` (the table :meth:`summary` prints); for a log
        or logit link the exponentiated effect and its CI are added, named by
        :attr:`ratio_name`. Every user-supplied text is escaped.
        """
        ratio = self.ratio_name
        frame = self.to_frame(level, exponentiate=ratio is not None)
        pct = f"{100 * level:g}%"
        header = ["term", "estimate", "SE", "df", self._statistic_name(), "p", f"{pct} CI"]
        if ratio is not None:
            header += [ratio, f"{pct} CI ({ratio})"]
        rows = []
        intercepts = []
        for term, r in frame.iterrows():
            row = [
                _html.esc(term),
                _html.num(r["estimate"]),
                _html.num(r["std_error"]),
                _html.df_text(r["df"]),
                _html.num(r["statistic"]),
                _html.pvalue(r["p_value"]),
                f"{_html.num(r['ci_lower'])} to {_html.num(r['ci_upper'])}",
            ]
            if ratio is not None:
                mark = ""
                if str(term) in _INTERCEPTS:
                    intercepts.append(str(term))
                    mark = "<sup>*</sup>"
                row += [
                    _html.num(r["exp_estimate"]) + mark,
                    f"{_html.num(r['exp_ci_lower'])} to {_html.num(r['exp_ci_upper'])}",
                ]
            rows.append(row)
        parts = [
            _html.facts("Fitted model", self._header()),
            _html.grid(header, rows),
        ]
        if ratio is not None and intercepts:
            base = _BASELINE.get(ratio, "mean")
            parts.append(
                _html.note(
                    f"* exp({intercepts[0]}) is the {base} at the reference level of every term "
                    "(in a mixed model, for a cluster effect of 0), not a ratio."
                )
            )
        parts.extend(_html.note(f"Warning: {w}", warn=True) for w in self.diagnostics.warnings)
        return _html.page(*parts)

    def _repr_html_(self) -> str:  # Jupyter's rich display
        return self.to_html()

    def __repr__(self) -> str:  # keep notebooks readable
        return f"<{type(self).__name__} {self.model} {self.family} n={self.nobs} clusters={self.n_clusters}>"


_RATIO_BY_FAMILY = {"poisson": "rate ratio", "negbin": "rate ratio", "binomial": "risk ratio"}
# what exp(Intercept) is under each ratio: a level in the reference group, not a ratio
_BASELINE = {"odds ratio": "odds", "rate ratio": "rate", "risk ratio": "risk"}
_INTERCEPTS = ("Intercept", "(Intercept)")
