"""Random-intercept GLMM: ``fit_glmm`` (REML by default, or ML) and the ML engine.

``fit_glmm`` fits by restricted likelihood unless asked for maximum likelihood
(see *Defaults*); the REML fit is :func:`odtrial.models.glmm.reml.fit_glmm_reml`.
The rest of this module is the maximum-likelihood fit, which ``fit_glmm``
(``method="ML"``, formula) and ``fit_glmm_arrays`` (arrays; ML only) share, and
which give the same answer. The
marginal likelihood is computed by adaptive Gauss–Hermite quadrature (see
:mod:`.quadrature`); ``nagq=1`` is the Laplace approximation (lme4's nAGQ=1).
Like lme4 with nAGQ > 1, the fixed effects and the variance are optimised
jointly on the quadrature log-likelihood, by Newton's method with a line search.
With many nodes this runs in two stages: Newton on 12 nodes from the GLM start
until the Newton decrement is below 1e-8 (the 12-node optimum is ~1e-11 from
the 25-node one), one more 12-node step, then Newton on all nodes with the same
end as a single-stage fit (decrement below 1e-14, or a full step from below
1e-10); usually the first all-node evaluation already meets it. The covariance
is the all-node analytic Hessian at the returned estimate. A fit whose Hessian
is not negative definite there (a saddle or a ridge, not a maximum) is reported
as not converged; a stop by one of the relaxed rules of ``_newton`` is reported
in the warnings and ``extra["stopping_rule"]``.

Defaults
--------
``method="REML"``: with few clusters the ML cluster variance is biased low and
the arm's standard error with it. In null simulations (binary outcome, latent
ICC 0.05, lognormal cluster sizes of mean 20 to 50 and CV 0.6 to 1.3;
docs/small_sample_inference.md) ML with between-within df rejected a true null
in 4.75–8.05% of trials at 12 and 24 clusters, REML in 3.8–6.05%. ML stays one keyword
away (``method="ML"``): it is lme4's ``glmer``, what comparisons with R use.
Passing ``nagq`` without ``method`` asks for ML (quadrature is an ML option;
REML is a Laplace fit), and the results say which was used
(``extra["estimation"]``).

ML's ``nagq=25``: with one random intercept the cost is linear in the number of
nodes and 25 adaptive nodes make the integral exact to machine precision for
any cluster size (lme4's maximum). ``df="between-within"``: with ~30 clusters a
z test is anti-conservative, so the default reference is a t distribution with
between-within degrees of freedom (SAS DDFM=BETWITHIN):

- a fixed-effect column is *cluster-level* when it is constant within every
  cluster (the intercept, the arm, cluster covariates such as the stratum
  dummies); such terms get ``clusters - (number of cluster-level columns)``;
- every other column is *within-cluster* and gets
  ``observations - clusters - (number of within-cluster columns)``.

``df="residual"`` uses ``observations - columns`` for every term and ``df="z"``
the normal distribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from odtrial.errors import ModelError
from odtrial.models.design import Design, build_design, check_rank
from odtrial.models.glmm import families as fam
from odtrial.models.glmm import quadrature as qd
from odtrial.models.glmm.covariance import invert_information, numeric_hessian, to_log_sigma
from odtrial.models.glmm.quadrature import (
    ANALYTIC_HESSIAN_MIN_NODES,
    Evaluation,
    Problem,
    evaluate,
    with_nodes,
)
from odtrial.models.results import Diagnostics, ModelResults

Family = Literal["binomial", "poisson", "negbin"]
DfMethod = Literal["satterthwaite", "between-within", "residual", "z"]
Method = Literal["ML", "REML"]
DF_METHODS = ("between-within", "residual", "z")  # ML's; REML adds "satterthwaite"
DEFAULT_NAGQ = 25
MAX_NAGQ = 100
WARMUP_NODES = 12  # nodes of the cheap first Newton stage when nagq is larger
SINGULAR_TOL = 1e-5
LOG_THETA_MAX = float(np.log(1e8))  # NB2 θ cap: beyond it the fit is the Poisson GLMM
LOG_THETA_LIMIT = float(
    np.log(1e6)
)  # θ beyond this at convergence is taken to the cap  # |σ| below this at convergence is the boundary σ = 0
SEPARATION_ETA = 15.0  # |linear predictor| beyond this: fitted probability within 3e-7 of 0/1


def fit_glmm(
    formula: str,
    data: pd.DataFrame,
    *,
    cluster: str,
    family: Family = "binomial",
    method: Method | None = None,
    nagq: int | None = None,
    offset: str | np.ndarray | pd.Series | None = None,
    trials: str | np.ndarray | pd.Series | None = None,
    df: DfMethod = "between-within",
    maxiter: int = 100,
) -> ModelResults:
    """Fit a random-intercept GLMM by restricted likelihood (default) or ML.

    Parameters
    ----------
    formula : str
        ``"y ~ arm + C(stratum) + base"`` (formulaic; the intercept is ``Intercept``).
    data : DataFrame
        One row per observation; rows with missing values are an error.
    cluster : str
        Column identifying the cluster (random intercept).
    family : {"binomial", "poisson", "negbin"}
        Binomial (logit), Poisson (log) or negative binomial NB2 (log; variance
        μ + μ²/θ, θ estimated; glmmTMB's ``nbinom2``).
    method : {"REML", "ML"}, optional
        ``"REML"`` (the default): the Laplace approximation integrating over the
        cluster effects and the fixed effects (glmmTMB's ``REML=TRUE``; one 0/1
        or count per row), see :func:`odtrial.models.glmm.reml.fit_glmm_reml`.
        Its cluster variance is nearly unbiased where ML's is biased low, so
        with few clusters its tests hold their size (docs/small_sample_inference.md).
        ``"ML"``: maximum likelihood by adaptive quadrature, lme4's ``glmer``;
        what comparisons with lme4 use. Left out, it is ``"ML"`` when ``nagq``
        is given and ``"REML"`` otherwise.
    nagq : int, optional
        ML only: adaptive Gauss–Hermite nodes, 1 to 100 (1 is the Laplace
        approximation); 25 when ML is fitted without it. Giving it without
        ``method`` selects ML; with ``method="REML"`` only 1 (Laplace, what
        REML is) is accepted.
    offset : str or array, optional
        Column name or array added to the linear predictor (on the link scale,
        e.g. ``np.log(followup)``).
    trials : str or array, optional
        Binomial, ML only: number of trials per row; the response is then the
        number of successes (lme4's ``cbind(successes, failures)``). Needs
        ``method="ML"`` (REML takes one 0/1 outcome per row).
    df : {"between-within", "satterthwaite", "residual", "z"}
        Degrees of freedom for tests and intervals (see module docstring).
        ``"satterthwaite"`` (REML only): from the restricted information about
        σ (and θ), at most the between-within df; more conservative than
        between-within (see :func:`odtrial.models.glmm.reml.fit_glmm_reml`).
    maxiter : int
        ML only: Newton iterations allowed.

    Returns
    -------
    ModelResults
        ``cluster_var`` is σ²_u; ``theta`` the NB2 dispersion; ``llf`` the full
        log-likelihood (as R's ``logLik``; the restricted one for REML, not
        comparable with ML's). ``extra`` holds ``estimation`` ("REML" or "ML"),
        ``stopping_rule``, the formulaic model spec, the cluster column, the
        joint covariance of (β, log σ[, log θ]) (``cov_full``), the conditional
        modes and the classification of terms. ``diagnostics.converged`` is False
        when the Hessian at the estimate is not positive definite.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"cluster": np.repeat(np.arange(20), 15)})
    >>> d["arm"] = d["cluster"] % 2
    >>> u = rng.normal(0, 0.5, 20)[d["cluster"]]
    >>> d["y"] = rng.binomial(1, 1 / (1 + np.exp(-(-0.2 + 0.5 * d["arm"] + u))))
    >>> r = fit_glmm("y ~ arm", d, cluster="cluster")
    >>> r.converged, r.extra["estimation"], list(r.params.index), r.df_method
    (True, 'REML', ['Intercept', 'arm'], 'between-within')
    >>> r.df["arm"]
    np.float64(18.0)
    >>> fit_glmm("y ~ arm", d, cluster="cluster", method="ML").extra["estimation"]
    'ML'
    >>> fit_glmm("y ~ arm", d, cluster="cluster", nagq=25).extra["nagq"]  # nagq: ML
    25
    """
    est, nodes = _resolve_method(method, nagq, trials)
    if est == "ML" and df == "satterthwaite":
        raise ModelError(
            "df='satterthwaite' needs method='REML' (the default); ML offers "
            f"{', '.join(DF_METHODS)}"
        )
    _check_options(family, nodes, "between-within" if df == "satterthwaite" else df)
    if est == "REML":
        return _fit_reml(formula, data, cluster, family, offset, df)
    if not isinstance(cluster, str):
        raise ModelError("cluster must be a column name (str)")
    extra_cols = tuple(c for c in (offset, trials) if isinstance(c, str))
    for c in extra_cols:
        if isinstance(data, pd.DataFrame) and c not in data.columns:
            raise ModelError(f"column {c!r} (offset/trials) is not in the data")
    design = build_design(formula, data, cluster=cluster, extra=extra_cols)
    check_rank(design)
    off = _column_or_array(offset, data, design, "offset")
    m = _column_or_array(trials, data, design, "trials")
    extra = {
        "spec": design.spec,
        "cluster": cluster,
        "response": design.response,
        "offset": offset if isinstance(offset, str) else None,
        "trials": trials if isinstance(trials, str) else None,
        "has_offset": offset is not None,
    }
    return _fit(
        design.y,
        design.X,
        design.cluster,
        design.cluster_labels,
        names=design.names,
        formula=formula,
        family=family,
        nagq=nodes,
        offset=off,
        trials=m,
        df=df,
        maxiter=maxiter,
        extra=extra,
    )


def _resolve_method(method: Any, nagq: Any, trials: Any) -> tuple[str, int]:
    """The estimator and ML's node count from ``method``/``nagq`` as given (see
    ``fit_glmm``): ``nagq`` alone selects ML; REML accepts only ``nagq=1``."""
    if method is None:
        if nagq is not None:
            method = "ML"
        elif trials is not None:
            raise ModelError(
                "trials= needs method='ML': REML (fit_glmm's default) takes one 0/1 outcome per row"
            )
        else:
            method = "REML"
    if method not in ("ML", "REML"):
        raise ModelError(f"method must be 'ML' or 'REML'; got {method!r}")
    if method == "REML":
        if nagq is not None and (isinstance(nagq, bool) or not nagq == 1):
            raise ModelError(
                f"nagq applies to method='ML' only (REML is a Laplace fit); got nagq={nagq!r} "
                "with method='REML': drop nagq or use method='ML'"
            )
        if trials is not None:
            raise ModelError(
                "method='REML' takes one 0/1 outcome per row: trials is not supported "
                "(use method='ML')"
            )
        return "REML", 1
    return "ML", DEFAULT_NAGQ if nagq is None else nagq


def fit_glmm_arrays(
    y: np.ndarray | Sequence[float],
    X: np.ndarray,
    cluster: np.ndarray | Sequence[Any],
    *,
    names: Sequence[str] | None = None,
    family: Family = "binomial",
    nagq: int = DEFAULT_NAGQ,
    offset: np.ndarray | None = None,
    trials: np.ndarray | None = None,
    df: DfMethod = "between-within",
    maxiter: int = 100,
) -> ModelResults:
    """The maximum-likelihood fit from arrays: ``y`` (n,), ``X`` (n, p) with its
    intercept column, ``cluster`` labels (n,). The fast path for simulation (no
    formula parsing); it gives what ``fit_glmm(..., method="ML")`` gives. ML only
    (it accepts aggregated binomial data, ``trials``, which REML does not): for
    the restricted fit, ``fit_glmm``'s default, use ``fit_glmm``.
    """
    _check_options(family, nagq, df)
    yv = np.asarray(y, dtype=float)
    Xa = np.asarray(X, dtype=float)
    if Xa.ndim != 2 or yv.ndim != 1 or Xa.shape[0] != len(yv):
        raise ModelError(f"X must be (n, p) and y (n,); got X {Xa.shape}, y {yv.shape}")
    cl = np.asarray(cluster)
    if len(cl) != len(yv):
        raise ModelError(f"cluster has {len(cl)} values but y has {len(yv)}")
    if not np.all(np.isfinite(yv)) or not np.all(np.isfinite(Xa)):
        raise ModelError("y and X must be finite (no NaN or inf)")
    try:
        labels, codes = np.unique(cl, return_inverse=True)
    except TypeError:  # mixed label types
        codes, uniques = pd.factorize(pd.Series(cl), sort=True)
        labels = np.asarray(uniques, dtype=object)
    if pd.isna(labels).any() or (codes < 0).any():
        raise ModelError("cluster has missing values")
    nm = tuple(names) if names is not None else tuple(f"x{i}" for i in range(Xa.shape[1]))
    if len(nm) != Xa.shape[1]:
        raise ModelError(f"{len(nm)} names for {Xa.shape[1]} columns of X")
    if np.linalg.matrix_rank(Xa) < Xa.shape[1]:
        raise ModelError(f"X is rank deficient (rank < {Xa.shape[1]} columns)")
    return _fit(
        yv,
        Xa,
        codes.astype(np.int64),
        np.asarray(labels),
        names=nm,
        formula="",
        family=family,
        nagq=nagq,
        offset=None if offset is None else _vector(offset, len(yv), "offset"),
        trials=None if trials is None else _vector(trials, len(yv), "trials"),
        df=df,
        maxiter=maxiter,
        extra={},
    )


# --- input checks ----------------------------------------------------------


def _fit_reml(
    formula: str,
    data: pd.DataFrame,
    cluster: str,
    family: str,
    offset: Any,
    df: str,
) -> ModelResults:
    from odtrial.models.glmm.reml import fit_glmm_reml

    return fit_glmm_reml(formula, data, cluster=cluster, family=family, df=df, offset=offset)  # type: ignore[arg-type]


def _check_options(family: str, nagq: int, df: str) -> None:
    if family not in fam.FAMILIES:
        raise ModelError(f"family must be one of {', '.join(fam.FAMILIES)}; got {family!r}")
    if (
        isinstance(nagq, bool)
        or not isinstance(nagq, int | np.integer)
        or not 1 <= nagq <= MAX_NAGQ
    ):
        raise ModelError(f"nagq must be an integer from 1 (Laplace) to {MAX_NAGQ}; got {nagq!r}")
    if df not in DF_METHODS:
        raise ModelError(f"df must be one of {', '.join(DF_METHODS)}; got {df!r}")


def _vector(a: Any, n: int, what: str) -> np.ndarray:
    v = np.asarray(a, dtype=float).ravel()
    if len(v) != n:
        raise ModelError(f"{what} has {len(v)} values but the data have {n} rows")
    if not np.all(np.isfinite(v)):
        raise ModelError(f"{what} has missing or infinite values")
    return v


def _column_or_array(a: Any, data: pd.DataFrame, design: Design, what: str) -> np.ndarray | None:
    if a is None:
        return None
    if isinstance(a, str):
        col = data[a]
        if not pd.api.types.is_numeric_dtype(col):
            raise ModelError(f"{what} column {a!r} must be numeric (got {col.dtype})")
        return _vector(col.to_numpy(), design.nobs, f"{what} column {a!r}")
    return _vector(a, design.nobs, what)


def _check_response(family: str, y: np.ndarray, m: np.ndarray | None) -> None:
    if not np.all(np.isfinite(y)):
        raise ModelError("response has infinite values")
    whole = np.all(y == np.round(y))
    if family == "binomial":
        if m is None:
            bad = ~np.isin(y, (0.0, 1.0))
            if bad.any():
                raise ModelError(
                    f"binomial response must be 0/1 (or successes with trials=); found {y[bad][0]:g} at position {int(np.argmax(bad))}"
                )
        else:
            if np.any(m < 1) or np.any(m != np.round(m)):
                raise ModelError("trials must be positive integers")
            if not whole or np.any(y < 0) or np.any(y > m):
                raise ModelError("binomial successes must be integers between 0 and trials")
    else:
        if np.any(y < 0):
            raise ModelError(
                f"{family} response must be non-negative counts; found {y[y < 0][0]:g}"
            )
        if not whole:
            raise ModelError(
                f"{family} response must be whole counts; found {y[y != np.round(y)][0]:g}"
            )
        if m is not None:
            raise ModelError("trials= applies to the binomial family only")


# --- the fit -----------------------------------------------------------------


def _glm_start(prob: Problem, theta: float) -> np.ndarray:
    """β at σ = 0 by Newton (IRLS); stops early if estimates diverge (separation)."""
    X, resp = prob.X, prob.resp
    if prob.family == "binomial":
        pbar = np.clip(resp.y.sum() / resp.trials.sum(), 1e-4, 1 - 1e-4)
        eta = np.full(len(resp.y), np.log(pbar / (1 - pbar)))
    else:
        eta = np.log(np.maximum(resp.y, 0.1)) - prob.offset
    beta = _lstsq_start(X, eta)
    cur, d1, d2 = _glm_terms(prob, beta, theta)
    for _ in range(50):
        step = np.linalg.lstsq((X.T * d2) @ X, X.T @ d1, rcond=None)[0]
        big = np.max(np.abs(step))
        if big > 5.0:
            step *= 5.0 / big
        t = 1.0
        while True:  # halve until the log-likelihood does not fall (or t is tiny)
            trial = beta + t * step
            val, d1_t, d2_t = _glm_terms(prob, trial, theta)
            if val >= cur or t <= 1e-6:
                break
            t *= 0.5
        beta, cur, d1, d2 = trial, val, d1_t, d2_t
        # a start only: a last step below 1e-2 leaves ~1e-4 in β, far less than
        # the first step of the random-effects fit moves it
        if t * big < 1e-2 or np.max(np.abs(beta)) > 30:
            break
    return beta


def _lstsq_start(X: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Least squares of ``eta`` on X; a constant ``eta`` with a constant column
    (the intercept) is solved exactly without the SVD."""
    if eta.size and np.all(eta == eta[0]):
        const = np.flatnonzero(np.all(X == X[0], axis=0) & (X[0] != 0))
        if const.size:
            beta = np.zeros(X.shape[1])
            beta[const[0]] = eta[0] / X[0, const[0]]
            return beta
    return np.linalg.lstsq(X, eta, rcond=None)[0]


