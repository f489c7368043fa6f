"""The SAP's sensitivity analyses.

``gee``
    :func:`~odtrial.models.fit_gee` with the outcome's covariates and the
    SAP's ``cov_struct``/``cov_type`` (t on clusters − parameters df).
``cluster-level``
    :func:`~odtrial.models.cluster_level`: the outcome's covariates in the
    first stage, ``weights``/``scale`` from the SAP.
``unadjusted``
    The outcome's main model with the treatment as the only term.
``glmm`` / ``lmm``
    The main model with the options (and ``covariates``, if given) replaced.
``permutation``
    :func:`~odtrial.randomise.permutation_test` over the constrained space
    regenerated with :func:`~odtrial.randomise.constrained` from the freeze's
    cluster table (strata: catchment; balance: list size and IMD score;
    ``cutoff`` default 0.1; seeded). When the stratified space is too large to
    enumerate it is sampled, and the allocation actually used is added to the
    reference set if the sample missed it (the observed allocation always
    belongs to its own randomisation distribution); the note says so.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from odtrial.analysis.outcomes import (
    CLUSTER,
    GEE_FAMILY,
    TREAT,
    effect_dict,
    effect_of,
    fit_model,
    outcome_data,
)
from odtrial.errors import OdtrialError, PlanError
from odtrial.plan.model import ModelSpec, Outcome, Sensitivity

DEFAULT_CUTOFF = 0.1
BALANCE = ("list_size", "imd_score")


def _diag(res: Any) -> dict[str, Any]:
    return res.diagnostics.to_dict()


def run_sensitivity(
    sens: Sensitivity,
    outcome: Outcome,
    dataset: pd.DataFrame,
    *,
    clusters: pd.DataFrame,
    arms: tuple[str, str],
    flip: bool,
    seed: int,
) -> dict[str, Any]:
    """Run one sensitivity analysis; ``arms`` are the real arms (intervention first) and
    ``flip`` says the displayed first arm is the control (signs of statistics flip)."""
    opts = dict(sens.options)
    base: dict[str, Any] = {
        "id": sens.id,
        "outcome": sens.outcome,
        "label": sens.label,
        "method": sens.method,
        "options": opts,
        "effect": None,
        "p_value": None,
        "diagnostics": None,
        "note": "",
    }
    try:
        if sens.method == "gee":
            return base | _gee(sens, outcome, dataset, opts)
        if sens.method == "cluster-level":
            return base | _cluster_level(outcome, dataset, opts)
        if sens.method in ("unadjusted", "glmm", "lmm"):
            return base | _refit(sens, outcome, dataset, opts)
        if sens.method == "permutation":
            return base | _permutation(outcome, dataset, clusters, arms, flip, seed, opts)
    except OdtrialError as e:  # a failed sensitivity fit is reported, not fatal
        return base | {"note": f"not estimable: {e}"}
    raise PlanError(f"sensitivity {sens.id}: method {sens.method!r} is not supported")


def _gee(
    sens: Sensitivity, outcome: Outcome, dataset: pd.DataFrame, opts: dict[str, Any]
) -> dict[str, Any]:
    if outcome.type not in GEE_FAMILY:
        raise PlanError(f"sensitivity {sens.id}: GEE is not available for a {outcome.type} outcome")
    od = outcome_data(dataset, outcome)
    spec = ModelSpec("gee", opts.get("family"), outcome.model.covariates, opts)
    res = fit_model(od, outcome.type, spec)
    return {
        "effect": effect_dict(res, outcome.type),
        "p_value": float(res.pvalues[TREAT]),
        "diagnostics": _diag(res),
        "n_analysed": res.nobs,
        "n_clusters": res.n_clusters,
        "formula": res.formula,
        "note": f"working correlation {res.extra.get('cov_struct')}, alpha = {float(res.extra.get('alpha', np.nan)):.4f}; "
        f"{res.extra.get('cov_type')} sandwich; t on {float(res.df[TREAT]):g} df",
    }


def _cluster_level(outcome: Outcome, dataset: pd.DataFrame, opts: dict[str, Any]) -> dict[str, Any]:
    from odtrial.models import cluster_level

    if outcome.type not in GEE_FAMILY:
        raise PlanError(f"cluster-level analysis is not available for a {outcome.type} outcome")
    od = outcome_data(dataset, outcome)
    rhs = " + ".join(outcome.model.covariates) or "1"
    family = GEE_FAMILY[outcome.type]
    res = cluster_level(
        f"{od.response} ~ {rhs}", od.frame, cluster=CLUSTER, treatment=TREAT, family=family,  # type: ignore[arg-type]
        weights=str(opts.get("weights", "unweighted")),  # type: ignore[arg-type]
        scale=opts.get("scale"),
    )  # fmt: skip
    measure = str(res.extra.get("effect", "difference"))
    log_scale = res.link == "log"
    abbrev = {"risk difference": "RD", "mean difference": "MD", "rate difference": "RD",
              "risk ratio": "RR", "rate ratio": "RR"}.get(measure, "")  # fmt: skip
    return {
        "effect": effect_of(res, measure=measure, abbrev=abbrev, log_scale=log_scale),
        "p_value": float(res.pvalues[TREAT]),
        "diagnostics": _diag(res),
        "n_analysed": res.nobs,
        "n_clusters": res.n_clusters,
        "note": f"{res.extra.get('weights', opts.get('weights', 'unweighted'))} cluster summaries, "
        f"two-stage adjustment for {rhs}; t on {float(res.df[TREAT]):g} df",
    }


def _refit(
    sens: Sensitivity, outcome: Outcome, dataset: pd.DataFrame, opts: dict[str, Any]
) -> dict[str, Any]:
    spec = outcome.model
    covs: tuple[str, ...] = ()
    if sens.method == "unadjusted":
        new_spec = replace(spec, covariates=())
    else:
        if sens.method != spec.kind:
            raise PlanError(
                f"sensitivity {sens.id}: method {sens.method!r} differs from the outcome's model {spec.kind!r}"
            )
        covs = tuple(opts.get("covariates", spec.covariates))
        merged = {
            **spec.options,
            **{k: v for k, v in opts.items() if k not in ("covariates", "family")},
        }
        new_spec = ModelSpec(spec.kind, opts.get("family", spec.family), covs, merged)
    od = outcome_data(dataset, outcome, covariates=new_spec.covariates)
    res = fit_model(od, outcome.type, new_spec)
    return {
        "effect": effect_dict(res, outcome.type),
        "p_value": float(res.pvalues[TREAT]),
        "diagnostics": _diag(res),
        "n_analysed": res.nobs,
        "n_clusters": res.n_clusters,
        "formula": res.formula,
        "note": f"{new_spec.kind} {res.family}, {res.df_method} df; covariates: "
        + (", ".join(new_spec.covariates) or "none"),
    }


def _permutation(
    outcome: Outcome,
    dataset: pd.DataFrame,
    clusters: pd.DataFrame,
    arms: tuple[str, str],
    flip: bool,
    seed: int,
    opts: dict[str, Any],
) -> dict[str, Any]:
    from odtrial.randomise import constrained, permutation_test

    if outcome.type not in GEE_FAMILY:
        raise PlanError(f"the permutation test is not available for a {outcome.type} outcome")
    cutoff = float(opts.get("cutoff", DEFAULT_CUTOFF))
    absent = [c for c in ("cluster_id", "catchment", *BALANCE) if c not in clusters.columns]
    if absent:
        raise PlanError(
            f"the freeze's cluster table has no column {absent[0]!r} to rebuild the space"
        )
    table = pd.DataFrame(
        {
            "id": clusters["cluster_id"].astype(str),
            "catchment": clusters["catchment"].astype(str),
            **{b: clusters[b].astype(float) for b in BALANCE},
        }
    )
    alloc = constrained(
        table, id="id", strata="catchment", balance=list(BALANCE), seed=int(seed),
        cutoff=cutoff, arms=arms,
    )  # fmt: skip
    frame = alloc.constrained_frame()
    ids = list(alloc.space.cluster_ids)
    real_arm = dict(
        zip(clusters["cluster_id"].astype(str), clusters["arm_real"].astype(str), strict=True)
    )
    observed = np.array([1 if real_arm[c] == arms[0] else 0 for c in ids], dtype=np.int8)
    in_space = bool((frame[ids].to_numpy() == observed).all(axis=1).any())
    space = frame[ids]
    if not in_space:
        space = pd.concat([space, pd.DataFrame([observed], columns=ids)], ignore_index=True)
    od = outcome_data(dataset, outcome)
    data = od.frame.assign(_arm=od.frame[CLUSTER].astype(str).map(real_arm))
    res = permutation_test(
        data, outcome=od.response, cluster=CLUSTER, arm="_arm", space=space,
        covariates=list(outcome.model.covariates), family=GEE_FAMILY[outcome.type], arms=arms,
    )  # fmt: skip
    stat = -res.statistic if flip else res.statistic
    size = {
        "n_stratified": alloc.space.n_stratified,
        "enumerated": alloc.space.enumerated,
        "n_candidates": alloc.space.size,
        "n_constrained": alloc.n_constrained,
        "cutoff": cutoff,
        "observed_in_constrained_space": in_space,
        "n_reference": res.n_allocations,
        "strata": "catchment",
        "balance": list(BALANCE),
        "seed": int(seed),
    }
    how = "enumerated" if alloc.space.enumerated else f"a seeded sample of {alloc.space.size:,}"
    note = (
        f"constrained space regenerated from {how} of {alloc.space.n_stratified:,} stratified allocations, "
        f"best {cutoff:.0%} kept ({alloc.n_constrained:,} allocations)"
        + ("" if in_space else "; the allocation actually used was added to the reference set")
        + f"; statistic = mean cluster residual difference {stat:.4f}"
    )
    return {"p_value": res.pvalue, "statistic": stat, "space": size, "note": note,
            "n_analysed": len(od.frame), "n_clusters": int(od.frame[CLUSTER].nunique())}  # fmt: skip


__all__ = ["run_sensitivity"]
