"""Fitting each SAP outcome's model and describing it for ``results.json``.

Conventions (all outcomes):

* ``treat`` is the indicator of the first displayed arm (see
  :mod:`odtrial.analysis.blinding`), so effects read first arm versus second.
* The analysis set is the complete cases of the response and the covariates
  (likelihood-based analysis under missing at random given the covariates);
  the rows dropped are counted in ``exclusions``.
* binary: :func:`~odtrial.models.glmm.fit_glmm` binomial with the SAP's
  ``df``/``nagq``; odds ratio; absolute difference = standardised risk
  difference from :func:`~odtrial.models.glmm.marginal_effects`; ICC on the
  latent scale.
* count: ``fit_glmm`` negative binomial, offset ``log(followup_days/365.25)``
  for ``offset = "log_followup_years"``, the follow-up days of the outcome's own
  window (people with 0 follow-up days have no time at risk and are excluded);
  rate ratio; absolute difference = the
  difference of the arms' mean cluster rates per person-year (unweighted
  cluster summaries, t interval on clusters − 2 df: it does not depend on the
  model); ICC by one-way ANOVA on the counts.
* continuous: :func:`~odtrial.models.fit_lmm` with the SAP's ``df`` as ``ddf``;
  mean difference; ICC by one-way ANOVA (continuous scale).
* time-to-event: :func:`~odtrial.models.cox.fit_cox` with the cluster-robust
  sandwich (small-sample corrected; ``cov_type`` from the SAP if given); hazard
  ratio; no absolute difference; ICC of the event indicator (proportion scale,
  ANOVA), a description of clustering only.

An outcome whose analysed rows cannot identify an arm effect (none at all, one arm
only, fewer than :data:`MIN_CLUSTERS_PER_ARM` clusters with data in an arm, no events
or only events) is not estimable: :func:`check_estimable` raises a
:class:`~odtrial.errors.ModelError` saying why, before any model is fitted, and
every analysis of the outcome reports it as not estimable instead of failing.

ICCs are estimated on the analysed rows without covariates or treatment
(:func:`~odtrial.models.icc`), the quantity a future trial's sample size uses.
``summary_by_arm[arm]["value"]`` is the proportion (binary), the mean
(continuous) or the rate per person-year (count, time-to-event: person-time
ends at the event or censoring).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy import stats

from odtrial._words import count, noun
from odtrial.errors import ModelError, PlanError
from odtrial.models.results import ModelResults
from odtrial.plan.model import ModelSpec, Outcome

CLUSTER = "cluster_id"
TREAT = "treat"
FOLLOWUP_OFFSET = "log_followup_years"
DAYS_PER_YEAR = 365.25

EFFECTS: dict[str, tuple[str, str, bool]] = {
    # outcome type -> (measure, abbreviation, estimated on the log scale)
    "binary": ("odds ratio", "OR", True),
    "count": ("rate ratio", "RR", True),
    "time-to-event": ("hazard ratio", "HR", True),
    "continuous": ("mean difference", "MD", False),
}
GEE_FAMILY = {"binary": "binomial", "count": "poisson", "continuous": "gaussian"}
#: Clusters with data each arm needs: with one, the arm effect is confounded with that
#: cluster's effect (between-cluster degrees of freedom 0).
MIN_CLUSTERS_PER_ARM = 2


@dataclass(frozen=True)
class OutcomeData:
    """The rows and columns one outcome's model uses."""

    frame: pd.DataFrame  # complete cases, with ``treat``, response and offset columns
    response: str  # response column (duration for time-to-event)
    event: str | None  # event column (time-to-event only)
    covariates: tuple[str, ...]  # formula terms
    offset: str | None  # offset column in ``frame``
    exclusions: Mapping[str, int] = field(default_factory=dict)


def _term_columns(terms: tuple[str, ...], columns: pd.Index) -> list[str]:
    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", " ".join(terms)))
    return [c for c in columns if c in names]


# Names in a formula term that are not columns: functions and transforms (``C(...)``,
# ``np.log(...)``), keyword arguments (``Treatment(reference=...)``) and quoted levels.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?!\w)(?!\s*[.(])(?!\s*=(?!=))")
# structural columns of the analysis dataset: never an adjustment covariate
_STRUCTURE = frozenset({CLUSTER, TREAT, "arm", "arm_real"})


def term_names(term: str) -> list[str]:
    """The column names a formula term uses (``C(zone)`` -> ``zone``, ``np.log(x + 1)`` ->
    ``x``, ``C(site, Treatment(reference='S1'))`` -> ``site``)."""
    return list(dict.fromkeys(_NAME.findall(_QUOTED.sub("", term))))