def _glm_terms(
    prob: Problem, beta: np.ndarray, theta: float
) -> tuple[float, np.ndarray, np.ndarray]:
    """GLM log-likelihood (η-part) with ``d1``, ``d2`` at β (σ = 0).

    A 0/1 response uses one exponential per row: with ``E = exp(-η)`` and
    ``P = 1/(1 + E)``, ``log f = -log(1 + E) - (1 - y) η``, ``d1 = y - P``,
    ``d2 = E P²``.
    """
    resp = prob.resp
    eta = prob.X @ beta + prob.offset
    if resp.binary and np.max(np.abs(eta)) <= qd.EXP_BOUND:
        E = np.exp(-eta)
        W = 1.0 + E
        P = 1.0 / W
        llf = -float(np.sum(np.log(W))) + float((resp.y - 1.0) @ eta)
        return llf, resp.y - P, E * P * P
    d1, d2, _ = fam.derivs(resp, eta, theta)
    return float(np.sum(fam.log_density(resp, eta, theta))), d1, d2


def _theta_start(prob: Problem, beta: np.ndarray) -> float:
    mu = fam.safe_exp(prob.X @ beta + prob.offset)
    with np.errstate(over="ignore", invalid="ignore"):
        excess = np.mean((prob.resp.y - mu) ** 2 - mu)
        ratio = np.mean(mu**2) / excess if excess > 0 else np.inf
    return float(np.clip(ratio, 0.1, 100.0)) if np.isfinite(ratio) else 100.0


