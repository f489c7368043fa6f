"""Models fitted to each simulated trial; each returns the p-value of ``arm``.

Every fitter takes the data frame made by
:func:`odtrial.design.simulation.simulate_trial` (columns ``y, arm, cluster,
stratum, followup``) and the outcome kind, and tests ``arm`` in
``y ~ arm [+ C(stratum)]``:

* ``"glmm"``: odtrial's GLMM (:mod:`odtrial.models.glmm`, random cluster
  intercept, between-within df): binomial for binary outcomes, Poisson with
  a log follow-up offset for counts, fitted on cluster totals, which are
  sufficient because every fixed effect is cluster-level; for counts
  simulated with an NB2 dispersion (``data.attrs["theta"]``), the negative
  binomial GLMM on the individual counts (a Poisson model of overdispersed
  totals gave 7.3% type I error at 16 clusters in 400 null trials, the NB
  GLMM 4.8%);
* ``"glmm-reml"``: the same GLMM fitted by REML (``fit_glmm(method="REML")``,
  Laplace over the cluster effects and the fixed effects) on the individual
  rows, binomial, Poisson or negative binomial: the estimator the shipped
  analysis plan uses for binary and count outcomes, whose type I error holds
  better with ~30 clusters (its power is correspondingly a little lower);
* ``"lmm"``: odtrial's LMM (:func:`odtrial.models.lmm.fit_lmm`, REML,
  Satterthwaite df) for continuous outcomes;
* ``"cluster-t"``: a cluster-level analysis (cluster means, or rates for
  counts, weighted by cluster size; t test with the residual df);
* ``"auto"`` (default): the model engine for the outcome when installed
  (``"glmm-reml"`` for binary outcomes: ML's optimistic type I error made
  simulated power about 4 points higher than the analytic formula at 32
  clusters, REML's agrees with it; ``"glmm"`` for counts; ``"lmm"``), else
  the cluster-level analysis;
* any picklable callable ``(data, outcome_kind) -> p-value``.

A fit that did not converge returns NaN; the simulation counts it as failed
(and not significant).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from odtrial.errors import DesignError

if TYPE_CHECKING:
    from odtrial.models.glmm.model import Family, Method
    from odtrial.models.results import ModelResults

Fitter = Callable[[pd.DataFrame, str], float]


def _cluster_level(
    data: pd.DataFrame,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Cluster codes per row, cluster labels, [1, arm, stratum dummies] per cluster, names."""
    labels, cl = np.unique(data["cluster"].to_numpy(), return_inverse=True)
    first = np.unique(cl, return_index=True)[1]
    arm = data["arm"].to_numpy(dtype=float)[first]
    strata = data["stratum"].to_numpy()[first]
    levels = np.unique(strata)
    cols = [np.ones(len(labels)), arm] + [(strata == s).astype(float) for s in levels[1:]]
    names = ("Intercept", "arm", *(f"C(stratum)[T.{s}]" for s in levels[1:]))
    return cl, labels, np.column_stack(cols), names


def cluster_t_pvalue(data: pd.DataFrame, kind: str) -> float:
    """Cluster-level analysis: cluster means (rates for counts) on arm + stratum, t test.

    Weighted least squares with cluster-size (or person-time) weights; the t
    test uses the residual degrees of freedom (clusters minus parameters).
    """
    cl, _, x, _ = _cluster_level(data)
    y = data["y"].to_numpy(dtype=float)
    if kind == "count":
        weight = np.bincount(cl, weights=data["followup"].to_numpy(dtype=float))
    else:
        weight = np.bincount(cl).astype(float)
    summary = np.bincount(cl, weights=y) / weight  # mean, or rate per unit follow-up
    df = len(summary) - x.shape[1]
    if df < 1 or np.linalg.matrix_rank(x) < x.shape[1]:
        return float("nan")
    # Weighted by cluster size: the analysis the Eldridge et al. (2006)
    # design effect describes; unweighted means lose more power when sizes vary.
    sw = np.sqrt(weight)
    xw, yw = x * sw[:, None], summary * sw
    beta, *_ = np.linalg.lstsq(xw, yw, rcond=None)
    resid = yw - xw @ beta
    s2 = float(resid @ resid) / df
    cov = s2 * np.linalg.inv(xw.T @ xw)
    se = math.sqrt(cov[1, 1])
    if se == 0:
        return float("nan")
    return float(2 * stats.t.sf(abs(beta[1]) / se, df))