def covariate_errors(terms: tuple[str, ...] | list[str], columns: pd.Index, key: str) -> list[str]:
    """One line per term naming something that is not a column of the dataset, with its
    key path (``key[i]``), the nearest term that would be (did you mean), else the
    columns there are."""
    have = [str(c) for c in columns]
    usable = sorted(c for c in have if c not in _STRUCTURE)
    out = []
    for i, t in enumerate(terms):
        unknown = [n for n in term_names(str(t)) if n not in have]
        if not unknown:
            continue
        fixed = str(t)
        for n in unknown:
            close = difflib.get_close_matches(n, usable, n=1, cutoff=0.6)
            fixed = re.sub(rf"(?<![\w.]){re.escape(n)}(?!\w)", close[0], fixed) if close else ""
            if not fixed:
                break
        tail = f"; did you mean {fixed!r}?" if fixed else f" (columns: {', '.join(usable)})"
        out.append(f"key '{key}[{i}]' names no column of the analysis dataset: {str(t)!r}{tail}")
    return out


def covariate_labels(terms: tuple[str, ...] | list[str], labels: Mapping[str, str]) -> list[str]:
    """How a report names each adjustment term: the label of its column (a term that is
    the column or ``C(column)``) from ``labels``, else that column's name with spaces
    for underscores; any other term (a transform, an interaction) as written."""
    out = []
    for t in terms:
        names = term_names(str(t))
        if len(names) == 1 and str(t).replace(" ", "") in (names[0], f"C({names[0]})"):
            out.append(labels.get(names[0]) or names[0].replace("_", " "))
        else:
            out.append(str(t))
    return out


def response_columns(outcome: Outcome, columns: pd.Index) -> tuple[str, str | None]:
    """The dataset column(s) of an outcome: ``id`` itself, or ``id_days``/``id_event``."""
    if outcome.type == "time-to-event":
        dur, ev = f"{outcome.id}_days", f"{outcome.id}_event"
        if dur not in columns or ev not in columns:
            raise PlanError(
                f"outcomes.{outcome.id}: time-to-event outcome needs columns {dur!r} and {ev!r} in the analysis dataset"
            )
        return dur, ev
    if outcome.id not in columns:
        raise PlanError(f"outcomes.{outcome.id}: no column {outcome.id!r} in the analysis dataset")
    return outcome.id, None


def followup_of(outcome: Outcome, columns: pd.Index) -> str:
    """The dataset column of the outcome's follow-up days: its own (``<id>_followup_days``,
    when its derivation is censored), else its window's (``followup_days_<M>m``) when it
    has one, else the default window's."""
    censored = f"{outcome.id}_followup_days"
    if censored in columns:
        return censored
    months = outcome.derivation.window_months
    own = f"followup_days_{months}m"
    return own if months is not None and own in columns else "followup_days"


def outcome_data(
    dataset: pd.DataFrame, outcome: Outcome, covariates: tuple[str, ...] | None = None
) -> OutcomeData:
    """Select the complete cases of an outcome's response and covariates.

    Boolean columns become 0/1 integers and nullable integers plain ones (the engines
    take numpy numbers); ``followup_days`` holds the outcome window's follow-up days."""
    covs = outcome.model.covariates if covariates is None else covariates
    response, event = response_columns(outcome, dataset.columns)
    used = [CLUSTER, TREAT, "arm", response, *([event] if event else [])]
    bad = covariate_errors(covs, dataset.columns, f"outcomes.{outcome.id}.model.covariates")
    if bad:
        more = f" (and {len(bad) - 1} more; 'odtrial check' lists them)" if len(bad) > 1 else ""
        raise PlanError(bad[0] + more)
    cov_cols = [c for c in _term_columns(covs, dataset.columns) if c not in used]
    frame = dataset[list(dict.fromkeys([*used, *cov_cols]))].copy()
    frame["followup_days"] = dataset[followup_of(outcome, dataset.columns)]
    exclusions: dict[str, int] = {}
    miss_y = frame[response].isna() | (frame[event].isna() if event else False)
    exclusions["outcome_missing"] = int(miss_y.sum())
    miss_x = frame[cov_cols].isna().any(axis=1) & ~miss_y
    exclusions["covariate_missing"] = int(miss_x.sum())
    keep = ~(miss_y | miss_x)
    offset = None
    off_opt = outcome.model.options.get("offset")
    if off_opt is not None:
        if off_opt != FOLLOWUP_OFFSET:
            raise PlanError(
                f"outcomes.{outcome.id}.model.offset: only {FOLLOWUP_OFFSET!r} is supported, got {off_opt!r}"
            )
        zero = keep & (frame["followup_days"] <= 0)
        exclusions["zero_followup"] = int(zero.sum())
        keep &= ~zero
        offset = "_offset"
    frame = frame.loc[keep].reset_index(drop=True)
    for c in frame.columns:
        if pd.api.types.is_bool_dtype(frame[c]):
            frame[c] = frame[c].astype("int64")
        elif isinstance(frame[c].dtype, pd.Int64Dtype) and frame[c].notna().all():
            frame[c] = frame[c].astype("int64")
    if offset:
        frame[offset] = np.log(frame["followup_days"].to_numpy(dtype=float) / DAYS_PER_YEAR)
    return OutcomeData(frame, response, event, tuple(covs), offset, exclusions)