def _newton(
    prob: Problem,
    phi: np.ndarray,
    maxiter: int,
    free: np.ndarray,
    u0: np.ndarray | None = None,
    analytic: bool | None = None,
    tol: float = 1e-14,
) -> tuple[np.ndarray, Evaluation, int, bool, str]:
    """Maximise the quadrature log-likelihood over the ``free`` parameters.

    The Newton Hessian is the analytic fixed-node one with many nodes, else
    forward differences of the exact gradient (the fixed-node Hessian misses the
    curvature of the log-determinant term, which matters near σ = 0).
    Converged when the Newton decrement ``gᵀ H⁻¹ g`` is below ``tol``, or after a
    full step from below 1e-10 (which leaves ~1e-20). Three *relaxed* rules also
    end it as converged: no ascent left along the Newton direction with the
    decrement below 1e-7, no movement left with it below 1e-6, or out of
    iterations with every Newton step below 1e-4 and the decrement below 1e-6.
    The last item returned names the rule that ended the search (any but ``STRICT_RULES``
    are reported on the results by ``_fit``).
    """
    if analytic is None:
        analytic = prob.nagq >= ANALYTIC_HESSIAN_MIN_NODES
    u = np.zeros(prob.n_clusters) if u0 is None else u0
    ev = evaluate(prob, phi, u, 2)
    for it in range(1, maxiter + 1):
        assert ev.grad is not None and ev.hess is not None
        g = ev.grad[free]
        hess = ev.hess if analytic else _fd_hessian(prob, phi, ev)
        info = -hess[np.ix_(free, free)]
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(info))):
            return phi, ev, it, False, "non-finite"
        d, dec = _newton_step(g, info)
        if dec < tol:
            return phi, ev, it, True, "decrement"
        # A Newton step this small gains less than the rounding of llf: it is
        # accepted unless llf drops by more than that rounding.
        noise = 1e-13 * (1.0 + abs(ev.llf)) if dec < 1e-10 else 0.0
        t, accepted = 1.0, False
        while t > 1e-12:
            trial = phi.copy()
            trial[free] += t * d
            if prob.family == "negbin":  # θ → ∞ is the Poisson limit: stop at a cap
                trial[-1] = min(trial[-1], LOG_THETA_MAX)
            ev_t = evaluate(prob, trial, _predict_modes(ev, trial - phi), 2)
            if np.isfinite(ev_t.llf) and (
                ev_t.llf >= ev.llf + 1e-4 * t * dec
                or (noise > 0 and t == 1.0 and ev_t.llf >= ev.llf - noise)
            ):
                accepted = True
                break
            t *= 0.5
        if not accepted:  # no ascent left: converged if only rounding remains
            return phi, ev, it, dec < 1e-7, _relaxed("no ascent left", dec, 1e-7)
        phi, ev = trial, ev_t
        if t == 1.0 and dec < 1e-10:  # quadratic convergence: the step left ~dec² behind
            return phi, ev, it, True, "quadratic"
        if t * np.max(np.abs(d)) < 1e-10 * (1.0 + np.max(np.abs(phi[free]))):
            return phi, ev, it, dec < 1e-6, _relaxed("no movement left", dec, 1e-6)
    # out of iterations: accept if within 1e-4 of the optimum in every parameter
    # (Newton step), a stricter form of lme4's scaled-gradient check
    ok = bool(np.max(np.abs(d)) < 1e-4) and dec < 1e-6
    return phi, ev, maxiter, ok, _relaxed("out of iterations", dec, 1e-6)


