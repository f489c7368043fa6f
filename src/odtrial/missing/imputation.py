"""Multilevel multiple imputation for a cluster randomised trial.

The imputation model: fully conditional specification (FCS) with a two-level
model per incomplete variable, each with a cluster random intercept.

Why FCS with two-level models rather than a joint latent-normal model (R's
jomo): both respect the clustering and both are proper; FCS gives each kind of
variable a model of its own kind (a count is matched to observed counts, a
category stays a category) and lets each variable have its own predictors, and
each step is a small, well-understood Gibbs update. To make the conditional
models approximately those of jomo's joint random-intercept model, each
variable's model includes, besides every other variable, the cluster means of
the other incomplete individual-level variables (Resche-Rigon & White, SMMR
2018; Enders, Mistler & Keller, Psychol Methods 2016): without them the
between-cluster association of, say, the 12- and 24-month outcomes would be
forced equal to the within-cluster one. Fixed cluster dummies are not used:
with ~16 clusters per arm they overfit the cluster effects and distort the
between-cluster variance (Andridge 2011).

The conditional models (:mod:`odtrial.missing._sampler` has the Gibbs steps):

``norm`` (continuous)
    Two-level normal (as mice's ``2l.pan`` / ``2l.norm`` with a common residual
    variance): the imputation is ``Xβ + u_j + e`` with β, u, σ²_u and σ²_e all
    drawn from their posterior.
``pmm`` (count; continuous on request)
    The same model (on the log1p scale for a count), then predictive mean
    matching: each missing value takes the observed value of one of the 5
    observed rows whose predictions (posterior-mean β, drawn cluster effects)
    are closest to its own (drawn β): counts stay counts, skewness is kept.
``probit`` (binary)
    Two-level probit with latent normals (Albert & Chib 1993), the step jomo
    takes for a binary variable; the imputation is 1 with probability
    ``Φ(Xβ + u_j)`` for the drawn β and u.
``catprobit`` (categorical, K levels)
    A sequence of K − 1 two-level probit models, ``P(level k | level ≥ k)``
    (a continuation-ratio model: any categorical distribution given the
    predictors factorises this way), each with its own cluster effects.

Each model is updated by one Gibbs sweep per iteration, on the rows where its
variable is observed, with the other variables at their current imputations;
the state is carried from one iteration to the next, so every draw of the
parameters comes from their posterior (proper imputation), not from a plug-in
estimate. Chains start from values drawn at random from the observed ones;
after ``n_burn`` iterations an imputation is kept every ``n_between``.
Imputations are split over ``chains`` independent chains, each with its own
``SeedSequence`` child drawn up front, so the same seed gives the same
imputations whatever ``n_jobs``.

Limitations: an incomplete variable is modelled at the individual level (a
cluster-level covariate must be fully observed, as the arm and the
stratification factors are); interactions are not modelled unless given as
columns; the imputation model is congenial with a random-intercept analysis
model whose terms are among the imputation model's variables.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import linalg, special

from odtrial.errors import ModelError
from odtrial.missing._columns import Column, describe, encode, from_codes, to_codes
from odtrial.missing._sampler import Rows, State, regression_step, truncated_latent
from odtrial.missing.pooling import PooledResults, pool
from odtrial.models.results import ModelResults

N_DONORS = 5
TRACE_STATS = ("mean", "cluster_var", "residual_var")


@dataclass(frozen=True)
class _Model:
    """One conditional model: its rows and the design columns it keeps.

    The design is ``[F | D]``: ``F`` the fully observed predictors (fixed for
    the whole run, so its Gram matrix and cluster sums are computed once) and
    ``D`` the other incomplete variables and their cluster means (rebuilt at
    every step).
    """

    rows: Rows
    keep_fixed: NDArray[np.intp]
    keep_dyn: NDArray[np.intp]
    F: NDArray[np.float64]  # the rows' fixed design (kept columns)
    FtF: NDArray[np.float64]
    SF: NDArray[np.float64]  # cluster sums of F

    @classmethod
    def of(cls, rows: Rows, fixed: NDArray[np.float64], dyn: NDArray[np.float64]) -> _Model:
        X = np.hstack([fixed[rows.index], dyn[rows.index]])
        keep = _independent(X)
        pf = fixed.shape[1]
        kf, kd = keep[keep < pf], keep[keep >= pf] - pf
        F = np.ascontiguousarray(fixed[np.ix_(rows.index, kf)])
        return cls(rows, kf, kd, F, F.T @ F, rows.sums @ F)

    @property
    def width(self) -> int:
        return self.keep_fixed.size + self.keep_dyn.size

    def normal_equations(
        self, dyn: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """The rows' design ``X``, ``X'X`` and the cluster sums of ``X``."""
        D = dyn[self.rows.index][:, self.keep_dyn]
        pf, p = self.F.shape[1], self.width
        X = np.empty((D.shape[0], p))
        X[:, :pf], X[:, pf:] = self.F, D
        FtD = self.F.T @ D
        XtX = np.empty((p, p))  # [[F'F, F'D], [D'F, D'D]], filled in place
        XtX[:pf, :pf], XtX[:pf, pf:], XtX[pf:, :pf] = self.FtF, FtD, FtD.T
        XtX[pf:, pf:] = D.T @ D
        Xs = np.empty((self.SF.shape[0], p))
        Xs[:, :pf], Xs[:, pf:] = self.SF, self.rows.sums @ D
        return X, XtX, Xs

    def design(
        self, fixed: NDArray[np.float64], dyn: NDArray[np.float64], idx: NDArray[np.intp]
    ) -> NDArray[np.float64]:
        """The kept design columns of rows ``idx`` (e.g. the missing ones)."""
        pf = self.keep_fixed.size
        X = np.empty((idx.size, self.width))
        X[:, :pf], X[:, pf:] = fixed[idx][:, self.keep_fixed], dyn[idx][:, self.keep_dyn]
        return X


@dataclass(frozen=True)
class _Target:
    col: Column
    pos: int  # column position in the values matrix
    obs: NDArray[np.intp]
    mis: NDArray[np.intp]
    others: tuple[int, ...]  # positions of the other incomplete columns (dynamic predictors)
    models: tuple[_Model, ...]  # one, or K - 1 for a categorical column


@dataclass(frozen=True)
class _Plan:
    """Everything a chain needs, the same for every chain."""

    columns: tuple[Column, ...]
    codes: NDArray[np.float64]  # n x k internal values, NaN where missing
    group: NDArray[np.intp]
    n_clusters: int
    cluster_sums: Any  # J x n sparse indicator
    fixed: NDArray[np.float64]  # intercept + encodings of complete columns
    targets: tuple[_Target, ...]
    cluster_means: bool

    def encoded(self, j: int, values: NDArray[np.float64]) -> list[NDArray[np.float64]]:
        """Column ``j``'s blocks of the other columns' designs: its encoding and (with
        cluster means) each row's cluster mean of it."""
        enc = encode(values[:, j], self.columns[j])
        if not self.cluster_means:
            return [enc]
        n_j = np.bincount(self.group, minlength=self.n_clusters)
        means = (self.cluster_sums @ enc) / n_j[:, None]
        return [enc, means[self.group]]

    def dynamic(
        self, t: _Target, blocks: Mapping[int, list[NDArray[np.float64]]]
    ) -> NDArray[np.float64]:
        """Encodings of the other incomplete variables (and their cluster means), from
        each column's blocks (:meth:`encoded`, refreshed only when the column is
        redrawn: one step changes one column)."""
        parts = [np.zeros((len(self.group), 0))]
        for j in t.others:
            parts.extend(blocks[j])
        return np.hstack(parts)

    def all_encoded(self, values: NDArray[np.float64]) -> dict[int, list[NDArray[np.float64]]]:
        return {t.pos: self.encoded(t.pos, values) for t in self.targets}