def check_estimable(
    frame: pd.DataFrame,
    outcome_type: str,
    *,
    response: str,
    event: str | None = None,
    n_total: int | None = None,
    treatment: bool = True,
) -> None:
    """Refuse, with the reason, analysed rows that cannot estimate an arm effect.

    ``frame`` holds the rows analysed (``cluster_id``, ``treat``, the response and
    the event column); ``n_total`` is the number of participants they came from.
    The reasons name no arm, so they are safe in blinded and open reports.

    Raises
    ------
    ModelError
        No rows; (with ``treatment``) rows in one arm only or fewer than
        :data:`MIN_CLUSTERS_PER_ARM` clusters with data in an arm; a binary or
        time-to-event outcome with no events or only events.
    """
    n = len(frame)
    if n == 0:
        among = "" if n_total is None else f" among the {count(n_total, 'participant')}"
        raise ModelError(f"no observed values{among} of the analysis dataset")
    if treatment:
        per_arm = frame.groupby(TREAT)[CLUSTER].nunique()
        if len(per_arm) < 2:
            raise ModelError(f"{count(n, 'participant')} observed, all in one arm")
        if int(per_arm.min()) < MIN_CLUSTERS_PER_ARM:
            raise ModelError(
                f"an arm has fewer than {MIN_CLUSTERS_PER_ARM} clusters with observed values, "
                "so the arm effect cannot be told apart from the clusters' own "
                f"({' and '.join(str(int(k)) for k in per_arm.sort_values())} "
                f"{noun(int(per_arm.max()), 'cluster')} with data)"
            )
    if outcome_type in ("binary", "count", "time-to-event"):
        ev = frame[event if event is not None else response].astype(float)
        k = int((ev > 0).sum())
        if k == 0 or (outcome_type == "binary" and k == n):
            raise ModelError(
                f"{'no' if k == 0 else 'every'} participant had the event ({n:,} observed)"
            )


def formula(od: OutcomeData, *, treatment: bool = True) -> str:
    rhs = [TREAT] if treatment else []
    rhs += list(od.covariates)
    if od.event is not None:
        return "~ " + (" + ".join(rhs) if rhs else "1")
    return f"{od.response} ~ " + (" + ".join(rhs) if rhs else "1")


def fit_model(
    od: OutcomeData, outcome_type: str, spec: ModelSpec, *, treatment: bool = True
) -> ModelResults:
    """Fit the SAP's model for one outcome (see the module notes); an outcome
    :func:`check_estimable` refuses raises its :class:`~odtrial.errors.ModelError`."""
    check_estimable(
        od.frame, outcome_type, response=od.response, event=od.event,
        n_total=len(od.frame) + sum(od.exclusions.values()), treatment=treatment,
    )  # fmt: skip
    try:
        return _fit(od, outcome_type, spec, treatment=treatment)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as e:
        # a numerical failure of an engine on data this thin (e.g. a root finder meeting
        # NaN): the outcome is not estimable, and the report says why
        raise ModelError(f"the model fit failed on these data ({type(e).__name__}: {e})") from e