STRICT_RULES = ("decrement", "quadratic")


def _relaxed(what: str, dec: float, limit: float) -> str:
    """How a relaxed stop is named on the results: the rule, the Newton decrement it
    stopped at and the limit it accepts (the strict rule's is 1e-14)."""
    return f"{what} at Newton decrement {dec:.1e} (accepted below {limit:g}; strict: 1e-14)"


def _newton_step(g: np.ndarray, info: np.ndarray) -> tuple[np.ndarray, float]:
    """Newton step on |eigenvalues| of the information (an ascent direction even
    where the Hessian is indefinite), and the decrement ``gᵀ d``."""
    w, V = np.linalg.eigh(info)
    floor = 1e-8 * max(1.0, float(np.max(np.abs(w))))
    d = V @ ((V.T @ g) / np.maximum(np.abs(w), floor))
    big = np.max(np.abs(d))
    if big > 5.0:  # keep early steps on the logit/log scale sane
        d *= 5.0 / big
    return d, float(g @ d)


def _predict_modes(ev: Evaluation, step: np.ndarray) -> np.ndarray:
    """Starting modes at φ + step: first order in the step (the modes' Newton
    then needs fewer iterations than from the old modes)."""
    if ev.du is None or not np.all(np.isfinite(ev.du)):
        return ev.u
    return ev.u + ev.du @ step


