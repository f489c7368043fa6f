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
    :func:`~odtrial.randomise.permutation_test` over the constrained space the
    trial was randomised from: the randomisation record that ingest verified
    and copied into the freeze (its log is verified again here, against the
    head hash in the freeze manifest, and the allocation used must be a member
    of that space). A freeze without a record (a trial allocated outside
    odtrial) falls back to a space regenerated with
    :func:`~odtrial.randomise.constrained` from the freeze's cluster table
    (strata and balance columns: the trial definition's ``[randomisation]``
    ``strata`` and ``balance``; ``cutoff`` default 0.1; the analysis seed); the
    allocation used is added to that reference set if absent, and the note says
    which space was used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from odtrial._words import count
from odtrial.analysis.outcomes import (
    CLUSTER,
    GEE_FAMILY,
    TREAT,
    OutcomeData,
    check_estimable,
    covariate_labels,
    effect_dict,
    effect_of,
    fit_model,
    outcome_data,
)
from odtrial.errors import OdtrialError, PlanError
from odtrial.plan.model import ModelSpec, Outcome, Sensitivity

DEFAULT_CUTOFF = 0.1


@dataclass(frozen=True)
class AllocationDesign:
    """The cluster columns an allocation was stratified by and balanced on."""

    strata: str
    balance: tuple[str, ...]


@dataclass(frozen=True)
class RecordRef:
    """The randomisation record inside a freeze, with the log head its manifest names."""

    folder: Path
    log_head: str


def _fitted(res: Any, effect: dict[str, Any], *, formula: bool = True) -> dict[str, Any]:
    """The parts of a sensitivity row every fitted model gives."""
    out = {
        "effect": effect,
        "p_value": float(res.pvalues[TREAT]),
        "diagnostics": res.diagnostics.to_dict(),
        "n_analysed": res.nobs,
        "n_clusters": res.n_clusters,
    }
    return out | {"formula": res.formula} if formula else out