def _fit(od: OutcomeData, outcome_type: str, spec: ModelSpec, *, treatment: bool) -> ModelResults:
    f = formula(od, treatment=treatment)
    opts = spec.options
    if spec.kind == "glmm":
        from odtrial.models.glmm import fit_glmm

        kw: dict[str, Any] = {"family": spec.family or "binomial"}
        if "estimation" in opts:
            kw["method"] = str(opts["estimation"])
        if "nagq" in opts:
            kw["nagq"] = int(opts["nagq"])
        if "df" in opts:
            kw["df"] = str(opts["df"])
        return fit_glmm(f, od.frame, cluster=CLUSTER, offset=od.offset, **kw)
    if spec.kind == "lmm":
        from odtrial.models import fit_lmm

        return fit_lmm(
            f, od.frame, cluster=CLUSTER, ddf=str(opts.get("df", "satterthwaite")),  # type: ignore[arg-type]
            reml=bool(opts.get("reml", True)),
        )  # fmt: skip
    if spec.kind == "cox":
        from odtrial.models.cox import fit_cox

        assert od.event is not None
        cox_kw: dict[str, Any] = {"ties": str(opts.get("ties", "efron"))}
        if "cov_type" in opts:  # else fit_cox's default, which holds its size
            cox_kw["cov_type"] = str(opts["cov_type"])
        return fit_cox(f, od.frame, duration=od.response, event=od.event, cluster=CLUSTER, **cox_kw)
    if spec.kind == "gee":
        from odtrial.models import fit_gee

        gee_kw: dict[str, Any] = {"cov_struct": str(opts.get("cov_struct", "exchangeable"))}
        if "cov_type" in opts:  # else fit_gee's default (Mancl-DeRouen), which holds its size
            gee_kw["cov_type"] = str(opts["cov_type"])
        return fit_gee(
            f, od.frame, cluster=CLUSTER, family=spec.family or GEE_FAMILY[outcome_type],  # type: ignore[arg-type]
            offset=od.offset, **gee_kw,
        )  # fmt: skip
    raise PlanError(f"model kind {spec.kind!r} is not supported for an outcome's main analysis")


def effect_dict(res: ModelResults, outcome_type: str, *, term: str = TREAT) -> dict[str, Any]:
    """The treatment effect of a fit, exponentiated for ratio measures."""
    measure, abbrev, log_scale = EFFECTS[outcome_type]
    return effect_of(res, measure=measure, abbrev=abbrev, log_scale=log_scale, term=term)


def effect_of(
    res: ModelResults, *, measure: str, abbrev: str, log_scale: bool, term: str = TREAT
) -> dict[str, Any]:
    """One term of a fit as the results contract's effect block (exp for ratios)."""
    est = float(res.params[term])
    # A label of the (unique) term index selects one row, a Series.
    lo, hi = (float(v) for v in cast("pd.Series", res.conf_int().loc[term]))
    if not np.isfinite([est, lo, hi]).all():
        raise ModelError(
            f"the {measure} or its confidence interval is not finite "
            f"(estimate {est:.4g}, {float(res.df[term]):g} df)"
        )
    tr = np.exp if log_scale else (lambda v: v)
    return {
        "measure": measure,
        "abbrev": abbrev,
        "estimate": float(tr(est)),
        "ci_lower": float(tr(lo)),
        "ci_upper": float(tr(hi)),
        "p_value": float(res.pvalues[term]),
        "df": float(res.df[term]),
        "log_scale": log_scale,
        "term": term,
        "std_error": float(res.bse[term]),
    }


