"""The plan's multiple imputation: one outcome imputed under MAR and analysed by its
own model, beside the complete-case analysis, with a tipping-point analysis.

``[missing_data.imputation]`` names the outcome (default: the primary), ``m``, the
seed and auxiliary columns (used to impute, not in the analysis model, e.g. an
earlier visit's value). The imputation model (:func:`odtrial.missing.impute`) holds
the response, the model's covariates, the auxiliaries and the arm, with a cluster
random intercept; each completed dataset is analysed exactly as the main analysis
(:func:`~odtrial.analysis.outcomes.fit_model`) and pooled by Rubin's rules with
Barnard-Rubin degrees of freedom. ``tipping_point`` shifts the imputed outcomes of
one arm (or both) by each delta (missing not at random) and finds where the
conclusion changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from odtrial.analysis.outcomes import (
    CLUSTER,
    TREAT,
    _term_columns,
    check_estimable,
    effect_dict,
    fit_model,
    followup_of,
    outcome_data,
    response_columns,
)
from odtrial.errors import ModelError, PlanError
from odtrial.models.results import ModelResults
from odtrial.plan.model import Outcome, Plan

#: The imputation model's arm: the real first arm's indicator, so that a blinded and an
#: unblinded report impute the same values (the analysis uses the displayed ``treat``).
REAL_ARM = "_real_arm"
#: Default delta scale by outcome type (odtrial.missing.delta_adjust's scales).
DEFAULT_SCALE = {"binary": "logit", "count": "log", "continuous": "identity"}


def imputation_outcome(pl: Plan) -> Outcome | None:
    """The outcome the plan imputes, or None without ``[missing_data.imputation]``."""
    if pl.imputation is None:
        return None
    oid = pl.imputation.get("outcome")
    return pl.primary if oid is None else pl.outcomes[str(oid)]


def _columns(pdata: pd.DataFrame, outcome: Outcome, auxiliaries: list[str]) -> list[str]:
    response, _ = response_columns(outcome, pdata.columns)
    covs = _term_columns(outcome.model.covariates, pdata.columns)
    missing = [a for a in auxiliaries if a not in pdata.columns]
    if missing:
        raise PlanError(
            f"missing_data.imputation.auxiliaries: {missing[0]!r} names no column of the "
            "analysis dataset"
        )
    return list(dict.fromkeys([response, *covs, *auxiliaries, REAL_ARM]))


def multiple_imputation(
    pdata: pd.DataFrame,
    pl: Plan,
    arms: tuple[str, ...],
    *,
    comparative: bool,
    complete_case: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The results block of the plan's multiple imputation (None when it has none).

    ``complete_case`` is the outcome's own (complete-case) effect, as the main analysis
    found it (None: not estimable), set beside the pooled one.

    In a report that does not compare arms (open) only the imputation's description
    and the missing counts are given."""
    outcome = imputation_outcome(pl)
    if outcome is None:
        return None
    assert pl.imputation is not None
    cfg: Mapping[str, Any] = pl.imputation
    aux = [str(a) for a in cfg.get("auxiliaries", ())]
    variables = _columns(pdata, outcome, aux)
    keep = [CLUSTER, "arm", TREAT, *variables[:-1], followup_of(outcome, pdata.columns)]
    frame = pdata[list(dict.fromkeys(keep))].copy()
    real = pdata["arm_real"] if "arm_real" in pdata.columns else pdata["arm"]
    frame[REAL_ARM] = (real.astype(str) == str(arms[0])).astype(float)
    for c in variables:  # booleans as 0/1: the engines take numbers
        if pd.api.types.is_bool_dtype(frame[c]) or str(frame[c].dtype) == "boolean":
            frame[c] = frame[c].astype("Float64").astype(float)
    block: dict[str, Any] = {
        "outcome": outcome.id,
        "label": outcome.label,
        "m": int(cfg["m"]),
        "seed": int(cfg["seed"]),
        "n_burn": int(cfg.get("n_burn", 200)),
        "n_between": int(cfg.get("n_between", 20)),
        "variables": variables,
        "auxiliaries": aux,
        "missing": {c: int(frame[c].isna().sum()) for c in variables},
        "n": len(frame),
    }
    if not comparative:
        return block
    methods = {str(k): str(v) for k, v in (cfg.get("methods") or {}).items()}
    unknown = sorted(set(methods) - set(variables))
    if unknown:
        raise PlanError(
            f"missing_data.imputation.methods.{unknown[0]}: not a column of the imputation "
            f"model ({', '.join(variables[:-1])})"
        )
    block["methods"] = methods
    try:
        return block | _impute_and_pool(frame, pdata, outcome, cfg, block, complete_case)
    except ModelError as e:  # an outcome the data cannot support: said, not fatal
        return block | {"note": f"not estimable: {e}", "complete_case": complete_case}