def glmm_pvalue(data: pd.DataFrame, kind: str) -> float:
    """odtrial's GLMM: binomial (binary) or Poisson with log follow-up offset (count).

    The model is ``y ~ arm [+ C(stratum)]`` with a random cluster intercept and
    between-within df. Every fixed effect is cluster-level, so the cluster
    totals (successes out of trials; events with log person-time offset) are
    sufficient: the fit on them is the individual-level fit (same likelihood
    up to a constant, same df), at a fraction of the cost.
    """
    from odtrial.models.glmm import fit_glmm_arrays

    cl, labels, x, names = _cluster_level(data)
    y = data["y"].to_numpy(dtype=float)
    total = np.bincount(cl, weights=y)
    if kind == "binary":
        res = fit_glmm_arrays(
            total, x, labels, names=names, family="binomial", trials=np.bincount(cl).astype(float)
        )
    elif kind == "count" and data.attrs.get("theta") is not None:
        res = _individual_glmm(data, kind, "ML")
    elif kind == "count":
        time_at_risk = np.bincount(cl, weights=data["followup"].to_numpy(dtype=float))
        res = fit_glmm_arrays(
            total, x, labels, names=names, family="poisson", offset=np.log(time_at_risk)
        )
    else:
        raise DesignError(
            "the GLMM fitter is for binary and count outcomes; use 'lmm' or 'cluster-t'"
        )
    return _pvalue(res)


def glmm_reml_pvalue(data: pd.DataFrame, kind: str) -> float:
    """odtrial's GLMM by REML on the individual rows: binomial, or for counts Poisson
    (negative binomial when simulated with a dispersion) with a log follow-up offset;
    ``y ~ arm [+ C(stratum)]``, between-within df."""
    if kind not in ("binary", "count"):
        raise DesignError(
            "the GLMM fitter is for binary and count outcomes; use 'lmm' or 'cluster-t'"
        )
    return _pvalue(_individual_glmm(data, kind, "REML"))


def _formula(data: pd.DataFrame) -> str:
    return "y ~ arm + C(stratum)" if data["stratum"].nunique() > 1 else "y ~ arm"


def _individual_glmm(data: pd.DataFrame, kind: str, method: Method) -> ModelResults:
    """The GLMM on the individual rows: binomial, or for counts Poisson (negative
    binomial when simulated with a dispersion) with a log follow-up offset."""
    from odtrial.models.glmm import fit_glmm

    if kind == "binary":
        return fit_glmm(_formula(data), data, cluster="cluster", method=method)
    family: Family = "negbin" if data.attrs.get("theta") is not None else "poisson"
    offset = np.log(data["followup"].to_numpy(dtype=float))
    return fit_glmm(
        _formula(data),
        data,
        cluster="cluster",
        family=family,
        offset=offset,
        method=method,
    )


def _pvalue(res: ModelResults) -> float:
    """The arm's p-value; NaN (counted as a failed fit) when the fit did not converge."""
    return float(res.pvalues["arm"]) if res.converged else float("nan")


def lmm_pvalue(data: pd.DataFrame, kind: str) -> float:
    """odtrial's LMM (REML, Satterthwaite df) for a continuous outcome."""
    from odtrial.models.lmm import fit_lmm

    if kind != "continuous":
        raise DesignError("the LMM fitter is for continuous outcomes; use 'glmm' or 'cluster-t'")
    return _pvalue(fit_lmm(_formula(data), data, cluster="cluster"))


FITTERS: dict[str, Fitter] = {
    "cluster-t": cluster_t_pvalue,
    "glmm": glmm_pvalue,
    "glmm-reml": glmm_reml_pvalue,
    "lmm": lmm_pvalue,
}
#: Which outcome kinds each named fitter handles, and the function it needs.
FITTER_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, str] | None]] = {
    "cluster-t": (("binary", "continuous", "count"), None),
    "glmm": (("binary", "count"), ("odtrial.models.glmm", "fit_glmm_arrays")),
    "glmm-reml": (("binary", "count"), ("odtrial.models.glmm.reml", "fit_glmm_reml")),
    "lmm": (("continuous",), ("odtrial.models.lmm", "fit_lmm")),
}


def engine_available(name: str) -> bool:
    """True when the model module a fitter needs exists and exposes its function."""
    need = FITTER_KINDS[name][1]
    if need is None:
        return True
    module, func = need
    try:
        if importlib.util.find_spec(module) is None:
            return False
        return hasattr(importlib.import_module(module), func)
    except Exception:  # a half-written engine must not break power calculations
        return False


def resolve_fitter(fitter: str | Fitter, kind: str) -> tuple[str, Fitter]:
    """Name and callable of the fitter to use for an outcome ``kind``."""
    if callable(fitter):
        return getattr(fitter, "__name__", "custom"), fitter
    if fitter == "auto":
        model = {"binary": "glmm-reml", "count": "glmm", "continuous": "lmm"}[kind]
        fitter = model if engine_available(model) else "cluster-t"
    if fitter not in FITTERS:
        raise DesignError(f"fitter must be one of auto, {', '.join(FITTERS)} (got {fitter!r})")
    kinds, _ = FITTER_KINDS[fitter]
    if kind not in kinds:
        raise DesignError(
            f"fitter {fitter!r} does not handle {kind} outcomes (it handles {', '.join(kinds)})"
        )
    if not engine_available(fitter):
        raise DesignError(
            f"the {fitter} engine is not available in this installation; use fitter 'cluster-t'"
        )
    return fitter, FITTERS[fitter]


__all__ = [
    "FITTERS",
    "FITTER_KINDS",
    "Fitter",
    "cluster_t_pvalue",
    "engine_available",
    "glmm_pvalue",
    "glmm_reml_pvalue",
    "lmm_pvalue",
    "resolve_fitter",
]