def _flip_sigma(ev: Evaluation, p: int) -> Evaluation:
    """The evaluation at -σ from the one at σ: the likelihood is even in σ (with
    the modes û → -û), so only the signs of σ's gradient and cross terms change."""
    assert ev.grad is not None and ev.hess is not None
    J = np.ones(len(ev.grad))
    J[p] = -1.0
    return Evaluation(
        llf=ev.llf,
        u=-ev.u,
        curvature=ev.curvature,
        grad=ev.grad * J,
        hess=ev.hess * J[:, None] * J[None, :],
        mode_converged=ev.mode_converged,
        du=None if ev.du is None else -ev.du * J[None, :],
    )


def _fd_hessian(prob: Problem, phi: np.ndarray, ev: Evaluation) -> np.ndarray:
    assert ev.grad is not None
    q = len(phi)
    H = np.empty((q, q))
    for i in range(q):
        h = 1e-6 * (1.0 + abs(phi[i]))
        x = phi.copy()
        x[i] += h
        g = evaluate(prob, x, ev.u, 1).grad
        assert g is not None
        H[:, i] = (g - ev.grad) / h
    return 0.5 * (H + H.T)


def _fit(
    y: np.ndarray,
    X: np.ndarray,
    codes: np.ndarray,
    labels: np.ndarray,
    *,
    names: tuple[str, ...],
    formula: str,
    family: str,
    nagq: int,
    offset: np.ndarray | None,
    trials: np.ndarray | None,
    df: str,
    maxiter: int,
    extra: dict[str, Any],
) -> ModelResults:
    _check_response(family, y, trials)
    n, p = X.shape
    G = len(labels)
    if G < 2:
        raise ModelError(f"a random-intercept model needs at least 2 clusters; got {G}")
    order = np.argsort(codes, kind="stable")
    cl = codes[order]
    starts = np.flatnonzero(np.r_[True, cl[1:] != cl[:-1]])
    Xs = np.ascontiguousarray(X[order])
    prob = Problem(
        resp=fam.make_response(family, y[order], None if trials is None else trials[order]),
        X=Xs,
        offset=np.zeros(n) if offset is None else offset[order],
        cl=cl,
        starts=starts,
        nagq=int(nagq),
    )
    negbin = family == "negbin"
    q = prob.n_params
    warnings: list[str] = _cluster_warnings(prob, labels)

    beta0 = _glm_start(prob, 1e8 if negbin else np.inf)
    phi = np.r_[beta0, 0.5, np.log(_theta_start(prob, beta0))] if negbin else np.r_[beta0, 0.5]
    free = np.ones(q, dtype=bool)
    u0 = None
    n_iter = 0
    if nagq > WARMUP_NODES + 2:  # get close cheaply, then polish with all nodes
        # The warm-up optimum is ~1e-11 from the full one. The warm-up stops at
        # a Newton decrement below 1e-8 (~1e-5 from its optimum) and its last
        # step is not evaluated there: it lands ~1e-10 from the warm-up optimum,
        # where the first all-node evaluation usually shows convergence.
        warm = with_nodes(prob, WARMUP_NODES, warmup=True)
        phi_w, ev_w, n_iter, ok_w, _ = _newton(warm, phi, maxiter, free, tol=1e-8)
        if ok_w and np.all(np.isfinite(phi_w)):
            assert ev_w.grad is not None and ev_w.hess is not None
            d, _ = _newton_step(ev_w.grad[free], -ev_w.hess[np.ix_(free, free)])
            phi = phi_w.copy()
            phi[free] += d
            if negbin:
                phi[-1] = min(phi[-1], LOG_THETA_MAX)
            u0 = _predict_modes(ev_w, phi - phi_w)
    phi, ev, it1, converged, rule = _newton(prob, phi, maxiter, free, u0)
    n_iter += it1
    singular = abs(phi[p]) < SINGULAR_TOL
    theta_capped = negbin and phi[p + 1] > LOG_THETA_LIMIT
    if singular or theta_capped:  # a boundary: refit with it fixed there
        if singular:
            phi[p] = 0.0
            free[p] = False
            warnings.append(
                "cluster variance estimated at 0 (singular fit): the model equals the GLM"
            )
        if theta_capped:
            phi[p + 1] = LOG_THETA_MAX
            free[p + 1] = False
            warnings.append(
                "NB2 theta reached its cap (1e8): no overdispersion beyond Poisson; "
                "consider family='poisson'"
            )
        phi, ev, it2, converged, rule = _newton(prob, phi, maxiter, free, ev.u)
        n_iter += it2
    if phi[p] < 0:  # the likelihood is even in σ: report |σ| (modes flip sign)
        phi[p] = -phi[p]
        ev = _flip_sigma(ev, p)
    assert ev.grad is not None and ev.hess is not None
    if nagq >= ANALYTIC_HESSIAN_MIN_NODES:
        hess = ev.hess
    else:
        u_fix = ev.u

        def grad(x: np.ndarray) -> np.ndarray:
            g = evaluate(prob, x, u_fix, 1).grad
            assert g is not None
            return g

        hess = numeric_hessian(grad, phi)
    if not ev.mode_converged:
        warnings.append("conditional modes did not converge for some clusters")
    cov_phi, pd_ok = invert_information(-hess, free)
    if not pd_ok:
        # a stationary point that is not a strict maximum: not a converged fit
        warnings.append(
            "Hessian of the log-likelihood is not positive definite at the estimate: "
            "not a maximum, the fit is not converged"
        )
    max_grad = float(np.max(np.abs(ev.grad[free])))
    if not converged:
        warnings.append(
            f"optimiser did not converge in {n_iter} iterations (max |gradient| {max_grad:.2e}; "
            f"stopped: {rule})"
        )
    elif rule not in STRICT_RULES:
        warnings.append(f"optimiser stopped by a relaxed rule: {rule}")
    beta = phi[:p]
    sigma = float(phi[p])
    theta = float(np.exp(phi[p + 1])) if negbin else None
    eta_hat = Xs @ beta + prob.offset + sigma * ev.u[cl]
    sep = _separation(family, names, beta, eta_hat, cov_phi[:p, :p])
    warnings.extend(sep)

    level = _cluster_level_columns(Xs, starts)
    df_vec, df_warn = _df(df, level, n, G, p)
    warnings.extend(df_warn)
    full_names = [*names, "log_sigma"] + (["log_theta"] if negbin else [])
    cov_full = pd.DataFrame(to_log_sigma(cov_phi, p, sigma), index=full_names, columns=full_names)
    modes = pd.Series(sigma * ev.u, index=pd.Index(labels, name="cluster"), name="random_effect")
    extra = {
        **extra,
        "estimation": "ML",
        "stopping_rule": rule,
        "nagq": int(nagq),
        "cov_full": cov_full,
        "sigma": sigma,
        "cluster_level_terms": tuple(nm for nm, lv in zip(names, level, strict=True) if lv),
        "random_effects": modes,
        "cluster_labels": tuple(labels.tolist()),
    }
    diag = Diagnostics(
        converged=bool(converged and pd_ok and not sep),
        singular=bool(singular),
        max_abs_gradient=max_grad,
        hessian_positive_definite=bool(pd_ok),
        n_iterations=int(n_iter),
        warnings=tuple(warnings),
    )
    idx = list(names)
    return ModelResults(
        model="glmm",
        family=family,
        link=fam.LINKS[family],
        formula=formula,
        params=pd.Series(beta, index=idx),
        cov=cov_phi[:p, :p],
        df=df_vec,  # in the order of params
        nobs=n,
        n_clusters=G,
        llf=ev.llf,
        n_estimated=q,
        cluster_var=sigma * sigma,
        theta=theta,
        scale=1.0,
        df_method=df,
        diagnostics=diag,
        extra=extra,
    )


