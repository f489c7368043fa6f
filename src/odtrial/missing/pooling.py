"""Rubin's rules with Barnard–Rubin degrees of freedom.

For ``m`` fits of the same model to ``m`` completed datasets, with estimates
``Q_i`` and covariances ``U_i`` (Rubin 1987; Barnard & Rubin 1999; the same
formulas as R's ``mitml::testEstimates``):

* ``Q̄ = mean(Q_i)``, ``Ū = mean(U_i)``, ``B = var(Q_i)`` (divisor m − 1),
  ``T = Ū + (1 + 1/m) B``; the pooled SE is ``sqrt(diag T)``;
* relative increase in variance ``r = (1 + 1/m) B / Ū`` and
  ``λ = r / (1 + r)`` (the share of the variance due to missing data);
* ``ν_old = (m − 1) / λ²``; with complete-data df ``ν_com``,
  ``ν_obs = (ν_com + 1) / (ν_com + 3) · ν_com (1 − λ)`` and the Barnard–Rubin
  ``ν = 1 / (1/ν_old + 1/ν_obs)``; with ``ν_com`` infinite, ``ν = ν_old``;
* fraction of missing information ``γ = (r + 2 / (ν + 3)) / (r + 1)``.

The complete-data df of a term is each fit's own small-sample df (between-
within, Satterthwaite, Kenward–Roger, clusters − 2 ...) averaged over the fits
(they differ only for the data-dependent methods); a fit with a z reference
(df infinite) gives ``ν = ν_old``. t tests and intervals use ``ν``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from odtrial.errors import ModelError
from odtrial.models.results import Diagnostics, ModelResults

# extra keys of a fit that say how it was estimated (read by ModelResults.estimation)
_HOW = (
    "estimation",
    "nagq",
    "reml",
    "cov_struct",
    "cov_type",
    "ties",
    "weights",
    "effect",
    "cluster",
)


class PooledResults(ModelResults):
    """Estimates pooled over imputations; the same interface as every fitter's
    results, plus per-term ``riv``, ``fmi``, ``lambda_``, ``within``,
    ``between`` and the per-imputation ``fits``.

    ``cov_params()`` is the total covariance ``T``; ``df`` the Barnard–Rubin df;
    ``to_frame()`` adds the columns ``riv`` and ``fmi``.
    """

    @property
    def m(self) -> int:
        return int(self.extra["m"])

    def _series(self, key: str, name: str) -> pd.Series:
        return pd.Series(np.array(self.extra[key], dtype=float), index=list(self.names), name=name)

    @property
    def riv(self) -> pd.Series:
        """Relative increase in variance due to missing data, ``(1 + 1/m) B / Ū``."""
        return self._series("riv", "riv")

    @property
    def fmi(self) -> pd.Series:
        """Fraction of missing information (Rubin's, with the Barnard–Rubin df)."""
        return self._series("fmi", "fmi")

    @property
    def lambda_(self) -> pd.Series:
        """Share of the total variance due to missing data, ``(1 + 1/m) B / T``."""
        return self._series("lambda", "lambda")

    @property
    def within(self) -> pd.Series:
        """Mean within-imputation variance ``diag Ū``."""
        return self._series("within", "within")

    @property
    def between(self) -> pd.Series:
        """Between-imputation variance ``diag B``."""
        return self._series("between", "between")

    @property
    def df_com(self) -> pd.Series:
        """Complete-data df used for each term."""
        return self._series("df_com", "df_com")

    @property
    def fits(self) -> tuple[ModelResults, ...]:
        return tuple(self.extra["fits"])

    @property
    def estimation(self) -> str:
        return f"{super().estimation}; multiple imputation, m = {self.m}, Rubin's rules"

    def to_frame(self, level: float = 0.95, *, exponentiate: bool = False) -> pd.DataFrame:
        frame = super().to_frame(level, exponentiate=exponentiate)
        frame["riv"] = self.riv.to_numpy()
        frame["fmi"] = self.fmi.to_numpy()
        return frame

    def __repr__(self) -> str:
        return (
            f"<PooledResults {self.model} {self.family} m={self.m} n={self.nobs} "
            f"clusters={self.n_clusters}>"
        )


def barnard_rubin(qhat: np.ndarray, uhat: np.ndarray, df_com: np.ndarray) -> dict[str, np.ndarray]:
    """Rubin's rules for estimates ``qhat`` (m x p) and covariances ``uhat``
    (m x p x p) with complete-data df ``df_com`` (p; ``inf`` allowed).

    Returns ``qbar``, ``ubar``, ``b``, ``t`` (p x p), ``riv``, ``lambda``,
    ``df`` and ``fmi`` (p each).
    """
    m = qhat.shape[0]
    if m < 2:
        raise ModelError(f"pooling needs at least 2 imputations, got {m}")
    qbar = qhat.mean(axis=0)
    ubar = uhat.mean(axis=0)
    dev = qhat - qbar
    b = dev.T @ dev / (m - 1)
    t = ubar + (1 + 1 / m) * b
    ud, bd = np.diag(ubar), np.diag(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = (1 + 1 / m) * bd / ud
        lam = riv / (1 + riv)
        nu_old = np.where(riv > 0, (m - 1) * (1 + 1 / riv) ** 2, np.inf)
        finite = np.isfinite(df_com)
        dc = np.where(finite, df_com, 1.0)
        nu_obs = np.where(finite, (1 - lam) * (dc + 1) / (dc + 3) * dc, np.inf)
        nu = 1 / (1 / nu_old + 1 / nu_obs)
        fmi = (riv + 2 / (nu + 3)) / (riv + 1)
    return {
        "qbar": qbar,
        "ubar": ubar,
        "b": b,
        "t": t,
        "riv": riv,
        "lambda": lam,
        "df": nu,
        "fmi": fmi,
    }


def pool(
    fits: Sequence[ModelResults], *, df_com: float | Sequence[float] | None = None
) -> PooledResults:
    """Pool fits of one model to the completed datasets by Rubin's rules.

    Parameters
    ----------
    fits
        One :class:`~odtrial.models.ModelResults` per imputation, same terms.
    df_com
        Complete-data df per term (or one for all); default each fit's own
        ``df`` averaged over the fits.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from odtrial.models import ModelResults
    >>> def fit(b):
    ...     return ModelResults(model="lmm", family="gaussian", link="identity",
    ...         formula="y ~ arm", params=pd.Series([1.0, b], index=["Intercept", "arm"]),
    ...         cov=np.diag([0.04, 0.09]), df=30.0, nobs=600, n_clusters=32)
    >>> r = pool([fit(0.4), fit(0.5), fit(0.6)])
    >>> round(r.params["arm"], 6), round(r.bse["arm"], 6), round(r.riv["arm"], 6)
    (np.float64(0.5), np.float64(0.321455), np.float64(0.148148))
    """
    fits = list(fits)
    if len(fits) < 2:
        raise ModelError(f"pooling needs at least 2 fits, got {len(fits)}")
    first = fits[0]
    names = first.names
    for i, f in enumerate(fits[1:], start=2):
        if f.names != names:
            raise ModelError(
                f"fit {i} has terms {list(f.names)}, fit 1 has {list(names)}: pool fits of "
                "one model (a factor level missing from one completed dataset changes the terms)"
            )
    qhat = np.array([f._params for f in fits])
    uhat = np.array([f._cov for f in fits])
    p = len(names)
    if df_com is None:
        dfc = np.array([f._df for f in fits]).mean(axis=0)
    else:
        dfc = np.broadcast_to(np.asarray(df_com, dtype=float), (p,)).copy()
    pooled = barnard_rubin(qhat, uhat, dfc)
    diag = _diagnostics(fits)
    extra: dict[str, Any] = {k: first.extra[k] for k in _HOW if k in first.extra}
    extra.update(
        {
            "m": len(fits),
            "riv": pooled["riv"],
            "fmi": pooled["fmi"],
            "lambda": pooled["lambda"],
            "within": np.diag(pooled["ubar"]),
            "between": np.diag(pooled["b"]),
            "df_com": dfc,
            "fits": tuple(fits),
            "complete_data_df_method": first.df_method,
        }
    )
    thetas = [f.theta for f in fits if f.theta is not None]
    return PooledResults(
        model=first.model,
        family=first.family,
        link=first.link,
        formula=first.formula,
        params=pd.Series(pooled["qbar"], index=list(names)),
        cov=pooled["t"],
        df=pooled["df"],
        nobs=first.nobs,
        n_clusters=first.n_clusters,
        n_estimated=first.n_estimated,
        cluster_var=float(np.mean([f.cluster_var for f in fits])),
        theta=float(np.mean(thetas)) if len(thetas) == len(fits) else None,
        scale=float(np.mean([f.scale for f in fits])),
        df_method=f"Barnard–Rubin (complete-data df: {first.df_method})",
        diagnostics=diag,
        extra=extra,
    )


def _diagnostics(fits: Sequence[ModelResults]) -> Diagnostics:
    """Every fit's problems, counted: a problem in one imputation is reported."""
    m = len(fits)
    not_conv = sum(not f.diagnostics.converged for f in fits)
    singular = sum(f.diagnostics.singular for f in fits)
    not_pd = sum(not f.diagnostics.hessian_positive_definite for f in fits)
    warnings: list[str] = []
    if not_conv:
        warnings.append(f"{not_conv} of {m} imputation fits did not converge")
    if singular:
        warnings.append(f"{singular} of {m} imputation fits are singular (cluster variance 0)")
    counts: dict[str, int] = {}
    for f in fits:
        for w in dict.fromkeys(f.diagnostics.warnings):
            counts[w] = counts.get(w, 0) + 1
    warnings += [f"{w} ({k} of {m} imputation fits)" for w, k in counts.items()]
    return Diagnostics(
        converged=not_conv == 0,
        singular=singular > 0,
        max_abs_gradient=float(np.nanmax([f.diagnostics.max_abs_gradient for f in fits]))
        if any(np.isfinite(f.diagnostics.max_abs_gradient) for f in fits)
        else float("nan"),
        hessian_positive_definite=not_pd == 0,
        n_iterations=0,
        warnings=tuple(warnings),
    )
