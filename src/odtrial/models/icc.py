"""Intracluster correlation coefficients with confidence intervals.

Always say which scale an ICC is on:

* ``method="anova"``: the one-way ANOVA estimator
  ``(MSB - MSW) / (MSB + (n0 - 1) MSW)``, ``n0 = (N - sum n_i^2 / N) / (k - 1)``.
  On a 0/1 outcome this is the ICC on the **proportion** scale; on a
  continuous outcome the usual **continuous** one. It can be negative (less
  variation between clusters than chance gives): reported as it is. The CI
  is Searle's exact F-based interval (Searle 1971; Thomas & Hultquist 1978)
  for continuous outcomes, and Smith's (1956) large-sample variance with a
  normal interval for binary ones, which Zou & Donner (Biometrics 2004;60:807)
  found to cover better than the F interval for proportions; ``ci=`` overrides.
* ``method="reml"``: σ²_u / (σ²_u + σ²_e) from the REML fit of the one-way
  random-intercept model, with a profile REML-likelihood interval
  (``2 (l(theta_hat) - l(theta)) <= chi2_1``, with theta = σ²_u / σ²_e and σ²_e
  profiled out in closed form). Never negative; equals the ANOVA estimator
  on balanced data when that is positive.
* ``method="latent"`` (binary only): σ²_u / (σ²_u + π²/3) from the
  random-intercept logistic GLMM (``odtrial.models.glmm.fit_glmm``, adaptive
  Gauss–Hermite quadrature), the ICC on the **latent** (logistic) scale. The
  CI is a Wald interval on log σ_u (delta method, using the GLMM's observed
  information), mapped to the ICC scale, which keeps it inside (0, 1). At a
  boundary fit (σ_u = 0) log σ_u has no finite variance: the estimate is 0
  and the interval is [0, NaN] with a note saying so; use the ANOVA ICC then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from odtrial.errors import ModelError

Method = Literal["anova", "reml", "latent"]
CIMethod = Literal["searle", "smith"]

LOGISTIC_VARIANCE = float(np.pi**2 / 3)


@dataclass(frozen=True)
class ICCResult:
    """An ICC, its confidence interval, and what it is.

    Attributes
    ----------
    estimate, lower, upper : float
        The ICC and its CI at ``level``.
    level : float
        Confidence level.
    scale : {"proportion", "latent", "continuous"}
        Scale of the ICC.
    method : {"anova", "reml", "latent"}
        Estimator.
    ci_method : str
        How the interval was computed.
    between_var, within_var : float
        Variance components (within is π²/3 on the latent scale).
    nobs, n_clusters : int
        Individuals and clusters used.
    notes : tuple of str
        Anything the reader must know (negative estimate, boundary fit ...).
    """

    estimate: float
    lower: float
    upper: float
    level: float
    scale: str
    method: str
    ci_method: str
    between_var: float
    within_var: float
    nobs: int
    n_clusters: int
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for results.json."""
        return {
            "estimate": self.estimate,
            "lower": self.lower,
            "upper": self.upper,
            "level": self.level,
            "scale": self.scale,
            "method": self.method,
            "ci_method": self.ci_method,
            "between_var": self.between_var,
            "within_var": self.within_var,
            "nobs": self.nobs,
            "n_clusters": self.n_clusters,
            "notes": list(self.notes),
        }

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the ICC with its CI, then what it is and its notes."""
        from odtrial.models import _html

        pct = f"{100 * self.level:g}%"
        table = _html.grid(
            ["ICC", f"{pct} CI", "scale", "clusters", "observations"],
            [
                [
                    _html.num(self.estimate),
                    f"{_html.num(self.lower)} to {_html.num(self.upper)}",
                    _html.esc(self.scale),
                    str(self.n_clusters),
                    str(self.nobs),
                ]
            ],
        )
        facts = _html.facts(
            "Intracluster correlation",
            [
                ("method", self.method, False),
                ("interval", self.ci_method, False),
                ("between-cluster variance", _html.num(self.between_var), False),
                ("within-cluster variance", _html.num(self.within_var), False),
            ],
        )
        return _html.page(facts, table, *(_html.note(f"Note: {n}", warn=True) for n in self.notes))


@dataclass(frozen=True)
class _OneWay:
    y: np.ndarray
    codes: np.ndarray
    n: np.ndarray  # cluster sizes

    @property
    def N(self) -> int:
        return len(self.y)

    @property
    def k(self) -> int:
        return len(self.n)

    @property
    def means(self) -> np.ndarray:
        return np.asarray(np.bincount(self.codes, weights=self.y) / self.n)

    @property
    def ssw(self) -> float:
        return float(np.sum((self.y - self.means[self.codes]) ** 2))


def _prepare(data: pd.DataFrame, outcome: str, cluster: str) -> _OneWay:
    if not isinstance(data, pd.DataFrame):
        raise ModelError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    for col in (outcome, cluster):
        if col not in data.columns:
            raise ModelError(f"column {col!r} is not in the data")
        na = data[col].isna().to_numpy()
        if na.any():
            raise ModelError(
                f"column {col!r} has {int(na.sum())} missing value(s), first at row "
                f"{data.index[int(np.argmax(na))]!r}; drop or impute them first"
            )
    raw = data[outcome]
    if raw.dtype == bool:
        raw = raw.astype(float)
    if not pd.api.types.is_numeric_dtype(raw):
        raise ModelError(f"outcome {outcome!r} must be numeric (got {raw.dtype})")
    codes, _ = pd.factorize(data[cluster], sort=True)
    n = np.bincount(codes).astype(float)
    ow = _OneWay(y=raw.to_numpy(dtype=float), codes=np.asarray(codes), n=n)
    if ow.k < 2:
        raise ModelError(f"an ICC needs at least 2 clusters; {cluster!r} has {ow.k}")
    if ow.N <= ow.k:
        raise ModelError(
            f"an ICC needs some clusters with 2 or more people: {ow.N} rows in {ow.k} clusters"
        )
    return ow


def _is_binary(y: np.ndarray) -> bool:
    return bool(np.isin(y, (0.0, 1.0)).all())


def _anova(ow: _OneWay, level: float, binary: bool, ci: str | None) -> ICCResult:
    N, k, n = ow.N, ow.k, ow.n
    msw = ow.ssw / (N - k)
    grand = ow.y.mean()
    msb = float(np.sum(n * (ow.means - grand) ** 2) / (k - 1))
    n0 = (N - np.sum(n**2) / N) / (k - 1)
    between = (msb - msw) / n0
    notes: list[str] = []
    if msb + (n0 - 1) * msw == 0:
        raise ModelError("the outcome does not vary at all: the ICC is undefined")
    rho = (msb - msw) / (msb + (n0 - 1) * msw)
    if rho < 0:
        notes.append("negative ANOVA estimate: less between-cluster variation than chance")
    ci_method = ci or ("smith" if binary else "searle")
    alpha = 1 - level
    if ci_method == "searle":
        if msw == 0:
            lower = upper = float("nan")
            notes.append("no within-cluster variation: F interval undefined")
        else:
            F = msb / msw
            f_hi = stats.f.ppf(1 - alpha / 2, k - 1, N - k)
            f_lo = stats.f.ppf(alpha / 2, k - 1, N - k)
            FL, FU = F / f_hi, F / f_lo
            lower = (FL - 1) / (FL + n0 - 1)
            upper = (FU - 1) / (FU + n0 - 1)
    elif ci_method == "smith":
        s2, s3 = float(np.sum(n**2)), float(np.sum(n**3))
        r = rho
        var = (2 * (1 - r) ** 2 / n0**2) * (
            (1 + r * (n0 - 1)) ** 2 / (N - k)
            + ((k - 1) * (1 - r) * (1 + r * (2 * n0 - 1)) + r**2 * (s2 - 2 * s3 / N + s2**2 / N**2))
            / (k - 1) ** 2
        )
        z = stats.norm.ppf(1 - alpha / 2)
        lower, upper = rho - z * np.sqrt(var), rho + z * np.sqrt(var)
    else:
        raise ModelError(f"ci must be 'searle' or 'smith'; got {ci_method!r}")
    return ICCResult(
        estimate=float(rho),
        lower=float(lower),
        upper=float(upper),
        level=level,
        scale="proportion" if binary else "continuous",
        method="anova",
        ci_method=f"{ci_method} ({'F-based, exact under normality' if ci_method == 'searle' else 'large-sample normal'})",
        between_var=float(between),
        within_var=float(msw),
        nobs=N,
        n_clusters=k,
        notes=tuple(notes),
    )


def _reml_profile(ow: _OneWay) -> tuple[Any, Any]:
    """REML log-likelihood of theta = σ²_u / σ²_e (σ²_e profiled out) and its derivative.

    With ``w_i = n_i / (1 + n_i theta)``, ``mu = sum w m / sum w`` and
    ``Q = SSW + sum w (m - mu)^2``:
    ``l = -1/2 [(N - 1) log(Q / (N - 1)) + sum log(1 + n theta) + log sum w]``.
    """
    n, means = ow.n, ow.means
    ssw, N = ow.ssw, ow.N

    def parts(theta: float) -> tuple[np.ndarray, float, float]:
        w = n / (1 + n * theta)
        mu = float(np.sum(w * means) / np.sum(w))
        Q = float(ssw + np.sum(w * (means - mu) ** 2))
        return w, mu, Q

    def loglik(theta: float) -> float:
        w, _, Q = parts(theta)
        return float(
            -0.5 * ((N - 1) * np.log(Q / (N - 1)) + np.sum(np.log1p(n * theta)) + np.log(np.sum(w)))
        )

    def score(theta: float) -> float:
        w, mu, Q = parts(theta)
        dq = -np.sum(w**2 * (means - mu) ** 2)
        return float(-0.5 * ((N - 1) * dq / Q + np.sum(w) - np.sum(w**2) / np.sum(w)))

    return loglik, score


def _reml(ow: _OneWay, level: float, binary: bool) -> ICCResult:
    if ow.ssw == 0:
        raise ModelError("no within-cluster variation: the REML ICC is undefined")
    loglik, score = _reml_profile(ow)
    hi = 1e8  # theta this large is an ICC of 1 - 1e-8
    grid = np.concatenate([[0.0], np.logspace(-8, 8, 161)])
    j = int(np.argmax([loglik(t) for t in grid]))
    if j == 0 and score(0.0) <= 0:
        theta = 0.0
    else:
        # the score changes sign around the best grid point: solve it to full precision
        a, b = grid[max(j - 1, 0)], grid[min(j + 1, len(grid) - 1)]
        if score(a) > 0 > score(b):
            theta = float(optimize.brentq(score, a, b, xtol=1e-15, rtol=1e-14))
        else:  # optimum at the edge of the grid (ICC ~ 0 or ~ 1)
            theta = float(grid[j])
    l_max = loglik(theta)
    crit = stats.chi2.ppf(level, 1) / 2

    def gap(t: float) -> float:
        return l_max - loglik(t) - crit

    notes: list[str] = []
    lower_theta = 0.0 if gap(0.0) <= 0 else optimize.brentq(gap, 0.0, theta, xtol=1e-14)
    if gap(hi) <= 0:
        upper_theta = np.inf
        notes.append("profile likelihood does not reach the upper bound: upper limit 1")
    else:
        upper_theta = optimize.brentq(gap, theta, hi, xtol=1e-14, rtol=1e-12)
    if theta == 0.0:
        notes.append("REML estimate at the boundary: cluster variance 0")
    w = ow.n / (1 + ow.n * theta)
    mu = np.sum(w * ow.means) / np.sum(w)
    sigma2_e = (ow.ssw + np.sum(w * (ow.means - mu) ** 2)) / (ow.N - 1)

    def to_icc(t: float) -> float:
        return 1.0 if np.isinf(t) else t / (1 + t)

    return ICCResult(
        estimate=to_icc(theta),
        lower=to_icc(lower_theta),
        upper=to_icc(upper_theta),
        level=level,
        scale="proportion" if binary else "continuous",
        method="reml",
        ci_method="profile REML likelihood",
        between_var=float(theta * sigma2_e),
        within_var=float(sigma2_e),
        nobs=ow.N,
        n_clusters=ow.k,
        notes=tuple(notes),
    )


def _latent(
    data: pd.DataFrame, outcome: str, cluster: str, ow: _OneWay, level: float, nagq: int | None
) -> ICCResult:
    from odtrial.models.glmm import DEFAULT_NAGQ, fit_glmm  # heavy; only when asked

    fit = fit_glmm(
        f"{outcome} ~ 1",
        data,
        cluster=cluster,
        family="binomial",
        method="ML",
        nagq=DEFAULT_NAGQ if nagq is None else nagq,
    )
    s2 = float(fit.cluster_var)
    notes = list(fit.diagnostics.warnings)
    if not fit.converged:
        notes.append("GLMM did not converge")
    var_log_sigma = float(fit.extra["cov_full"].loc["log_sigma", "log_sigma"])
    est = s2 / (s2 + LOGISTIC_VARIANCE)
    if fit.diagnostics.singular or not np.isfinite(var_log_sigma) or var_log_sigma <= 0:
        lower, upper = 0.0, float("nan")
        notes.append("cluster variance at the boundary (0): no interval on the latent scale")
    else:
        z = stats.norm.ppf(0.5 + level / 2)
        log_s = 0.5 * np.log(s2)
        half = z * np.sqrt(var_log_sigma)
        lo_s2, hi_s2 = np.exp(2 * (log_s - half)), np.exp(2 * (log_s + half))
        lower = lo_s2 / (lo_s2 + LOGISTIC_VARIANCE)
        upper = hi_s2 / (hi_s2 + LOGISTIC_VARIANCE)
    return ICCResult(
        estimate=float(est),
        lower=float(lower),
        upper=float(upper),
        level=level,
        scale="latent",
        method="latent",
        ci_method=f"Wald on log sigma_u (delta method), GLMM nagq={fit.extra.get('nagq')}",
        between_var=s2,
        within_var=LOGISTIC_VARIANCE,
        nobs=ow.N,
        n_clusters=ow.k,
        notes=tuple(notes),
    )


def icc(
    data: pd.DataFrame,
    *,
    outcome: str,
    cluster: str,
    method: Method = "anova",
    level: float = 0.95,
    ci: CIMethod | None = None,
    nagq: int | None = None,
) -> ICCResult:
    """Estimate the intracluster correlation of an outcome, with a confidence interval.

    Parameters
    ----------
    data : DataFrame
        One row per individual; no missing values in ``outcome`` or ``cluster``.
    outcome, cluster : str
        Column names.
    method : {"anova", "reml", "latent"}, default "anova"
        See the module notes. ``"latent"`` needs a 0/1 outcome.
    level : float, default 0.95
        Confidence level.
    ci : {"searle", "smith"}, optional
        ANOVA interval; default Smith for 0/1 outcomes, Searle otherwise.
    nagq : int, optional
        Quadrature nodes for ``"latent"`` (default: ``fit_glmm``'s default).

    Returns
    -------
    ICCResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> d = pd.DataFrame({"g": np.repeat(np.arange(20), 10)})
    >>> d["y"] = rng.normal(size=20)[d["g"]] + rng.normal(size=200)
    >>> r = icc(d, outcome="y", cluster="g")
    >>> r.scale, r.method, r.lower < r.estimate < r.upper
    ('continuous', 'anova', True)
    """
    if not 0 < level < 1:
        raise ModelError(f"level must be in (0, 1), got {level}")
    if method not in ("anova", "reml", "latent"):
        raise ModelError(f"method must be 'anova', 'reml' or 'latent'; got {method!r}")
    if ci is not None and method != "anova":
        raise ModelError(f"ci= applies to method='anova' only (got method={method!r})")
    ow = _prepare(data, outcome, cluster)
    binary = _is_binary(ow.y)
    if method == "anova":
        return _anova(ow, level, binary, ci)
    if method == "reml":
        return _reml(ow, level, binary)
    if not binary:
        raise ModelError(f"method='latent' needs a 0/1 outcome; {outcome!r} is not binary")
    return _latent(data, outcome, cluster, ow, level, nagq)


__all__ = ["LOGISTIC_VARIANCE", "ICCResult", "icc"]