@dataclass
class _ChainOutput:
    imputed: dict[str, NDArray[np.float64]]  # column -> (n_imp, n_mis)
    prob: dict[str, NDArray[np.float64]]
    unif: dict[str, NDArray[np.float64]]
    trace: NDArray[np.float64]  # iterations x targets x stats


@dataclass(frozen=True)
class Imputations:
    """``m`` completed datasets from one imputation model.

    ``datasets`` gives them as DataFrames (every original column; observed
    values untouched, missing ones filled, dtypes kept); :meth:`fit` fits any
    odtrial model to each and pools by Rubin's rules.
    """

    data: pd.DataFrame
    cluster: str
    columns: tuple[Column, ...]
    imputed: Mapping[str, NDArray[np.float64]]  # column -> (m, n_missing) internal values
    missing_rows: Mapping[str, NDArray[np.intp]]
    probabilities: Mapping[str, NDArray[np.float64]]  # binary: MAR P(value = levels[1])
    uniforms: Mapping[str, NDArray[np.float64]]  # binary: the uniforms that drew them
    trace_values: NDArray[np.float64]  # chains x iterations x targets x stats (NaN-padded)
    excluded: Mapping[str, str]
    predictors: Mapping[str, tuple[str, ...]]
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def m(self) -> int:
        return int(self.settings["m"])

    @property
    def imputed_columns(self) -> tuple[str, ...]:
        return tuple(self.imputed)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise ModelError(f"{name!r} is not a column of the imputation model")

    def complete(self, i: int) -> pd.DataFrame:
        """The ``i``-th completed dataset (0-based), a new DataFrame."""
        if not 0 <= i < self.m:
            raise IndexError(f"imputation {i} out of range 0..{self.m - 1}")
        d = self.data.copy()
        for name, rows in self.missing_rows.items():
            col = self.column(name)
            vals = self.imputed[name][i]
            if col.kind == "count":
                vals = np.rint(vals)
            filled = d[name].copy()
            filled.iloc[rows] = from_codes(vals, col)
            d[name] = filled.astype(d[name].dtype)
        return d

    @property
    def datasets(self) -> list[pd.DataFrame]:
        """The completed datasets (new DataFrames at every access)."""
        return [self.complete(i) for i in range(self.m)]

    @property
    def trace(self) -> pd.DataFrame:
        """Every iteration of every chain: long format (chain, iteration,
        variable, statistic, value). ``mean`` is the mean of the imputed values
        (binary: proportion of ``levels[1]``; categorical: of the most common
        observed level), ``cluster_var`` and ``residual_var`` the model's σ²_u
        and σ²_e (first step of a categorical; NaN for probit's fixed σ²_e)."""
        c, it = self.trace_values.shape[:2]
        idx = pd.MultiIndex.from_product(
            [range(c), range(1, it + 1), list(self.imputed), TRACE_STATS],
            names=["chain", "iteration", "variable", "statistic"],
        )
        out = pd.Series(self.trace_values.reshape(-1), index=idx, name="value").reset_index()
        return out.dropna(subset=["value"]).reset_index(drop=True)

    def fit(
        self,
        fitter: Callable[..., ModelResults],
        formula: str,
        /,
        *,
        n_jobs: int = 1,
        df_com: float | Sequence[float] | None = None,
        **kwargs: Any,
    ) -> PooledResults:
        """Fit ``fitter(formula, dataset, **kwargs)`` to every completed dataset
        and pool by Rubin's rules (Barnard–Rubin df from each fit's own df).

        ``cluster`` defaults to the imputation's cluster column when the fitter
        takes one. ``n_jobs`` fits in parallel (joblib); the result does not
        depend on it.
        """
        if "cluster" not in kwargs and "cluster" in inspect.signature(fitter).parameters:
            kwargs["cluster"] = self.cluster
        if n_jobs == 1:
            fits = [_fit_one(fitter, formula, self, i, kwargs) for i in range(self.m)]
        else:
            fits = joblib.Parallel(n_jobs=n_jobs)(
                joblib.delayed(_fit_one)(fitter, formula, self, i, kwargs) for i in range(self.m)
            )
        return pool(fits, df_com=df_com)

    def __repr__(self) -> str:
        cols = ", ".join(f"{k} ({len(v)} missing)" for k, v in self.missing_rows.items())
        return f"<Imputations m={self.m} cluster={self.cluster!r}: {cols}>"