def _cluster_level_columns(X: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """True for columns constant within every cluster (X rows sorted by cluster)."""
    spread = np.maximum.reduceat(X, starts, axis=0) - np.minimum.reduceat(X, starts, axis=0)
    scale = np.maximum(1.0, np.max(np.abs(X), axis=0))
    return np.all(spread <= 1e-12 * scale, axis=0)


def _df(method: str, level: np.ndarray, n: int, G: int, p: int) -> tuple[np.ndarray, list[str]]:
    """Degrees of freedom per column, and a warning if between-within is undefined
    (NaN df, hence NaN p-values and intervals, rather than an error: simulated
    trials must never raise)."""
    if method == "z":
        return np.full(p, np.inf), []
    if method == "residual":
        return np.full(p, float(n - p) if n > p else np.nan), []
    p_between = int(level.sum())
    between, within = G - p_between, n - G - (p - p_between)
    df = np.where(level, float(between), float(within))
    bad = df < 1
    if not bad.any():
        return df, []
    df[bad] = np.nan
    return df, [
        f"between-within df not positive ({G} clusters, {p_between} cluster-level and "
        f"{p - p_between} within-cluster terms, {n} observations): df, p-values and intervals "
        "are NaN for those terms; use fewer terms or df='z'"
    ]


def _cluster_warnings(prob: Any, labels: np.ndarray) -> list[str]:
    """Clusters whose outcomes are all 0 (or all 1): legal, but worth saying.

    ``prob`` is any problem with ``resp`` and ``csum`` (the ML and REML fits')."""
    if prob.resp.family != "binomial":
        zero = prob.csum(prob.resp.y) == 0
        return [_listing("all-zero counts", zero, labels)] if zero.any() else []
    succ, tot = prob.csum(prob.resp.y), prob.csum(prob.resp.trials)
    out = []
    for what, mask in (("all-zero outcomes", succ == 0), ("all-one outcomes", succ == tot)):
        if mask.any():
            out.append(_listing(what, mask, labels))
    return out


def _listing(what: str, mask: np.ndarray, labels: np.ndarray) -> str:
    shown = ", ".join(str(x) for x in labels[mask][:5])
    more = "" if mask.sum() <= 5 else ", ..."
    return f"{int(mask.sum())} of {len(mask)} clusters have {what} ({shown}{more})"


def _separation(
    family: str, names: tuple[str, ...], beta: np.ndarray, eta: np.ndarray, cov: np.ndarray
) -> list[str]:
    """Diverging estimates: fitted values pushed to the boundary with huge SEs."""
    if not np.all(np.isfinite(beta)):
        return ["estimates are not finite (separation or overflow)"]
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.diag(cov))
    suspect = (np.abs(beta) > SEPARATION_ETA) | ~np.isfinite(se) | (se > 1e3)
    lim = SEPARATION_ETA if family == "binomial" else 30.0
    if suspect.any() or (family == "binomial" and np.max(np.abs(eta)) > lim + 10):
        terms = (
            ", ".join(nm for nm, s in zip(names, suspect, strict=True) if s) or "linear predictor"
        )
        return [f"possible separation: estimates diverge ({terms}); treat them as unreliable"]
    return []