def run_sensitivity(
    sens: Sensitivity,
    outcome: Outcome,
    dataset: pd.DataFrame,
    *,
    clusters: pd.DataFrame,
    arms: tuple[str, str],
    flip: bool,
    seed: int,
    record: RecordRef | None = None,
    allocation: AllocationDesign | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run one sensitivity analysis; ``arms`` are the real arms (intervention first) and
    ``flip`` says the displayed first arm is the control (signs of statistics flip);
    ``record`` is the freeze's randomisation record, if it has one; ``allocation``
    (from the trial definition) rebuilds the permutation space when there is none;
    ``labels`` name the adjustment covariates in the notes (column -> label)."""
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
            return base | _cluster_level(outcome, dataset, opts, labels or {})
        if sens.method in ("unadjusted", "glmm", "lmm"):
            return base | _refit(sens, outcome, dataset, opts, labels or {})
        if sens.method == "permutation":
            return base | _permutation(
                outcome, dataset, clusters, arms, flip, seed, opts, record, allocation
            )
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
    return _fitted(res, effect_dict(res, outcome.type)) | {
        "note": f"working correlation {res.extra.get('cov_struct')}, alpha = {float(res.extra.get('alpha', np.nan)):.4f}; "
        f"{res.extra.get('cov_type')} sandwich; t on {float(res.df[TREAT]):g} df",
    }


def _adjusted_for(terms: tuple[str, ...], labels: Mapping[str, str]) -> str:
    # in running text: "regions (strata)", but "PHQ-9 score" and "IMD score" as they are
    names = [
        n if n[:2].isupper() else n[:1].lower() + n[1:] for n in covariate_labels(terms, labels)
    ]
    if not names:
        return "none"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _cluster_level(
    outcome: Outcome, dataset: pd.DataFrame, opts: dict[str, Any], labels: Mapping[str, str]
) -> dict[str, Any]:
    from odtrial.models import cluster_level

    if outcome.type not in GEE_FAMILY:
        raise PlanError(f"cluster-level analysis is not available for a {outcome.type} outcome")
    od = outcome_data(dataset, outcome)
    _check(od, outcome)
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
    effect = effect_of(res, measure=measure, abbrev=abbrev, log_scale=log_scale)
    return _fitted(res, effect, formula=False) | {
        "note": f"{res.extra.get('weights', opts.get('weights', 'unweighted'))} cluster summaries, "
        f"two-stage adjustment for {_adjusted_for(outcome.model.covariates, labels)}; "
        f"t on {float(res.df[TREAT]):g} df",
    }


def _refit(
    sens: Sensitivity,
    outcome: Outcome,
    dataset: pd.DataFrame,
    opts: dict[str, Any],
    labels: Mapping[str, str],
) -> dict[str, Any]:
    spec = outcome.model
    if sens.method == "unadjusted":
        new_spec = replace(spec, covariates=())
    else:
        if sens.method != spec.kind:
            raise PlanError(
                f"sensitivity {sens.id}: method {sens.method!r} differs from the outcome's model {spec.kind!r}"
            )
        merged = {
            **spec.options,
            **{k: v for k, v in opts.items() if k not in ("covariates", "family")},
        }
        covs = tuple(opts.get("covariates", spec.covariates))
        new_spec = ModelSpec(spec.kind, opts.get("family", spec.family), covs, merged)
    od = outcome_data(dataset, outcome, covariates=new_spec.covariates)
    res = fit_model(od, outcome.type, new_spec)
    return _fitted(res, effect_dict(res, outcome.type)) | {
        "note": f"{new_spec.kind} {res.family}, {res.df_method} df; covariates: "
        + _adjusted_for(new_spec.covariates, labels),
    }


def _permutation(
    outcome: Outcome,
    dataset: pd.DataFrame,
    clusters: pd.DataFrame,
    arms: tuple[str, str],
    flip: bool,
    seed: int,
    opts: dict[str, Any],
    record: RecordRef | None,
    allocation: AllocationDesign | None,
) -> dict[str, Any]:
    from odtrial.randomise import permutation_test

    if outcome.type not in GEE_FAMILY:
        raise PlanError(f"the permutation test is not available for a {outcome.type} outcome")
    od = outcome_data(dataset, outcome)
    _check(od, outcome)
    real_arm = dict(
        zip(clusters["cluster_id"].astype(str), clusters["arm_real"].astype(str), strict=True)
    )
    if record is not None:
        space, size, how = _recorded_space(record, arms, real_arm)
    else:
        space, size, how = _regenerated_space(clusters, arms, real_arm, seed, opts, allocation)
    data = od.frame.assign(_arm=od.frame[CLUSTER].astype(str).map(real_arm))
    res = permutation_test(
        data, outcome=od.response, cluster=CLUSTER, arm="_arm", space=space,
        covariates=list(outcome.model.covariates), family=GEE_FAMILY[outcome.type], arms=arms,
    )  # fmt: skip
    stat = -res.statistic if flip else res.statistic
    size["n_reference"] = res.n_allocations
    note = f"{how}; statistic = mean cluster residual difference {stat:.4f}"
    return {"p_value": res.pvalue, "statistic": stat, "space": size, "note": note,
            "n_analysed": len(od.frame), "n_clusters": int(od.frame[CLUSTER].nunique())}  # fmt: skip


def _check(od: OutcomeData, outcome: Outcome) -> None:
    """The outcome's estimability check (the model fits make it themselves)."""
    check_estimable(
        od.frame, outcome.type, response=od.response, event=od.event,
        n_total=len(od.frame) + sum(od.exclusions.values()),
    )  # fmt: skip


def _observed(ids: list[str], arms: tuple[str, str], real_arm: dict[str, str]) -> np.ndarray:
    missing = [c for c in ids if c not in real_arm]
    if missing:
        raise PlanError(f"cluster {missing[0]!r} of the constrained space is not in the freeze")
    return np.array([1 if real_arm[c] == arms[0] else 0 for c in ids], dtype=np.int8)


def _recorded_space(
    record: RecordRef, arms: tuple[str, str], real_arm: dict[str, str]
) -> tuple[pd.DataFrame, dict[str, Any], str]:
    from odtrial.randomise.log import load_constrained_space

    frame, v = load_constrained_space(record.folder, expect_head=record.log_head)
    if v.arms != arms:
        raise PlanError(f"{record.folder}: the record's arms {list(v.arms)} are not {list(arms)}")
    ids = [c for c in frame.columns if c not in ("row", "score", "chosen")]
    observed = _observed(ids, arms, real_arm)
    if not (frame[ids].to_numpy() == observed).all(axis=1).any():
        raise PlanError(
            f"{record.folder}: the allocation in the freeze is not in the recorded constrained space"
        )
    sp = v.space
    size = {
        "source": "randomisation record",
        "log_head": v.head,
        "n_stratified": int(sp["n_stratified"]),
        "enumerated": bool(sp["enumerated"]),
        "n_candidates": int(sp["n_candidates"]),
        "n_constrained": int(sp["n_constrained"]),
        "cutoff": float(v.parameters["cutoff"]),
        "observed_in_constrained_space": True,
        "strata": str(v.parameters["strata"]),
        "balance": list(v.parameters["balance"]),
        # not the randomisation seed: with the cluster table it re-creates the allocation
    }
    drawn = (
        "all" if sp["enumerated"] else f"a sample of {int(sp['n_candidates']):,}"
    ) + f" of {count(int(sp['n_stratified']), 'stratified allocation')}"
    how = (
        f"constrained space of the randomisation record (log head {v.head[:12]}, verified): "
        f"{drawn}, best {float(v.parameters['cutoff']):.0%} kept "
        f"({count(int(sp['n_constrained']), 'allocation')}, the one used among them)"
    )
    return frame[ids], size, how


def _regenerated_space(
    clusters: pd.DataFrame,
    arms: tuple[str, str],
    real_arm: dict[str, str],
    seed: int,
    opts: dict[str, Any],
    allocation: AllocationDesign | None,
) -> tuple[pd.DataFrame, dict[str, Any], str]:
    from odtrial.randomise import constrained

    if allocation is None or not allocation.balance:
        raise PlanError(
            "no randomisation record in the freeze, and the trial definition declares no "
            "randomisation.strata and randomisation.balance to rebuild the space from"
        )
    strata, balance = allocation.strata, list(allocation.balance)
    cutoff = float(opts.get("cutoff", DEFAULT_CUTOFF))
    absent = [c for c in ("cluster_id", strata, *balance) if c not in clusters.columns]
    if absent:
        raise PlanError(
            f"the freeze's cluster table has no column {absent[0]!r} to rebuild the space"
        )
    table = pd.DataFrame(
        {
            "id": clusters["cluster_id"].astype(str),
            strata: clusters[strata].astype(str),
            **{b: clusters[b].astype(float) for b in balance},
        }
    )
    alloc = constrained(
        table, id="id", strata=strata, balance=balance, seed=int(seed),
        cutoff=cutoff, arms=arms,
    )  # fmt: skip
    frame = alloc.constrained_frame()
    ids = list(alloc.space.cluster_ids)
    observed = _observed(ids, arms, real_arm)
    in_space = bool((frame[ids].to_numpy() == observed).all(axis=1).any())
    space = frame[ids]
    if not in_space:
        space = pd.concat([space, pd.DataFrame([observed], columns=ids)], ignore_index=True)
    size = {
        "source": "regenerated",
        "n_stratified": alloc.space.n_stratified,
        "enumerated": alloc.space.enumerated,
        "n_candidates": alloc.space.size,
        "n_constrained": alloc.n_constrained,
        "cutoff": cutoff,
        "observed_in_constrained_space": in_space,
        "strata": strata,
        "balance": balance,
        "seed": int(seed),
    }
    drawn = "enumerated" if alloc.space.enumerated else f"a seeded sample of {alloc.space.size:,}"
    how = (
        "no randomisation record in the freeze: constrained space regenerated from "
        f"{drawn} of {count(alloc.space.n_stratified, 'stratified allocation')}, "
        f"best {cutoff:.0%} kept ({count(alloc.n_constrained, 'allocation')})"
        + ("" if in_space else "; the allocation actually used was added to the reference set")
    )
    return space, size, how


__all__ = ["AllocationDesign", "RecordRef", "run_sensitivity"]