def _impute_and_pool(
    frame: pd.DataFrame,
    pdata: pd.DataFrame,
    outcome: Outcome,
    cfg: Mapping[str, Any],
    block: Mapping[str, Any],
    complete_case: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Impute, analyse each completed dataset and pool: the comparative part of the
    block. The observed responses must be able to estimate an arm effect at all
    (:func:`~odtrial.analysis.outcomes.check_estimable`): imputing from none, or from
    one arm, would only restate the imputation model's assumptions."""
    from odtrial.missing import impute

    variables, methods = block["variables"], block["methods"]
    response = variables[0]
    _, event = response_columns(outcome, pdata.columns)
    seen = frame[frame[response].notna()]
    check_estimable(
        seen, outcome.type, response=response, n_total=len(frame),
        event=event if event in frame.columns else None,
    )  # fmt: skip
    imps = impute(
        frame,
        cluster=CLUSTER,
        m=int(cfg["m"]),
        seed=int(cfg["seed"]),
        variables=variables,
        methods=methods or None,
        n_burn=block["n_burn"],
        n_between=block["n_between"],
    )

    def fitter(formula: str, data: pd.DataFrame, **_: Any) -> ModelResults:
        od = outcome_data(data, outcome)
        return fit_model(od, outcome.type, outcome.model)

    pooled = imps.fit(fitter, "")
    effect = effect_dict(pooled, outcome.type)
    i = list(pooled.names).index(TREAT)
    effect["fmi"] = float(pooled.fmi.to_numpy()[i])
    effect["riv"] = float(pooled.riv.to_numpy()[i])
    out: dict[str, Any] = {
        "imputed": list(imps.imputed_columns),
        "convergence": _convergence(imps),
        "observed_vs_imputed": _observed_vs_imputed(imps, frame),
        "pooled": effect,
        "complete_case": complete_case,
        "n_complete": int(pdata[response].notna().sum()),
    }
    tp = cfg.get("tipping_point")
    if tp is not None:
        out["tipping_point"] = _tipping(imps, fitter, outcome, response, tp)
    return out


def _convergence(imps: Any) -> list[dict[str, Any]]:
    """Split-R-hat of each imputed variable's traced statistics over the chains."""
    from odtrial.missing import convergence

    table = convergence(imps)
    return [
        {
            "variable": str(r["variable"]),
            "statistic": str(r["statistic"]),
            "rhat": float(r["rhat"]),
            "chains": int(r["chains"]),
            "iterations": int(r["iterations"]),
            "converged": bool(r["converged"]),
        }
        for _, r in table.iterrows()
    ]


def _observed_vs_imputed(imps: Any, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Per imputed column: the mean of the observed values and of the imputed ones
    (over all imputations); a binary column's means are proportions."""
    out = []
    for name in imps.imputed_columns:
        rows = imps.missing_rows[name]
        imputed = np.concatenate([d[name].to_numpy(dtype=float)[rows] for d in imps.datasets])
        observed = frame[name].dropna().to_numpy(dtype=float)
        out.append(
            {
                "variable": name,
                "n_observed": len(observed),
                "n_imputed": len(rows),
                "observed_mean": float(observed.mean()) if len(observed) else None,
                "imputed_mean": float(imputed.mean()) if len(imputed) else None,
            }
        )
    return out


def _tipping(
    imps: Any, fitter: Any, outcome: Outcome, response: str, tp: Mapping[str, Any]
) -> dict[str, Any]:
    from odtrial.missing import tipping_point

    shift = str(tp.get("shift", "intervention"))
    scale = str(tp.get("scale", DEFAULT_SCALE[outcome.type]))
    by, levels = (None, None) if shift == "both" else (TREAT, 1 if shift == "intervention" else 0)
    res = tipping_point(
        imps,
        fitter,
        "",
        column=response,
        term=TREAT,
        deltas=[float(d) for d in tp["deltas"]],
        by=by,
        shift=levels,
        scale=scale,
    )
    log_scale = outcome.type in ("binary", "count")
    tr = np.exp if log_scale else (lambda v: v)
    rows = [
        {
            "delta": float(r["delta"]),
            "estimate": float(tr(r["estimate"])),
            "ci_lower": float(tr(r["ci_lower"])),
            "ci_upper": float(tr(r["ci_upper"])),
            "p_value": float(r["p_value"]),
        }
        for _, r in res.table.sort_values("delta").iterrows()
    ]
    points = res.tipping_points
    return {
        "shift": shift,
        "scale": scale,
        "log_scale": log_scale,
        "rows": rows,
        "tipping_point": res.tipping_point,
        "below": points["below"],
        "above": points["above"],
    }
