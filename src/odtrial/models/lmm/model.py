"""Fit a linear mixed model with a random intercept per cluster, by REML or ML.

The criterion is profiled over ``gamma = sigma_u^2 / sigma^2`` (see
:mod:`odtrial.models.lmm.profile`), so the fit is a one-dimensional problem
with an analytic gradient: a coarse grid over ``theta = sqrt(gamma)`` finds
the basin, then Brent's root finder solves ``dD/dgamma = 0`` to machine
precision. A non-negative gradient at ``gamma = 0`` when the grid's best point
is 0 means the optimum is on the boundary: a singular fit with ``sigma_u^2 =
0``, where beta is exactly the OLS estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize

from odtrial.errors import ModelError
from odtrial.models.design import build_design
from odtrial.models.lmm.covariance import (
    beta_covariance,
    beta_covariance_jacobian,
    kenward_roger,
    varpar_covariance,
    varpar_hessian,
)
from odtrial.models.lmm.ddf import (
    between_within_df,
    kenward_roger_df,
    residual_df,
    satterthwaite_df,
)
from odtrial.models.lmm.profile import Profile, Sufficient, evaluate, sufficient
from odtrial.models.results import Diagnostics, ModelResults

DdfMethod = Literal["satterthwaite", "kenward-roger", "between-within", "residual", "z"]
DDF_METHODS: tuple[str, ...] = ("satterthwaite", "kenward-roger", "between-within", "residual", "z")

# theta = sigma_u / sigma grid (steps of x2.3): from ICC ~ 1e-6 to ICC ~ 0.999; a
# criterion with two basins closer than a grid step is not resolved (not seen in practice)
_THETA_GRID = np.concatenate([[0.0], np.logspace(-3, 1.5, 13)])
_THETA_MAX = 1e4


@dataclass(frozen=True)
class _Optimum:
    profile: Profile
    n_evaluations: int
    converged: bool
    message: str


def _optimise(s: Sufficient, *, reml: bool) -> _Optimum:
    """Minimise the profiled criterion over gamma >= 0."""
    count = 0
    cache: dict[float, Profile] = {}

    def at(gamma: float) -> Profile:
        nonlocal count
        if gamma not in cache:
            count += 1
            cache[gamma] = evaluate(s, gamma, reml=reml)
        return cache[gamma]

    thetas = list(_THETA_GRID)
    crits = [at(t * t).criterion for t in thetas]
    best = int(np.argmin(crits))
    while best == len(thetas) - 1 and thetas[-1] < _THETA_MAX:  # still falling: go higher
        thetas.append(thetas[-1] * 10.0)
        crits.append(at(thetas[-1] ** 2).criterion)
        best = int(np.argmin(crits))
    if best == len(thetas) - 1:
        prof = at(thetas[-1] ** 2)
        return _Optimum(prof, count, False, "cluster variance ratio diverges (no finite optimum)")
    if best == 0 and at(0.0).gradient >= 0.0:
        return _Optimum(at(0.0), count, True, "boundary")
    lo = thetas[best - 1] ** 2 if best > 0 else 0.0
    hi = thetas[best + 1] ** 2
    if at(lo).gradient < 0.0 < at(hi).gradient:
        root, info = optimize.brentq(
            lambda g: at(g).gradient,
            lo,
            hi,
            xtol=1e-300,
            rtol=4 * np.finfo(float).eps,
            full_output=True,
            maxiter=200,
        )
        return _Optimum(at(float(root)), count, bool(info.converged), info.flag)
    # the gradient does not change sign over the bracket: fall back to a bounded search
    res = optimize.minimize_scalar(
        lambda t: at(t * t).criterion,
        bounds=(np.sqrt(lo), np.sqrt(hi)),
        method="bounded",
        options={"xatol": 1e-12},
    )
    cand = at(float(res.x) ** 2)
    if at(0.0).criterion <= cand.criterion and at(0.0).gradient >= 0.0:
        return _Optimum(at(0.0), count, True, "boundary")
    return _Optimum(cand, count, bool(res.success), str(res.message))


def _check_inputs(y: np.ndarray, X: np.ndarray, n_clusters: int, where: str) -> None:
    n, p = X.shape
    if not np.all(np.isfinite(y)):
        raise ModelError(f"response of {where!r} has infinite values")
    if not np.all(np.isfinite(X)):
        raise ModelError(f"design matrix of {where!r} has infinite values")
    if n_clusters < 2:
        raise ModelError(
            f"{where!r}: a random intercept needs at least 2 clusters, got {n_clusters}"
        )
    if n_clusters >= n:
        raise ModelError(
            f"{where!r}: every cluster has one row ({n} rows, {n_clusters} clusters), so the "
            "cluster and residual variances cannot be told apart"
        )
    if n <= p:
        raise ModelError(f"{where!r}: {n} rows are too few for {p} fixed effects")


def _check_rank(s: Sufficient, where: str) -> None:
    """Rank of X from the reduced data: X'X = Xw'Xw + sum_i n_i xbar_i xbar_i'.

    The stacked (p + G) x p matrix has X's singular values, so this is
    ``check_rank`` without an SVD of the n x p design.
    """
    stacked = np.vstack([s.r_within[: s.p, : s.p], s.xbar * np.sqrt(s.sizes)[:, None]])
    sv = np.linalg.svd(stacked, compute_uv=False)
    rank = int(np.sum(sv > sv[0] * max(s.nobs, s.p) * np.finfo(float).eps))
    if rank < s.p:
        raise ModelError(
            f"design matrix of {where!r} is rank deficient ({rank} < {s.p} columns): "
            "a term is collinear with others or a factor level is empty"
        )


def fit_lmm(
    formula: str,
    data: pd.DataFrame,
    *,
    cluster: str,
    reml: bool = True,
    ddf: DdfMethod = "satterthwaite",
) -> ModelResults:
    """Fit ``formula`` with a normal random intercept per ``cluster``.

    Parameters
    ----------
    formula
        ``"response ~ terms"`` in the formulaic/patsy convention
        (``C(stratum)`` for factors); the intercept is named ``Intercept``.
    data
        One row per individual; no missing values in the columns used.
    cluster
        Column naming the cluster (the random-intercept grouping).
    reml
        REML (default, as ``lmer``) or maximum likelihood.
    ddf
        Degrees of freedom for the t tests and confidence intervals:

        ``"satterthwaite"`` (default)
            lmerTest's Satterthwaite df. A small-sample method that tracks
            whether a coefficient is informed between or within clusters, at
            negligible cost; it is lmerTest's default too. On a singular fit
            (cluster variance 0) it equals ``n - p`` (``n`` for ML) for every
            term, as in lmerTest: anti-conservative for cluster-level terms such as the
            arm, where ``"between-within"`` is the safer choice.
        ``"kenward-roger"``
            pbkrtest's Kenward–Roger (1997): ``bse`` are the adjusted
            standard errors and ``cov_params()`` the adjusted covariance.
            Needs ``reml=True`` (as lmerTest). Preferable with very few
            clusters (say under 20).
        ``"between-within"``
            ``G - rank`` of the cluster-level columns for coefficients of
            cluster-level terms, the within-cluster residual df otherwise.
        ``"residual"``
            ``n - p`` for every coefficient.
        ``"z"``
            A normal reference (``df = inf``): large-sample only.

        Satterthwaite or Kenward–Roger df that fail (a denominator that is not
        positive, a non-finite or non-positive result, or for Satterthwaite a
        Hessian of the variance parameters that is not positive definite off the
        boundary) are replaced by the term's between-within df, with a warning
        naming the terms and the df used; ``extra["ddf_fallback"]`` maps each
        replaced term to its df (empty when none was replaced).

    Returns
    -------
    ModelResults
        ``model="lmm"``; ``cluster_var`` is sigma_u^2 and ``scale`` is
        sigma^2; ``llf`` is lme4's ``logLik`` (the REML criterion / -2 for a
        REML fit); ``extra`` holds lme4's ``theta`` (sigma_u / sigma), the
        criterion, the unadjusted covariance (for Kenward–Roger), the
        asymptotic covariance of ``(theta, sigma)`` and ``ddf_fallback``.
        ``diagnostics.converged`` is False when the optimiser stopped early or
        when the Hessian of the variance parameters is not positive definite
        (except at the boundary, a singular fit).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(12), 10)
    >>> df = pd.DataFrame({"g": g, "arm": g % 2, "y": rng.normal(size=120) + rng.normal(size=12)[g]})
    >>> res = fit_lmm("y ~ arm", df, cluster="g")
    >>> res.names
    ('Intercept', 'arm')
    >>> bool(res.df["arm"] < 12)
    True
    """
    if ddf not in DDF_METHODS:
        raise ModelError(f"ddf must be one of {', '.join(DDF_METHODS)}; got {ddf!r}")
    if not isinstance(reml, bool):
        raise ModelError(f"reml must be True or False, got {reml!r}")
    if ddf == "kenward-roger" and not reml:
        raise ModelError("ddf='kenward-roger' needs a REML fit: use reml=True")
    if not isinstance(cluster, str):
        raise ModelError(f"cluster must be a column name, got {cluster!r}")
    design = build_design(formula, data, cluster=cluster)
    _check_inputs(design.y, design.X, design.n_clusters, formula)
    if np.ptp(design.y) == 0.0:
        raise ModelError(f"response {design.response!r} is constant: nothing to model")
    s = sufficient(design.y, design.X, design.cluster, design.n_clusters)
    _check_rank(s, formula)
    yy = float(design.y @ design.y)
    if not evaluate(s, 0.0, reml=reml).rss > 1e-24 * yy:
        raise ModelError(f"{formula!r} fits the response exactly: the residual variance is 0")
    if not s.r_within[-1, -1] ** 2 > 1e-24 * yy:
        # the criterion would fall without bound as the cluster variance grows
        raise ModelError(
            f"{formula!r}: the response has no residual variation within clusters "
            f"(constant within each {cluster!r}, given the covariates); analyse cluster means instead"
        )
    opt = _optimise(s, reml=reml)
    prof = opt.profile

    names = design.names
    p = len(names)
    cov = beta_covariance(prof)
    hess = varpar_hessian(s, prof)
    vp_cov, hess_pd = varpar_covariance(hess, float(np.sqrt(prof.sigma2)))
    jac = beta_covariance_jacobian(s, prof)
    eye = np.eye(p)
    vp_cov.flags.writeable = False  # results are immutable, extras included
    extra: dict[str, object] = {
        "reml": reml,
        "lme4_theta": float(np.sqrt(prof.gamma)),
        "criterion": prof.criterion,
        "criterion_name": "REML criterion" if reml else "deviance (-2 log-likelihood)",
        "varpar_names": ("theta", "sigma"),
        "varpar_cov": vp_cov,
        "optimizer": opt.message,
    }
    report_cov = cov
    if ddf == "satterthwaite":
        df = satterthwaite_df(eye, cov, jac, vp_cov)
    elif ddf == "kenward-roger":
        kr = kenward_roger(s, prof)
        report_cov = kr.cov_adjusted
        df = np.array([kenward_roger_df(eye[k], kr.cov, kr.p_mats, kr.w) for k in range(p)])
        unadjusted = kr.cov.copy()
        unadjusted.flags.writeable = False
        extra["cov_unadjusted"] = unadjusted
        extra["kr_condition"] = kr.condition
    elif ddf == "between-within":
        df = between_within_df(design.X, design.cluster, design.n_clusters)
    elif ddf == "residual":
        df = residual_df(design.nobs, p)
    else:
        df = np.full(p, np.inf)
    singular = prof.gamma == 0.0
    # Satterthwaite's A = 2 H^-1 is a pseudo-inverse when H is not PD (a direction of
    # the variance parameters dropped): its df are then not to be trusted either
    untrusted = ddf == "satterthwaite" and not hess_pd and not singular
    df, fallback = _replace_failed_df(
        df, ddf, design.X, design.cluster, design.n_clusters, names, all_failed=untrusted
    )
    extra["ddf_fallback"] = fallback

    theta = np.sqrt(prof.gamma)
    grad_theta = 2.0 * theta * prof.gradient  # the optimizer's scale, as lme4 reports it
    warnings: list[str] = []
    if singular:
        warnings.append(
            "singular fit: the cluster variance is estimated as 0 (estimates equal OLS)"
        )
    if singular and ddf == "satterthwaite":
        warnings.append(
            "Satterthwaite df on a singular fit equal n - p (REML) or n (ML) for every term; "
            "consider ddf='between-within' for cluster-level terms"
        )
    if fallback:
        warnings.append(_fallback_message(ddf, fallback, untrusted))
    if not opt.converged:
        warnings.append(f"optimizer did not converge: {opt.message}")
    if not hess_pd and not singular:
        warnings.append("Hessian of the variance parameters is not positive definite")
    diagnostics = Diagnostics(
        # a stationary point that is not a strict minimum is not a converged fit (on
        # the boundary theta = 0 the criterion need not curve up in theta)
        converged=bool(opt.converged and (hess_pd or singular)),
        singular=singular,
        max_abs_gradient=float(abs(grad_theta)),
        hessian_positive_definite=hess_pd,
        n_iterations=opt.n_evaluations,
        warnings=tuple(warnings),
    )
    index = list(names)
    return ModelResults(
        model="lmm",
        family="gaussian",
        link="identity",
        formula=formula,
        params=pd.Series(prof.beta, index=index),
        cov=pd.DataFrame(report_cov, index=index, columns=index),
        df=pd.Series(df, index=index),
        nobs=design.nobs,
        n_clusters=design.n_clusters,
        llf=-0.5 * prof.criterion,
        n_estimated=p + 2,
        cluster_var=prof.gamma * prof.sigma2,
        theta=None,
        scale=prof.sigma2,
        df_method=ddf,
        diagnostics=diagnostics,
        extra=extra,
    )


def _replace_failed_df(
    df: np.ndarray,
    method: str,
    X: np.ndarray,
    cluster: np.ndarray,
    n_clusters: int,
    names: tuple[str, ...],
    *,
    all_failed: bool = False,
) -> tuple[np.ndarray, dict[str, float]]:
    """Satterthwaite or Kenward–Roger df that failed (not finite, or not positive;
    every term when ``all_failed``) replaced by the between-within df of the term.

    Between-within is the fallback because it needs no variance-parameter
    derivatives and is conservative for the cluster-level terms that matter in a
    cluster trial (an infinite df, what a failed Satterthwaite used to give, is a
    z test: anti-conservative with few clusters). A between-within df below 1
    is undefined: NaN (so are the p-value and interval). Returns the df and
    ``{term: df used}`` for the replaced terms (empty if none).
    """
    if method not in ("satterthwaite", "kenward-roger"):
        return df, {}
    failed = ~(np.isfinite(df) & (df > 0)) | all_failed
    if not failed.any():
        return df, {}
    bw = between_within_df(X, cluster, n_clusters)
    bw = np.where(bw >= 1, bw, np.nan)
    out = np.where(failed, bw, df)
    return out, {nm: float(v) for nm, v, f in zip(names, out, failed, strict=True) if f}


def _fallback_message(method: str, fallback: dict[str, float], untrusted: bool) -> str:
    label = {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger"}[method]
    used = ", ".join(f"{nm} {v:g}" for nm, v in fallback.items())
    why = (
        "the Hessian of the variance parameters is not positive definite"
        if untrusted
        else "not finite or not positive"
    )
    return (
        f"{label} df failed for {len(fallback)} term(s) ({why}); "
        f"between-within df used instead: {used}"
    )
