"""Cluster-level analysis of a two-arm cluster trial (Hayes & Moulton 2017, ch. 9–10).

Each cluster is reduced to one summary and the two arms' summaries are
compared by a t-test, so inference rests on the number of clusters, not of
people: valid with few clusters, as long as there are a handful per arm.

* Unadjusted: the summary is the cluster's proportion (binomial), mean
  (gaussian) or mean count per person (poisson).
* Adjusted, two stages: (1) an individual-level regression of the outcome on
  the covariates *without* treatment, pooled over clusters (logistic,
  linear or Poisson by ``family``), gives each person's expected value
  ``e_ij``; (2) each cluster's residual, ``(O_i - E_i) / n_i`` on the
  difference scale or ``O_i / E_i`` on the ratio scale (O and E: observed and
  expected totals), is compared between arms. The t reference loses one df
  per cluster-level covariate in stage 1: df = clusters - 2 - k, where k
  counts the design columns that are constant within every cluster (a
  stratification factor with L levels counts L - 1).

Effects. Difference scale: the difference of (weighted) arm means of the
summaries, with the pooled two-sample variance (weighted least squares on an
arm indicator). Ratio scale (binomial and poisson): ``log(m1 / m0)`` of the
(weighted) arm means, its variance by the delta method,
``s^2 (1/(W1 m1^2) + 1/(W0 m0^2))`` with the same pooled ``s^2``: this takes
no logarithm of a cluster summary, so clusters with no events are kept.

Weights. ``"unweighted"`` gives every cluster the same weight (Hayes &
Moulton's default: robust to any cluster-size pattern). ``"inverse-variance"``
weights cluster i by ``1 / (s_b^2 + s_w^2 / n_i)`` (times ``ebar_i^2`` for
ratio residuals), with the between- and within-cluster variances estimated
by one-way ANOVA of the (stage-1 residual) outcomes within arms; this is
``n_i / (1 + (n_i - 1) rho)`` up to a constant, so it moves from equal
weights (large ICC) towards weighting by size (ICC near 0).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm

from odtrial.errors import ModelError
from odtrial.models.design import build_design, check_rank
from odtrial.models.results import ModelResults

Family = Literal["binomial", "gaussian", "poisson"]
Weights = Literal["unweighted", "inverse-variance"]
Scale = Literal["difference", "ratio"]

_SUMMARY = {"binomial": "proportion", "gaussian": "mean", "poisson": "rate"}
_EFFECT = {
    ("binomial", "difference"): "risk difference",
    ("binomial", "ratio"): "risk ratio",
    ("gaussian", "difference"): "mean difference",
    ("poisson", "difference"): "rate difference",
    ("poisson", "ratio"): "rate ratio",
}
_SM_FAMILY = {
    "binomial": sm.families.Binomial,
    "gaussian": sm.families.Gaussian,
    "poisson": sm.families.Poisson,
}


def _parse(formula_or_outcome: str, covariates: list[str] | None) -> tuple[str, str]:
    """Return (outcome, right-hand side of the stage-1 formula; "1" if unadjusted)."""
    if not isinstance(formula_or_outcome, str):
        raise ModelError(
            f"formula_or_outcome must be a column name or a formula, got {type(formula_or_outcome).__name__}"
        )
    if "~" in formula_or_outcome:
        if covariates is not None:
            raise ModelError(
                "give covariates either in the formula or in covariates=, not both "
                f"(formula {formula_or_outcome!r})"
            )
        lhs, rhs = (s.strip() for s in formula_or_outcome.split("~", 1))
        return lhs, rhs or "1"
    if covariates is None or len(covariates) == 0:
        return formula_or_outcome.strip(), "1"
    if isinstance(covariates, str):
        raise ModelError(f"covariates must be a list of terms, got the string {covariates!r}")
    return formula_or_outcome.strip(), " + ".join(covariates)


def _arm_codes(
    data: pd.DataFrame, treatment: str, cluster: str
) -> tuple[np.ndarray, str, list[object]]:
    """Cluster-level 0/1 treatment (sorted by cluster label), its term name and levels."""
    if treatment not in data.columns:
        raise ModelError(f"treatment column {treatment!r} is not in the data")
    col = data[treatment]
    per = col.groupby(data[cluster], sort=True).nunique(dropna=False)
    if (per > 1).any():
        raise ModelError(
            f"treatment {treatment!r} varies within cluster {per.index[int(np.argmax(per > 1))]!r}: "
            "it must be a cluster-level column"
        )
    if isinstance(col.dtype, pd.CategoricalDtype):
        levels = [c for c in col.cat.categories if (col == c).any()]
    else:
        levels = sorted(col.unique().tolist())
    if len(levels) != 2:
        raise ModelError(
            f"treatment {treatment!r} must have exactly 2 arms, found {len(levels)}: {levels[:5]}"
        )
    first = col.groupby(data[cluster], sort=True).first()
    arm = (first == levels[1]).to_numpy(dtype=float)
    numeric01 = levels == [0, 1] or levels == [False, True]
    term = treatment if numeric01 else f"{treatment}[T.{levels[1]}]"
    return arm, term, levels


def _within_between(
    values: np.ndarray, codes: np.ndarray, arm_c: np.ndarray, n: np.ndarray
) -> tuple[float, float]:
    """One-way ANOVA variances (between, within) of individual values, clusters nested in arms."""
    G, N = len(n), float(n.sum())
    means = np.bincount(codes, weights=values) / n
    ssw = float(np.sum((values - means[codes]) ** 2))
    s_w = ssw / (N - G)
    ssb, n_sq = 0.0, 0.0
    for a in (0.0, 1.0):
        m = arm_c == a
        grand = np.sum(n[m] * means[m]) / n[m].sum()
        ssb += float(np.sum(n[m] * (means[m] - grand) ** 2))
        n_sq += float(np.sum(n[m] ** 2) / n[m].sum())
    n0 = (N - n_sq) / (G - 2)
    s_b = max(0.0, (ssb / (G - 2) - s_w) / n0)
    return s_b, s_w


def cluster_level(
    formula_or_outcome: str,
    data: pd.DataFrame,
    *,
    cluster: str,
    treatment: str,
    covariates: list[str] | None = None,
    family: Family = "binomial",
    weights: Weights = "unweighted",
    scale: Scale | None = None,
) -> ModelResults:
    """Compare cluster summaries between two arms by a t-test on the right df.

    Parameters
    ----------
    formula_or_outcome : str
        An outcome column (``"work"``), or a formula whose right-hand side
        lists the stage-1 covariates (``"work ~ age + C(stratum)"``; ``"work ~ 1"``
        is unadjusted). Do not put the treatment in it.
    data : DataFrame
        One row per individual, no missing values in the columns used.
    cluster : str
        Cluster column.
    treatment : str
        Cluster-level arm column with exactly two values; the first (0,
        False, the first category, or the first in sort order) is the
        reference.
    covariates : list of str, optional
        Stage-1 terms, when ``formula_or_outcome`` is a column name.
    family : {"binomial", "gaussian", "poisson"}, default "binomial"
        Outcome type: summaries are proportions, means or rates per person.
    weights : {"unweighted", "inverse-variance"}, default "unweighted"
        Cluster weights (see the module notes).
    scale : {"difference", "ratio"}, optional
        Effect scale; default ``"difference"`` for binomial and gaussian,
        ``"ratio"`` for poisson. Ratio effects are returned on the log scale
        (``link="log"``): exponentiate the estimate and CI.

    Returns
    -------
    ModelResults
        Terms ``Intercept`` (reference-arm mean summary, or its log) and the
        treatment term (difference, or log ratio); ``df`` is clusters - 2 - k.
        ``extra`` holds the effect name, weights, k, the arm levels, the
        cluster summaries and weights, and the stage-1 coefficients.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"g": np.repeat(np.arange(10), 12)})
    >>> d["arm"] = d["g"] % 2
    >>> d["y"] = rng.binomial(1, 0.3 + 0.1 * d["arm"])
    >>> res = cluster_level("y", d, cluster="g", treatment="arm")
    >>> res.extra["effect"], float(res.df["arm"])
    ('risk difference', 8.0)
    """
    if family not in _SUMMARY:
        raise ModelError(f"family must be one of binomial, gaussian, poisson; got {family!r}")
    if weights not in ("unweighted", "inverse-variance"):
        raise ModelError(f"weights must be 'unweighted' or 'inverse-variance'; got {weights!r}")
    if scale is None:
        scale = "ratio" if family == "poisson" else "difference"
    if (family, scale) not in _EFFECT:
        raise ModelError(
            f"scale must be 'difference' or 'ratio' (ratio only for binomial or poisson); got {scale!r} for {family}"
        )
    outcome, rhs = _parse(formula_or_outcome, covariates)
    if treatment in rhs.replace("(", " ").replace(")", " ").replace("+", " ").split():
        raise ModelError(
            f"leave the treatment {treatment!r} out of the stage-1 covariates: it is compared in stage 2"
        )
    if isinstance(data, pd.DataFrame) and treatment not in data.columns:
        raise ModelError(f"treatment column {treatment!r} is not in the data")
    design = build_design(f"{outcome} ~ {rhs}", data, cluster=cluster, extra=(treatment,))
    y, X, codes = design.y, design.X, design.cluster
    if family == "binomial" and not np.isin(y, (0.0, 1.0)).all():
        raise ModelError(f"binomial outcome {outcome!r} must be 0/1")
    if family == "poisson" and (y < 0).any():
        raise ModelError(f"poisson outcome {outcome!r} must be >= 0")
    arm_c, term, levels = _arm_codes(data, treatment, cluster)
    G = design.n_clusters
    n = np.bincount(codes, minlength=G).astype(float)

    adjusted = design.names != ("Intercept",)
    stage1: dict[str, float] = {}
    if adjusted:
        check_rank(design)
        glm = sm.GLM(y, X, family=_SM_FAMILY[family]()).fit()
        expected = np.asarray(glm.fittedvalues)
        stage1 = dict(zip(design.names, np.asarray(glm.params).tolist(), strict=True))
        # a column constant within every cluster is a cluster-level covariate
        k = 0
        for j, name in enumerate(design.names):
            if name == "Intercept":
                continue
            col = X[:, j]
            lo = np.full(G, np.inf)
            hi = np.full(G, -np.inf)
            np.minimum.at(lo, codes, col)
            np.maximum.at(hi, codes, col)
            k += int(np.allclose(lo, hi))
    else:
        expected = np.full_like(y, y.mean())
        k = 0
    df = G - 2 - k
    if min(int(arm_c.sum()), int(G - arm_c.sum())) < 2 or df < 1:
        raise ModelError(
            f"too few clusters for a cluster-level t-test: {G} clusters "
            f"({int(G - arm_c.sum())} vs {int(arm_c.sum())}), {k} cluster-level covariate(s)"
        )

    obs_c = np.bincount(codes, weights=y, minlength=G)
    exp_c = np.bincount(codes, weights=expected, minlength=G)
    if not adjusted:
        summ = obs_c / n
    elif scale == "difference":
        summ = (obs_c - exp_c) / n
    else:
        if (exp_c <= 0).any():
            raise ModelError("a cluster has expected count 0 in stage 1: ratio residuals undefined")
        summ = obs_c / exp_c

    if weights == "unweighted":
        w = np.ones(G)
        s_b = s_w = float("nan")
    else:
        resid = y - expected if adjusted else y
        s_b, s_w = _within_between(resid, codes, arm_c, n)
        var_i = s_b + s_w / n
        if not np.all(var_i > 0):
            raise ModelError(
                "inverse-variance weights undefined: the outcome does not vary within or "
                "between clusters; use weights='unweighted'"
            )
        if adjusted and scale == "ratio":
            var_i = var_i / (exp_c / n) ** 2
        w = 1.0 / var_i
    W = np.array([w[arm_c == 0].sum(), w[arm_c == 1].sum()])
    m = np.array([np.sum(w[arm_c == a] * summ[arm_c == a]) / W[int(a)] for a in (0.0, 1.0)])
    s2 = float(np.sum(w * (summ - m[arm_c.astype(int)]) ** 2) / (G - 2))

    if scale == "difference":
        est = np.array([m[0], m[1] - m[0]])
        v0 = s2 / W[0]
        cov = np.array([[v0, -v0], [-v0, v0 + s2 / W[1]]])
    else:
        if (m <= 0).any():
            raise ModelError(
                f"an arm has no events (mean {_SUMMARY[family]} 0): the ratio is undefined; "
                "use scale='difference'"
            )
        est = np.array([np.log(m[0]), np.log(m[1] / m[0])])
        v0 = s2 / (W[0] * m[0] ** 2)
        cov = np.array([[v0, -v0], [-v0, v0 + s2 / (W[1] * m[1] ** 2)]])

    labels = design.cluster_labels
    rhs_text = f" (stage 1: {rhs})" if adjusted else ""
    return ModelResults(
        model="cluster-level",
        family=family,
        link="identity" if scale == "difference" else "log",
        formula=f"{_SUMMARY[family]} of {outcome} ~ {treatment}{rhs_text}",
        params=pd.Series(est, index=["Intercept", term]),
        cov=cov,
        df=float(df),
        nobs=design.nobs,
        n_clusters=G,
        n_estimated=2,
        scale=s2,
        df_method=f"t(clusters - 2 - {k} cluster-level covariates = {df})",
        extra={
            "effect": _EFFECT[(family, scale)],
            "summary": _SUMMARY[family] if not adjusted else f"{scale} residual",
            "weights": weights,
            "adjusted": adjusted,
            "cluster_level_covariates": k,
            "arms": {"reference": levels[0], "treated": levels[1]},
            "arm_means": {"reference": float(m[0]), "treated": float(m[1])},
            "cluster_summaries": dict(zip(labels.tolist(), summ.tolist(), strict=True)),
            "cluster_weights": dict(zip(labels.tolist(), w.tolist(), strict=True)),
            "between_var": s_b,
            "within_var": s_w,
            "stage1_params": stage1,
        },
    )


__all__ = ["cluster_level"]