def _fit_one(
    fitter: Callable[..., ModelResults], formula: str, imps: Imputations, i: int, kw: dict[str, Any]
) -> ModelResults:
    return fitter(formula, imps.complete(i), **kw)


def impute(
    data: pd.DataFrame,
    *,
    cluster: str,
    m: int = 20,
    seed: int | None = None,
    variables: Sequence[str] | None = None,
    auxiliaries: Sequence[str] = (),
    methods: Mapping[str, str] | None = None,
    n_burn: int = 200,
    n_between: int = 20,
    chains: int | None = None,
    n_jobs: int = 1,
    cluster_means: bool = True,
    max_levels: int = 20,
) -> Imputations:
    """Impute every incomplete column from all the others, respecting the clusters.

    Parameters
    ----------
    data
        One row per individual.
    cluster
        The cluster column (random intercept in every conditional model).
    m
        Number of imputations.
    seed
        Seed of the ``SeedSequence`` from which every chain's generator is spawned.
    variables
        Columns of the imputation model (targets and predictors); default every
        column but the cluster, less those that cannot enter a regression
        (dates, identifier-like text with more than ``max_levels`` values or
        whole numbers distinct in every row, constants) or would stand in for
        the random intercept (labels of the cluster or of units nested in it),
        which are listed in ``excluded``. Every incomplete one is imputed.
    auxiliaries
        Columns added to ``variables`` that the analysis model need not use (an
        earlier outcome); recorded as such in ``settings``.
    methods
        Per column: ``"norm"`` or ``"pmm"`` (continuous), ``"probit"`` (binary),
        ``"pmm"`` (count), ``"catprobit"`` (categorical); defaults by kind.
    n_burn, n_between
        Iterations before each chain's first imputation, and between imputations.
    chains
        Independent chains the ``m`` imputations are split over (default
        ``min(m, 4)``; ``m`` gives one chain per imputation). Convergence is
        judged across them.
    n_jobs
        Chains run in parallel (joblib). Results do not depend on it.
    cluster_means
        Add the cluster means of the other incomplete variables as predictors.
    max_levels
        Text columns with more distinct values are left out of the default selection.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> d = pd.DataFrame({"cluster": np.repeat(np.arange(12), 15)})
    >>> d["arm"] = d["cluster"] % 2
    >>> d["y"] = d["arm"] + rng.normal(0, 0.3, 12)[d["cluster"]] + rng.normal(size=180)
    >>> d.loc[rng.random(180) < 0.2, "y"] = np.nan
    >>> imps = impute(d, cluster="cluster", m=5, seed=1, n_burn=50, n_between=5)
    >>> imps.m, len(imps.datasets), int(imps.datasets[0]["y"].isna().sum())
    (5, 5, 0)
    """
    if not isinstance(data, pd.DataFrame):
        raise ModelError(f"data must be a DataFrame, got {type(data).__name__}")
    if m < 2:
        raise ModelError(f"m must be at least 2 (Rubin's rules need 2), got {m}")
    if n_burn < 1 or n_between < 1:
        raise ModelError("n_burn and n_between must be at least 1")
    n_chains = min(m, 4) if chains is None else int(chains)
    if not 1 <= n_chains <= m:
        raise ModelError(f"chains must be between 1 and m={m}, got {chains}")
    columns, excluded = describe(
        data,
        cluster=cluster,
        variables=variables,
        auxiliaries=auxiliaries,
        methods=dict(methods or {}),
        max_levels=max_levels,
    )
    seq = np.random.SeedSequence(seed)
    setup_seq, *chain_seqs = seq.spawn(n_chains + 1)
    plan, predictors = _make_plan(data, cluster, columns, cluster_means, setup_seq)
    per_chain = [m // n_chains + (c < m % n_chains) for c in range(n_chains)]
    run = joblib.delayed(_run_chain)
    if n_jobs == 1 or n_chains == 1:
        outs = [
            _run_chain(plan, k, n_burn, n_between, s)
            for k, s in zip(per_chain, chain_seqs, strict=True)
        ]
    else:
        outs = joblib.Parallel(n_jobs=n_jobs)(
            run(plan, k, n_burn, n_between, s) for k, s in zip(per_chain, chain_seqs, strict=True)
        )
    names = [t.col.name for t in plan.targets]
    n_it = max(o.trace.shape[0] for o in outs)
    trace = np.full((n_chains, n_it, len(names), len(TRACE_STATS)), np.nan)
    for c, o in enumerate(outs):
        trace[c, : o.trace.shape[0]] = o.trace
    trace.flags.writeable = False

    def stack(attr: str) -> dict[str, NDArray[np.float64]]:
        keys = getattr(outs[0], attr).keys()
        res = {k: np.concatenate([getattr(o, attr)[k] for o in outs]) for k in keys}
        for v in res.values():
            v.flags.writeable = False
        return res

    data_copy = data.copy()
    return Imputations(
        data=data_copy,
        cluster=cluster,
        columns=tuple(columns),
        imputed=stack("imputed"),
        missing_rows={t.col.name: t.mis for t in plan.targets},
        probabilities=stack("prob"),
        uniforms=stack("unif"),
        trace_values=trace,
        excluded=dict(excluded),
        predictors=predictors,
        settings={
            "m": m,
            "seed": seed,
            "n_burn": n_burn,
            "n_between": n_between,
            "chains": n_chains,
            "cluster_means": cluster_means,
            "methods": {c.name: c.method for c in columns if c.n_missing},
            "variables": [c.name for c in columns],
            "auxiliaries": list(auxiliaries),
            "delta": {},
        },
    )


def _make_plan(
    data: pd.DataFrame,
    cluster: str,
    columns: list[Column],
    cluster_means: bool,
    setup_seq: np.random.SeedSequence,
) -> tuple[_Plan, dict[str, tuple[str, ...]]]:
    n = len(data)
    labels, group = np.unique(data[cluster].astype(str).to_numpy(), return_inverse=True)
    J = len(labels)
    if J < 3:
        raise ModelError(f"the imputation model needs at least 3 clusters, got {J}")
    from scipy import sparse

    sums = sparse.csr_matrix((np.ones(n), (group, np.arange(n))), shape=(J, n))
    codes = np.column_stack([to_codes(data[c.name], c) for c in columns])
    complete = [j for j, c in enumerate(columns) if c.n_missing == 0]
    fixed_blocks = [np.ones((n, 1))] + [encode(codes[:, j], columns[j]) for j in complete]
    fixed = np.hstack(fixed_blocks)
    fixed_names = ["Intercept"] + [n_ for j in complete for n_ in _names(columns[j])]
    incomplete = sorted(
        (j for j, c in enumerate(columns) if c.n_missing), key=lambda j: (columns[j].n_missing, j)
    )
    # a random fill (setup generator) decides which design columns are aliased
    rng = np.random.default_rng(setup_seq)
    filled = _initial_fill(codes, incomplete, rng)
    plan = _Plan(tuple(columns), codes, group, J, sums, fixed, (), cluster_means)
    targets: list[_Target] = []
    predictors: dict[str, tuple[str, ...]] = {}
    for j in incomplete:
        col = columns[j]
        others = tuple(k for k in incomplete if k != j)
        obs = np.flatnonzero(~np.isnan(codes[:, j]))
        mis = np.flatnonzero(np.isnan(codes[:, j]))
        t0 = _Target(col, j, obs, mis, others, ())
        dyn = plan.dynamic(t0, {k: plan.encoded(k, filled) for k in others})
        names = list(fixed_names)
        for k in others:
            names += _names(columns[k])
            if cluster_means:
                names += [f"cluster mean of {x}" for x in _names(columns[k])]
        models = []
        if col.kind == "categorical":
            for s in range(len(col.levels) - 1):
                idx = obs[codes[obs, j] >= s]
                models.append(_Model.of(Rows.of(idx, group, J), fixed, dyn))
        else:
            models.append(_Model.of(Rows.of(obs, group, J), fixed, dyn))
        targets.append(_Target(col, j, obs, mis, others, tuple(models)))
        pf = fixed.shape[1]
        kept = [*models[0].keep_fixed, *(models[0].keep_dyn + pf)]
        predictors[col.name] = tuple(names[i] for i in kept)
    plan = _Plan(tuple(columns), codes, group, J, sums, fixed, tuple(targets), cluster_means)
    return plan, predictors


def _names(col: Column) -> list[str]:
    if col.kind == "categorical":
        return [f"{col.name}[{lv}]" for lv in col.levels[1:]]
    if col.kind == "binary":
        return [f"{col.name}[{col.levels[1]}]"]
    return [f"log1p({col.name})" if col.kind == "count" else col.name]


def _independent(X: NDArray[np.float64], tol: float = 1e-7) -> NDArray[np.intp]:
    """Columns of X not in the span of the columns before them (the first kept)."""
    norms = np.linalg.norm(X, axis=0)
    r = linalg.qr(X, mode="r")[0]
    d = np.abs(np.diag(r)) if r.shape[0] >= X.shape[1] else np.zeros(X.shape[1])
    if r.shape[0] < X.shape[1]:  # fewer rows than columns: keep what the rows can carry
        d[: r.shape[0]] = np.abs(np.diag(r))
    return np.flatnonzero((norms > 0) & (d > tol * np.maximum(norms, 1e-300)))


def _initial_fill(
    codes: NDArray[np.float64], incomplete: Sequence[int], rng: np.random.Generator
) -> NDArray[np.float64]:
    values = codes.copy()
    for j in incomplete:
        miss = np.isnan(values[:, j])
        values[miss, j] = rng.choice(values[~miss, j], size=int(miss.sum()))
    return values


def _run_chain(
    plan: _Plan, n_imp: int, n_burn: int, n_between: int, seq: np.random.SeedSequence
) -> _ChainOutput:
    rng = np.random.default_rng(seq)
    values = _initial_fill(plan.codes, [t.pos for t in plan.targets], rng)
    states: list[list[State]] = []
    for t in plan.targets:
        if t.col.kind in ("continuous", "count"):
            r = _response(plan.codes[t.obs, t.pos], t.col)
            s2e = float(np.var(r)) or 1.0
        else:
            s2e = 1.0
        states.append([State.start(mod.width, plan.n_clusters, s2e) for mod in t.models])
    n_iter = n_burn + (n_imp - 1) * n_between
    trace = np.full((n_iter, len(plan.targets), len(TRACE_STATS)), np.nan)
    imputed = {t.col.name: np.empty((n_imp, t.mis.size)) for t in plan.targets}
    binary = [t for t in plan.targets if t.col.kind == "binary"]
    prob = {t.col.name: np.empty((n_imp, t.mis.size)) for t in binary}
    unif = {t.col.name: np.empty((n_imp, t.mis.size)) for t in binary}
    saved = 0
    blocks = plan.all_encoded(values)
    for it in range(n_iter):
        for ti, t in enumerate(plan.targets):
            dyn = plan.dynamic(t, blocks)
            p, u = _step(plan, t, dyn, values, states[ti], rng)
            blocks[t.pos] = plan.encoded(t.pos, values)
            trace[it, ti] = _trace_row(t, values, states[ti][0])
            if it + 1 >= n_burn and (it + 1 - n_burn) % n_between == 0 and saved < n_imp:
                imputed[t.col.name][saved] = values[t.mis, t.pos]
                if t.col.kind == "binary":
                    prob[t.col.name][saved] = p
                    unif[t.col.name][saved] = u
        if it + 1 >= n_burn and (it + 1 - n_burn) % n_between == 0:
            saved += 1
    return _ChainOutput(imputed, prob, unif, trace)


def _response(y: NDArray[np.float64], col: Column) -> NDArray[np.float64]:
    v = np.log1p(y) if col.kind == "count" else y
    return (v - col.center) / col.spread


def _step(
    plan: _Plan,
    t: _Target,
    dyn: NDArray[np.float64],
    values: NDArray[np.float64],
    states: list[State],
    rng: np.random.Generator,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Update the target's model(s) and redraw its missing values in ``values``.

    Returns the predictive probabilities and uniforms of a binary target's draws
    (empty otherwise).
    """
    col, g = t.col, plan.group
    y = plan.codes[:, t.pos]
    empty = np.zeros(0)
    if col.kind in ("continuous", "count"):
        mod, st = t.models[0], states[0]
        Xo, XtX, Xs = mod.normal_equations(dyn)
        r = _response(y[t.obs], col)
        regression_step(r, Xo, XtX, Xs, mod.rows, st, rng, probit=False)
        mean_mis = mod.design(plan.fixed, dyn, t.mis) @ st.beta + st.u[g[t.mis]]
        if col.method == "norm":
            draw = mean_mis + np.sqrt(st.s2e) * rng.standard_normal(t.mis.size)
            values[t.mis, t.pos] = draw * col.spread + col.center
        else:
            pred_obs = Xo @ st.beta_mean + st.u[g[t.obs]]
            values[t.mis, t.pos] = _pmm(pred_obs, mean_mis, y[t.obs], rng)
        return empty, empty
    if col.kind == "binary":
        mod, st = t.models[0], states[0]
        _probit_update(dyn, y, mod, st, rng, target=1.0)
        eta = mod.design(plan.fixed, dyn, t.mis) @ st.beta + st.u[g[t.mis]]
        p = special.ndtr(eta)
        u = rng.random(t.mis.size)
        values[t.mis, t.pos] = (u < p).astype(float)
        return p, u
    # categorical: continuation-ratio probits
    undecided = np.ones(t.mis.size, dtype=bool)
    draw = np.full(t.mis.size, float(len(col.levels) - 1))
    for s, (mod, st) in enumerate(zip(t.models, states, strict=True)):
        _probit_update(dyn, y, mod, st, rng, target=float(s))
        eta = mod.design(plan.fixed, dyn, t.mis) @ st.beta + st.u[g[t.mis]]
        hit = undecided & (rng.random(t.mis.size) < special.ndtr(eta))
        draw[hit] = s
        undecided &= ~hit
    values[t.mis, t.pos] = draw
    return empty, empty


def _probit_update(
    dyn: NDArray[np.float64],
    y: NDArray[np.float64],
    mod: _Model,
    st: State,
    rng: np.random.Generator,
    *,
    target: float,
) -> None:
    Xo, XtX, Xs = mod.normal_equations(dyn)
    yo = (y[mod.rows.index] == target).astype(float)
    eta = Xo @ st.beta + st.u[mod.rows.group]
    z = truncated_latent(eta, yo, rng)
    regression_step(z, Xo, XtX, Xs, mod.rows, st, rng, probit=True)


def _pmm(
    pred_obs: NDArray[np.float64],
    pred_mis: NDArray[np.float64],
    y_obs: NDArray[np.float64],
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Each missing row takes the value of one of its N_DONORS nearest observed rows."""
    k = min(N_DONORS, pred_obs.size)
    order = np.argsort(pred_obs)
    sorted_pred = pred_obs[order]
    pos = np.searchsorted(sorted_pred, pred_mis)
    # the k nearest lie within k either side of the insertion point
    lo = np.clip(pos - k, 0, max(pred_obs.size - 2 * k, 0))
    window = lo[:, None] + np.arange(min(2 * k, pred_obs.size))[None, :]
    dist = np.abs(sorted_pred[window] - pred_mis[:, None])
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
    pick = nearest[np.arange(pred_mis.size), rng.integers(0, k, pred_mis.size)]
    return y_obs[order[window[np.arange(pred_mis.size), pick]]]


def _trace_row(t: _Target, values: NDArray[np.float64], st: State) -> NDArray[np.float64]:
    col = t.col
    v = values[t.mis, t.pos]
    if col.kind == "categorical":
        obs = t.obs
        mode = np.bincount(values[obs, t.pos].astype(int)).argmax()
        mean = float(np.mean(v == mode)) if v.size else np.nan
    else:
        mean = float(np.mean(v)) if v.size else np.nan
    scale = col.spread**2 if col.kind == "continuous" else 1.0  # data scale for continuous
    resid = st.s2e * scale if col.kind == "continuous" else np.nan
    return np.array([mean, st.s2u * scale, resid])