def coefficients(res: ModelResults) -> list[dict[str, Any]]:
    frame = res.to_frame().reset_index()
    return [
        {str(k): (str(v) if k == "term" else float(v)) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def absolute_difference(
    od: OutcomeData, res: ModelResults, outcome_type: str
) -> dict[str, Any] | None:
    """Absolute difference, first arm minus second (see the module notes)."""
    if outcome_type == "binary" and res.model == "glmm":
        from odtrial.models.glmm import marginal_effects

        me = marginal_effects(res, od.frame, treatment=TREAT, levels=(0, 1)).to_frame()
        rd = cast("pd.Series", me.loc["risk_difference"])  # unique quantity index: one row
        return {
            "measure": "risk difference",
            "estimate": float(rd["estimate"]),
            "ci_lower": float(rd["ci_lower"]),
            "ci_upper": float(rd["ci_upper"]),
            "std_error": float(rd["std_error"]),
            "method": "standardised over the analysed participants and the random-intercept distribution (delta method, model df)",
        }
    if outcome_type == "count":
        return rate_difference(od)
    return None


def rate_difference(od: OutcomeData) -> dict[str, Any]:
    """Difference of the arms' mean cluster rates per person-year, t interval on G − 2 df."""
    f = od.frame
    years = f["followup_days"].to_numpy(dtype=float) / DAYS_PER_YEAR
    g = pd.DataFrame(
        {"c": f[CLUSTER], "t": f[TREAT], "y": f[od.response].astype(float), "py": years}
    )
    per = g.groupby("c", sort=True).agg(t=("t", "first"), y=("y", "sum"), py=("py", "sum"))
    per["rate"] = per["y"] / per["py"]
    r1 = per.loc[per["t"] == 1, "rate"].to_numpy()
    r0 = per.loc[per["t"] == 0, "rate"].to_numpy()
    diff = float(r1.mean() - r0.mean())
    df = len(r1) + len(r0) - 2
    s2 = (((r1 - r1.mean()) ** 2).sum() + ((r0 - r0.mean()) ** 2).sum()) / df
    se = float(np.sqrt(s2 * (1 / len(r1) + 1 / len(r0))))
    q = float(stats.t.ppf(0.975, df))
    return {
        "measure": "difference in rate per person-year",
        "estimate": diff,
        "ci_lower": diff - q * se,
        "ci_upper": diff + q * se,
        "std_error": se,
        "df": float(df),
        "method": "unweighted mean of cluster rates (events / person-years) by arm; pooled-variance t interval on clusters - 2 df",
    }


def icc_dict(od: OutcomeData, outcome_type: str, nagq: int | None) -> dict[str, Any] | None:
    """The outcome's ICC with its CI.

    Binary outcomes (and the event indicator of a time-to-event outcome): the
    latent-scale ICC of the random-intercept logistic model. Continuous and
    count outcomes: the REML ICC with its profile-likelihood interval. Both are
    variance ratios estimated within [0, 1), so neither the estimate nor a
    limit can fall below 0, as the ANOVA moment estimator's can.
    """
    from odtrial.models import icc

    if outcome_type == "time-to-event":
        assert od.event is not None
        r = icc(od.frame, outcome=od.event, cluster=CLUSTER, method="latent", nagq=nagq)
    elif outcome_type == "binary":
        r = icc(od.frame, outcome=od.response, cluster=CLUSTER, method="latent", nagq=nagq)
    else:
        r = icc(od.frame, outcome=od.response, cluster=CLUSTER, method="reml")
    notes = list(r.notes)
    if outcome_type == "time-to-event":
        notes.append("ICC of the event indicator (any event in the window), not of the time")
    return {
        "estimate": r.estimate,
        "ci_lower": r.lower,
        "ci_upper": r.upper,
        "scale": r.scale,
        "method": r.method,
        "ci_method": r.ci_method,
        "notes": notes,
    }


NO_VALUES = "no observed values"
_STATISTIC = {
    "binary": "n (%)",
    "continuous": "mean (SD)",
    "count": "events / person-years",
    "time-to-event": "events / person-years",
}


def _fmt(x: float, nd: int) -> str:
    """Thousands separators; an undefined value (the SD of one value) as an en dash."""
    return f"{x:,.{nd}f}" if np.isfinite(x) else "\u2013"


def summary_by_arm(od: OutcomeData, outcome_type: str, arms: tuple[str, ...]) -> dict[str, Any]:
    """Descriptive summary of the analysed participants, per displayed arm (``display``
    says "no observed values" for an arm without any)."""
    out: dict[str, Any] = {}
    f = od.frame
    for arm in arms:
        sub = f if arm == "all" else f[f["arm"] == arm]
        n = len(sub)
        if n == 0:
            out[arm] = {"n": 0, "statistic": _STATISTIC[outcome_type],
                        "display": NO_VALUES, "value": None}  # fmt: skip
            continue
        if outcome_type == "binary":
            k = int(sub[od.response].sum())
            p = k / n
            out[arm] = {
                "n": n,
                "statistic": _STATISTIC[outcome_type],
                "display": f"{k:,}/{n:,} ({100 * p:.1f})",
                "value": p,
                "events": k,
            }
        elif outcome_type == "continuous":
            m, s = float(sub[od.response].mean()), float(sub[od.response].std(ddof=1))
            out[arm] = {
                "n": n,
                "statistic": _STATISTIC[outcome_type],
                "display": f"{_fmt(m, 1)} ({_fmt(s, 1)})",
                "value": m,
                "sd": s,
            }
        else:
            ev = sub[od.event] if od.event is not None else sub[od.response]
            events = int(ev.sum())
            py = float(sub["followup_days"].sum()) / DAYS_PER_YEAR
            if od.event is not None:  # person-time at risk ends at the event or censoring
                py = float(sub[od.response].sum()) / DAYS_PER_YEAR
            rate = events / py if py > 0 else float("nan")
            shown = f"{rate:.2f} per person-year" if py > 0 else "no person-time"
            label = "events" if od.event is not None else od.response
            out[arm] = {
                "n": n,
                "statistic": _STATISTIC[outcome_type],
                "display": f"{events:,} / {_fmt(py, 1)} ({shown})",
                "value": rate,
                "events": events,
                "person_years": py,
                "events_label": label,
            }
    return out
