"""The plan's ``[health_economics]``: a within-trial cost-effectiveness analysis.

Per participant: each resource use's quantity (by year of the horizon, from the
cumulative derivations the plan adds) costed by :func:`odtrial.econ.participant_costs`
in the plan's price year and discounted after the first year; the intervention's cost
per cluster shared among its participants; EQ-5D utilities at each visit and QALYs by
area under the curve, discounted. These columns join the analysis dataset (``cost_<category>``,
``cost_total``, ``utility_m<visit>``, ``qaly``), so :func:`odtrial.econ.cea` on the
dataset's complete cases reproduces the results.

The base case is complete-case (participants with every cost and every utility); the
sensitivity analyses are the plan's (the other method, no covariates, Kenward-Roger).
Multiple imputation of costs and QALYs is not done yet. Comparisons use the displayed
arms (``treat`` = the first displayed arm), so a blinded report shows A and B; an open
report gets the pooled descriptions only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from odtrial._errorlist import summary
from odtrial._toml import suggest
from odtrial.analysis.outcomes import CLUSTER, TREAT
from odtrial.econ import (
    cea,
    eq5d_utility,
    intervention_costs,
    load_intervention_costs,
    load_price_index,
    load_unit_costs,
    participant_costs,
    qalys,
)
from odtrial.econ._errors import EconError
from odtrial.econ.costs import PriceIndex, UnitCostTable
from odtrial.errors import PlanError
from odtrial.plan import Plan
from odtrial.plan.model import HealthEconomics

PLANE_TABLE = "ce_plane"  # tables/ce_plane.csv: the CE plane's draws
# draws results.json keeps for the report's plane (it rebuilds from results.json alone);
# the table keeps them all
PLANE_DRAWS_SHOWN = 1000
INTERVENTION = "intervention"


@dataclass(frozen=True)
class CostTables:
    """The plan's cost inputs, read once: unit costs, the price index, and the intervention's
    cost (one figure for every cluster, each cluster's from its file, or none)."""

    unit: UnitCostTable
    index: PriceIndex | None
    intervention: float | dict[str, float] | None


def cost_tables(he: HealthEconomics) -> CostTables:
    """Read the plan's cost inputs (a one-line PlanError naming the key when one fails)."""
    try:
        unit = load_unit_costs(he.unit_costs)
        index = None if he.price_index is None else load_price_index(he.price_index)
        intervention = (
            load_intervention_costs(he.intervention_costs)
            if he.intervention_costs is not None
            else he.intervention_cost_per_cluster
        )
    except (OSError, EconError) as e:
        raise PlanError(f"health_economics.costs: {e}") from None
    return CostTables(unit, index, intervention)


def cost_input_errors(he: HealthEconomics, tables: CostTables | None = None) -> list[str]:
    """What in the plan's cost inputs the economic analysis would fail on, one line each,
    found before any data are read: an unreadable table, a resource use whose item has no
    unit cost, a unit cost of another price year with no price index (or none for its
    year). ``tables``: the inputs, if already read."""
    if tables is None:
        try:
            tables = cost_tables(he)
        except PlanError as e:
            return [str(e)]
    errors = []
    unit = tables.unit
    for r in he.resource_use.values():
        key = f"health_economics.resource_use.{r.id}.item"
        cost = unit.items.get(r.item)
        if cost is None:
            errors.append(
                f"key '{key}' names no item of the unit-cost table {unit.version!r} "
                f"({he.unit_costs.name}): {r.item!r}{suggest(r.item, list(unit.items))}"
            )
            continue
        try:
            unit.costs_in(he.price_year, tables.index, [r.item])
        except EconError as e:
            errors.append(f"key '{key}': {e}")
    return list(dict.fromkeys(errors))


def check_cost_inputs(plan: Plan) -> CostTables | None:
    """The plan's cost inputs, read once and checked (None without an economic
    evaluation); a PlanError (a line per failure) for a plan whose cost inputs would
    fail the economic analysis: run before ingest and the models, not after them."""
    he = plan.health_economics
    if he is None:
        return None
    source = str(plan.path) if plan.path is not None else "plan"
    lister = "odtrial check TRIAL_DIR --plan PLAN"
    try:
        tables = cost_tables(he)
    except PlanError as e:
        raise PlanError(summary(source, [str(e)], lister)[1]) from None
    errors = cost_input_errors(he, tables)
    if errors:
        raise PlanError(summary(source, errors, lister)[1])
    return tables


def economic_columns(
    pdata: pd.DataFrame,
    he: HealthEconomics,
    intervention_arm: str,
    *,
    include_intervention: bool = True,
    tables: CostTables | None = None,
) -> pd.DataFrame:
    """Per participant: cost by category and total, utility at each visit, QALYs.

    ``include_intervention`` False leaves the intervention's own cost out (a blinded
    report: that cost is non-zero in one arm only, so it would reveal the allocation).
    ``tables``: the cost inputs, if already read (:func:`cost_tables`)."""
    tables = cost_tables(he) if tables is None else tables
    unit, index = tables.unit, tables.index
    ids = pdata["participant_id"].astype(str)
    long = []
    for r in he.resource_use.values():
        if r.column not in pdata:
            raise PlanError(
                f"health_economics.resource_use.{r.id}: the analysis dataset has no column "
                f"{r.column!r}"
            )
        steps = r.cumulative or ((he.time_horizon_months, r.column),)
        before = pd.Series(0.0, index=pdata.index)
        for k, (_, col) in enumerate(steps):
            cum = pd.to_numeric(pdata[col], errors="coerce").astype(float)
            q = cum - before
            before = cum
            long.append(
                pd.DataFrame({"participant": ids, "item": r.item, "quantity": q, "time": float(k)})
            )
    use = pd.concat(long, ignore_index=True)
    try:
        costs = participant_costs(
            use,
            unit,
            price_year=he.price_year,
            price_index=index,
            participants=list(ids),
            time="time",
            discount=he.discount_rate,
        )
    except EconError as e:
        raise PlanError(f"health_economics.resource_use: {e}") from None
    out = pd.DataFrame(index=pdata.index)
    for cat in costs.columns:
        if cat != "total":
            out[f"cost_{cat}"] = costs[cat].to_numpy(dtype=float)
    total = costs["total"].to_numpy(dtype=float)
    if tables.intervention is not None and include_intervention:
        frame = pd.DataFrame(
            {"cluster": pdata[CLUSTER].to_numpy(), "treat": pdata["arm_real"].to_numpy()}
        )
        try:
            shares = intervention_costs(frame, tables.intervention, treated=intervention_arm)
        except EconError as e:
            raise PlanError(f"health_economics.costs: {e}") from None
        share = shares.to_numpy(dtype=float)
        out[f"cost_{INTERVENTION}"] = share
        total = total + share
    out["cost_total"] = total
    utils = []
    for visit, cols in he.utility_columns:
        states = pdata[list(cols)].apply(pd.to_numeric, errors="coerce")
        u = _utilities(states, pdata, he)
        out[f"utility_m{visit}"] = u
        utils.append(u)
    times = [v / 12 for v, _ in he.utility_columns]
    out["qaly"] = qalys(np.column_stack(utils), times, discount=he.discount_rate)
    return out


_MAPPED_SEXES = ("male", "female")
MAPPING_MIN_AGE = 18.0  # the youngest age band of the NICE DSU mapping is 18-34


def _utilities(states: pd.DataFrame, pdata: pd.DataFrame, he: HealthEconomics) -> np.ndarray:
    """Utilities by the plan's value set; the 5L-to-3L mapping takes each participant's age and
    sex, values a sex other than male or female (or none) at the mean of the two, and an age
    below the youngest band (18) in that band."""
    if he.age_column is None or he.sex_column is None:
        return eq5d_utility(states, version=he.version, value_set=he.value_set)
    for key, col in (("age", he.age_column), ("sex", he.sex_column)):
        if col not in pdata:
            raise PlanError(
                f"health_economics.utilities.{key}: the analysis dataset has no column {col!r}"
            )
    age = np.fmax(_mapping_age(pdata, he), MAPPING_MIN_AGE)
    sex = mapped_sex(pdata[he.sex_column])
    by_sex = []
    try:
        for s in _MAPPED_SEXES:
            by_sex.append(
                eq5d_utility(states, version="5L", value_set=he.value_set, age=age, sex=s)
            )
    except EconError as e:
        raise PlanError(f"health_economics.utilities: {e}") from None
    u = np.where(sex == "male", by_sex[0], by_sex[1])
    return np.where(sex == "", (by_sex[0] + by_sex[1]) / 2, u)


def _mapping_age(pdata: pd.DataFrame, he: HealthEconomics) -> np.ndarray:
    return pd.to_numeric(pdata[he.age_column], errors="coerce").to_numpy(dtype=float)


def mapped_sex(values: pd.Series) -> np.ndarray:
    """``male``, ``female`` or ``""`` (anything else, or missing) for each value."""
    norm = values.astype("string").str.strip().str.lower()
    norm = norm.replace({"m": "male", "f": "female"})
    return np.where(norm.isin(_MAPPED_SEXES).fillna(False).to_numpy(bool), norm.fillna(""), "")


def _mapping_block(pdata: pd.DataFrame, he: HealthEconomics) -> dict[str, Any]:
    """For the 5L-to-3L mapping: its source and how many sexes were averaged."""
    if he.sex_column is None or he.sex_column not in pdata:
        return {}
    from odtrial.econ.mapping import mapping_source

    src = mapping_source()
    return {
        "mapping": {
            "citation": " ".join(src["citation"].split()),
            "age": he.age_column,
            "sex": he.sex_column,
            "sex_averaged": int((mapped_sex(pdata[he.sex_column]) == "").sum()),
            "age_below_youngest_band": int((_mapping_age(pdata, he) < MAPPING_MIN_AGE).sum()),
        }
    }


def _spread(costs: Mapping[str, float], pdata: pd.DataFrame, arm: str) -> dict[str, Any]:
    """The intervention clusters' costs: how many, mean, least and most."""
    ids = pd.unique(pdata.loc[pdata["arm_real"] == arm, CLUSTER].astype(str))
    v = np.array([costs[i] for i in ids], dtype=float)
    return {
        "n_clusters": len(v),
        "mean": float(v.mean()),
        "min": float(v.min()),
        "max": float(v.max()),
    }


def _describe(x: pd.Series) -> dict[str, Any]:
    x = x.dropna()
    n = len(x)
    return {
        "n": n,
        "mean": float(x.mean()) if n else math.nan,
        "sd": float(x.std(ddof=1)) if n > 1 else math.nan,
    }


def _by_arm(data: pd.DataFrame, col: str, codes: Sequence[str]) -> dict[str, Any]:
    out = {}
    for code in codes:
        sub = data if code == "all" else data[data["arm"] == code]
        out[code] = _describe(pd.to_numeric(sub[col], errors="coerce"))
    return out


def _cea_dict(res: Any, level: float = 0.95, *, plane: bool = False) -> dict[str, Any]:
    """The result's numbers with intervals for the incremental cost and QALYs (t on the
    result's df for the model, bootstrap percentiles for the bootstrap); ``plane``: with
    the first draws, for the report's cost-effectiveness plane."""
    d = res.to_dict()
    draws = res.draws
    if res.method == "tsb":
        lo, hi = (1 - level) / 2, (1 + level) / 2
        ci_c = draws["incremental_cost"].quantile([lo, hi]).tolist()
        ci_e = draws["incremental_effect"].quantile([lo, hi]).tolist()
    else:
        from scipy import stats

        df = res.df if math.isfinite(res.df) else math.inf
        t = (
            float(stats.t.ppf((1 + level) / 2, df))
            if math.isfinite(df)
            else float(stats.norm.ppf((1 + level) / 2))
        )
        ci_c = [res.incremental_cost - t * res.se_cost, res.incremental_cost + t * res.se_cost]
        ci_e = [
            res.incremental_effect - t * res.se_effect,
            res.incremental_effect + t * res.se_effect,
        ]
    d["cost_ci"] = [float(v) for v in ci_c]
    d["effect_ci"] = [float(v) for v in ci_e]
    quadrants = {
        "more_costly_more_effective": float(
            ((draws.incremental_cost > 0) & (draws.incremental_effect > 0)).mean()
        ),
        "less_costly_more_effective": float(
            ((draws.incremental_cost <= 0) & (draws.incremental_effect > 0)).mean()
        ),
        "more_costly_less_effective": float(
            ((draws.incremental_cost > 0) & (draws.incremental_effect <= 0)).mean()
        ),
        "less_costly_less_effective": float(
            ((draws.incremental_cost <= 0) & (draws.incremental_effect <= 0)).mean()
        ),
    }
    d["plane_quadrants"] = quadrants
    if not plane:
        return d
    shown = draws.iloc[:PLANE_DRAWS_SHOWN]
    d["plane_draws"] = {
        "incremental_effect": [float(f"{v:.6g}") for v in shown["incremental_effect"]],
        "incremental_cost": [float(f"{v:.6g}") for v in shown["incremental_cost"]],
    }
    return d


def _imputed_cea(
    pdata: pd.DataFrame, pl: Plan, covariates: Sequence[str], *, run_on: Any
) -> dict[str, Any]:
    """The bivariate CEA on each dataset completed by :func:`odtrial.missing.impute`
    (total cost, QALYs and the covariates, with the arm; a cluster random intercept),
    pooled by Rubin's rules: incremental cost and QALYs jointly (their covariance too),
    each INMB from its per-imputation estimate and variance, Barnard-Rubin df; the CEAC
    from the pooled INMB's t distribution."""
    from scipy import stats

    from odtrial.missing import impute
    from odtrial.missing.pooling import barnard_rubin

    he = pl.health_economics
    assert he is not None
    cfg = pl.imputation or {}
    variables = ["cost_total", "qaly", *covariates, TREAT]
    frame = pdata[[CLUSTER, *dict.fromkeys(variables)]].copy()
    imps = impute(
        frame,
        cluster=CLUSTER,
        m=int(cfg.get("m", 20)),
        seed=int(cfg.get("seed", he.seed)),
        variables=list(dict.fromkeys(variables)),
        n_burn=int(cfg.get("n_burn", 200)),
    )
    fits = [run_on(d) for d in imps.datasets]
    q = np.array([[f.incremental_cost, f.incremental_effect] for f in fits])
    u = np.array(
        [[[f.se_cost**2, f.cov_cost_effect], [f.cov_cost_effect, f.se_effect**2]] for f in fits]
    )
    df_com = np.array([float(np.mean([f.df for f in fits]))] * 2)
    pooled = barnard_rubin(q, u, df_com)
    (dc, de), t = pooled["qbar"], pooled["t"]
    tq = [float(stats.t.ppf(0.975, d)) for d in pooled["df"]]
    se_c, se_e = float(np.sqrt(t[0, 0])), float(np.sqrt(t[1, 1]))
    out: dict[str, Any] = {
        "method": "multiple-imputation",
        "incremental_cost": float(dc),
        "incremental_effect": float(de),
        "icer": float(dc / de) if de != 0 else None,
        "se_cost": se_c,
        "se_effect": se_e,
        "cov_cost_effect": float(t[0, 1]),
        "df": float(pooled["df"][0]),
        "cost_ci": [float(dc - tq[0] * se_c), float(dc + tq[0] * se_c)],
        "effect_ci": [float(de - tq[1] * se_e), float(de + tq[1] * se_e)],
        "fmi": {"cost": float(pooled["fmi"][0]), "effect": float(pooled["fmi"][1])},
        "m": imps.m,
        "n_obs": len(frame),
    }

    def inmb(w: float) -> tuple[float, float, float]:
        """Pooled INMB at ``w``: estimate, standard error, Barnard-Rubin df."""
        qw = w * q[:, 1] - q[:, 0]
        uw = w**2 * u[:, 1, 1] + u[:, 0, 0] - 2 * w * u[:, 0, 1]
        r = barnard_rubin(qw[:, None], uw[:, None, None], df_com[:1])
        return float(r["qbar"][0]), float(np.sqrt(r["t"][0, 0])), float(r["df"][0])

    rows = []
    for w in he.wtp:
        est, se, df = inmb(float(w))
        tw = float(stats.t.ppf(0.975, df))
        rows.append(
            {"wtp": float(w), "estimate": est, "se": se, "df": df,
             "ci_lower": est - tw * se, "ci_upper": est + tw * se}
        )  # fmt: skip
    out["inmb"] = rows
    grid = sorted({float(w) for w in np.linspace(0, 2.0 * max(he.wtp), 41)} | set(he.wtp))
    out["ceac"] = []
    for w in grid:
        est, se, df = inmb(w)
        prob = float(stats.t.cdf(est / se, df)) if se > 0 else float(est > 0)
        out["ceac"].append({"wtp": w, "probability": prob})
    return out


SENSITIVITY_LABELS: Mapping[str, str] = {
    "tsb": "Two-stage bootstrap with shrinkage correction",
    "bivariate": "Bivariate multilevel model",
    "unadjusted": "Without covariates",
    "kenward-roger": "Bivariate model, Kenward-Roger degrees of freedom",
    "multiple-imputation": "Multiple imputation of missing costs and QALYs (MAR)",
}


def health_economics(
    pdata: pd.DataFrame,
    pl: Plan,
    arms: Sequence[str],
    codes: Sequence[str],
    *,
    comparative: bool,
    blinded: bool = False,
    tables: CostTables | None = None,
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The results block and the files it adds (the CE plane's draws); adds the economic
    columns to ``pdata`` (in place) for the analysis dataset. ``tables``: the plan's cost
    inputs, if already read (:func:`check_cost_inputs`)."""
    he = pl.health_economics
    if he is None:
        return None, {}
    # blinded or open: without the intervention's own cost, which only one arm has (an open
    # report's pooled dataset would otherwise tell its clusters apart)
    withheld = (blinded or not comparative) and he.has_intervention_cost
    tables = cost_tables(he) if tables is None else tables
    unit, index = tables.unit, tables.index
    cols = economic_columns(pdata, he, arms[0], include_intervention=not withheld, tables=tables)
    for c in cols.columns:
        pdata[c] = cols[c].to_numpy()
    categories = [c for c in cols.columns if c.startswith("cost_")]
    used = {r.item for r in he.resource_use.values()}
    unit_rows = []
    for row in unit.to_frame().to_dict("records"):
        if row["item"] not in used:
            continue
        year = int(row["price_year"])
        factor = (
            1.0 if year == he.price_year or index is None else index.factor(year, he.price_year)
        )
        unit_rows.append({**row, "cost_in_price_year": float(row["cost"]) * factor})
    block: dict[str, Any] = {
        "perspective": he.perspective,
        "time_horizon_months": he.time_horizon_months,
        "price_year": he.price_year,
        "discount_rate": he.discount_rate,
        "method": he.method,
        "eq5d": {"version": he.version, "value_set": he.value_set} | _mapping_block(pdata, he),
        "missing": "complete case: participants with every cost and every EQ-5D visit"
        + (
            "; multiple imputation of missing costs and QALYs as a sensitivity analysis"
            if "multiple-imputation" in he.sensitivity
            else ""
        ),
        "intervention_cost_per_cluster": he.intervention_cost_per_cluster,
        # each cluster's cost would say which clusters are the intervention's: only unblinded
        "intervention_costs_by_cluster": (
            _spread(tables.intervention, pdata, arms[0])
            if isinstance(tables.intervention, dict) and not withheld
            else None
        ),
        "intervention_cost_withheld": withheld,
        "unit_costs": unit_rows,
        "resource_use": [
            {
                "id": r.id,
                "label": r.label,
                "item": r.item,
                "by_arm": _by_arm(pdata, r.column, codes),
            }
            for r in he.resource_use.values()
        ],
        "costs": [
            {"category": c.removeprefix("cost_"), "by_arm": _by_arm(pdata, c, codes)}
            for c in categories
        ],
        "utilities": [
            {"visit": v, "by_arm": _by_arm(pdata, f"utility_m{v}", codes)}
            for v, _ in he.utility_columns
        ],
        "qalys": _by_arm(pdata, "qaly", codes),
    }
    covariates = []
    if he.adjust_baseline_utility:
        covariates.append(f"utility_m{he.utility_columns[0][0]}")
    if he.baseline_cost:
        covariates.append(he.baseline_cost)
    covariates += list(he.covariates)
    for c in covariates:
        if c not in pdata:
            raise PlanError(f"health_economics: the analysis dataset has no column {c!r}")
    need = ["cost_total", "qaly", *covariates]
    complete = pdata.dropna(subset=need)
    block["complete_cases"] = {
        code: int(len(complete) if code == "all" else (complete["arm"] == code).sum())
        for code in codes
    }
    block["covariates"] = covariates
    if not comparative:
        return block, {}

    def run(
        method: str, covs: Sequence[str], df: str | None = None, data: pd.DataFrame = complete
    ) -> Any:
        return cea(
            data,
            cost="cost_total",
            effect="qaly",
            treat=TREAT,
            cluster=CLUSTER,
            covariates=list(covs) or None,
            wtp=he.wtp,
            n_boot=he.n_boot,
            seed=he.seed,
            method=method,
            treated=1,
            df=df,
        )

    def run_on(data: pd.DataFrame) -> Any:
        return run("bivariate", covariates, data=data)

    base = run(he.method, covariates)
    block["base_case"] = _cea_dict(base, plane=True)
    sens = []
    for s in he.sensitivity:
        if s in ("tsb", "bivariate"):
            res = run(s, covariates)
        elif s == "unadjusted":
            res = run(he.method, [])
        elif s == "multiple-imputation":
            sens.append(
                {
                    "id": s,
                    "label": SENSITIVITY_LABELS[s],
                    **_imputed_cea(pdata, pl, covariates, run_on=run_on),
                }
            )
            continue
        else:
            res = run("bivariate", covariates, "kenward-roger")
        sens.append({"id": s, "label": SENSITIVITY_LABELS[s], **_cea_dict(res)})
    block["sensitivity"] = sens
    block["plane_table"] = f"tables/{PLANE_TABLE}.csv"
    draws = base.draws.to_csv(index=False, lineterminator="\n", float_format="%.6g")
    return block, {f"tables/{PLANE_TABLE}.csv": draws}
