"""What each key of an analysis plan means, one line each, for ``docs/reference.md``.

The plan's structure, types and allowed values are :data:`odtrial.plan.schema.PLAN`;
this adds only the words. Keys are paths as :func:`odtrial.reference.plan_sections`
names them (``<id>``: a name the plan chooses; ``[]``: each table of an array); a
derivation's parameters are given once, under ``outcomes.<id>.derivation`` (a
variable's derivation takes the same). ``tests/test_reference.py`` checks that these
are exactly the schema's keys, so a key added to the schema needs its meaning here.
"""

from __future__ import annotations

from typing import Final

_D = "outcomes.<id>.derivation"

MEANINGS: Final[dict[str, str]] = {
    # [plan]
    "plan": "the plan's identity and status",
    "plan.title": "the plan's full title",
    "plan.short_title": "a short title for page headers",
    "plan.version": "its version; a locked version never changes",
    "plan.date": "the version's date",
    "plan.status": "`draft`, or `final` (signed off; then locked with `odtrial plan lock`)",
    "plan.registration": "the trial's registration, as the trial definition gives it",
    "plan.trial_config": "the trial definition it analyses, relative to the plan; "
    "`odtrial check` verifies it",
    "plan.sign_off": "the signatories (at least one for a final plan)",
    "plan.sign_off[].name": "the signatory's name",
    "plan.sign_off[].role": "their role",
    "plan.sign_off[].date": "the date they signed",
    # [design]
    "design": "the trial design, in words, and its sample size",
    "design.description": "the design (arms, clusters, allocation ratio)",
    "design.cluster_definition": "what a cluster is and who belongs to it",
    "design.randomisation": "how clusters were allocated",
    "design.recruitment_after_randomisation": "whether participants were recruited after "
    "allocation, and how identification bias is assessed",
    "design.sample_size": "the sample size calculation's inputs and claims "
    "(checked against `odtrial power`)",
    "design.sample_size.outcome": "the outcome it was calculated for",
    "design.sample_size.type": "the outcome type",
    "design.sample_size.p0": "binary: the control arm's proportion",
    "design.sample_size.p1": "binary: the intervention arm's proportion",
    "design.sample_size.delta": "continuous: the difference in means",
    "design.sample_size.sd": "continuous: the standard deviation",
    "design.sample_size.rate0": "count: the control arm's rate per unit of follow-up",
    "design.sample_size.rate1": "count: the intervention arm's rate",
    "design.sample_size.followup": "count: follow-up per participant, in the rates' units",
    "design.sample_size.theta": "count: negative binomial overdispersion",
    "design.sample_size.icc": "the intracluster correlation",
    "design.sample_size.cluster_size": "the mean number analysed per cluster",
    "design.sample_size.cluster_size_cv": "the coefficient of variation of cluster sizes",
    "design.sample_size.attrition": "the share of participants lost to follow-up",
    "design.sample_size.alpha": "two-sided significance level",
    "design.sample_size.method": "how power is computed",
    "design.sample_size.correction": "the small-sample correction: `t` (noncentral t on "
    "2k - 2 df), `plus-one` (one more cluster per arm), `none`",
    "design.sample_size.clusters_per_arm": "the clusters per arm claimed",
    "design.sample_size.power": "the power claimed (within 0.02 of the computation)",
    "design.sample_size.target_power": "a power to state what it would need",
    "design.sample_size.rationale": "where the inputs come from",
    # [populations], [estimands]
    "populations": "the analysis populations, by id",
    "populations.<id>.label": "its name in the report",
    "populations.<id>.definition": "who is in it",
    "estimands": "the estimands (ICH E9(R1)), by id",
    "estimands.<id>.treatment": "the treatment condition compared",
    "estimands.<id>.population": "the population targeted",
    "estimands.<id>.variable": "the variable (endpoint)",
    "estimands.<id>.intercurrent_events": "the intercurrent events and their strategies",
    "estimands.<id>.intercurrent_events[].event": "the event",
    "estimands.<id>.intercurrent_events[].strategy": "the strategy that handles it",
    "estimands.<id>.summary": "the population-level summary",
    "estimands.<id>.level": "whether it averages over individuals or clusters",
    # [outcomes]
    "outcomes": "the outcomes, by id (also the analysis dataset column); exactly one primary",
    "outcomes.<id>.label": "its name in the report",
    "outcomes.<id>.role": "primary or secondary",
    "outcomes.<id>.estimand": "the estimand it serves (required for the primary)",
    "outcomes.<id>.population": "the population analysed (a `[populations]` id)",
    "outcomes.<id>.type": "its type, which fixes the effect measure",
    "outcomes.<id>.definition": "its definition, in words",
    "outcomes.<id>.derivation": "how its column is made from the frozen tables "
    "(see [Derivations](#derivations))",
    "outcomes.<id>.model": "the model of its main analysis",
    "outcomes.<id>.model.kind": "the model family: mixed (`glmm`, `lmm`), marginal (`gee`) "
    "or Cox (`cox`); the outcome type limits it",
    "outcomes.<id>.model.covariates": "adjustment terms, as formula terms "
    "(`C(region)` for a factor); the treatment is added",
    "outcomes.<id>.model.family": "the response distribution (the outcome type limits it)",
    "outcomes.<id>.model.estimation": "`REML` (the default, unless `nagq` is given) or `ML`",
    "outcomes.<id>.model.nagq": "adaptive Gauss-Hermite points (ML only; 1 is Laplace)",
    "outcomes.<id>.model.df": "denominator degrees of freedom of the treatment test "
    "(glmm default `between-within`; lmm default `satterthwaite`)",
    "outcomes.<id>.model.offset": "`log_followup_years`: a rate per person-year",
    "outcomes.<id>.model.reml": "lmm: fit by REML (default true)",
    "outcomes.<id>.model.cov_struct": "gee: the working correlation (default `exchangeable`)",
    "outcomes.<id>.model.cov_type": "the sandwich variance (default `mancl-derouen`)",
    "outcomes.<id>.model.ties": "cox: how tied event times are handled (default `efron`)",
    # [variables], [derivation]
    "variables": "derived columns that are not outcomes (covariates, auxiliaries), by id",
    "variables.<id>.label": "its name",
    "variables.<id>.definition": "its definition, in words",
    "variables.<id>.derivation": "how it is made (as `outcomes.<id>.derivation`)",
    "derivation": "plan-wide defaults of the derivations",
    "derivation.window_months": "the default follow-up window in months "
    "(default: the trial's `follow_up_months`)",
    # derivation parameters (every kind's; the kinds' tables say which take which)
    f"{_D}.kind": "the derivation kind",
    f"{_D}.table": "the frozen table read",
    f"{_D}.field": "the field whose value is taken",
    f"{_D}.visit": "the visit month",
    f"{_D}.choose": "which record when a participant has several at the visit",
    f"{_D}.visit_field": "the table's visit field (default: the one the trial declares)",
    f"{_D}.date_field": "the table's date field (default: the one the trial declares)",
    f"{_D}.baseline": "where the baseline value is: a record at a visit "
    "(`table`, `field`, `visit`) or a participants field (`field` alone)",
    f"{_D}.baseline.table": "the table of the baseline record",
    f"{_D}.baseline.field": "the baseline field",
    f"{_D}.baseline.visit": "the baseline visit month",
    f"{_D}.baseline.visit_field": "the baseline table's visit field",
    f"{_D}.baseline.date_field": "the baseline table's date field",
    f"{_D}.items": "the questionnaire's item fields",
    f"{_D}.method": "`sum` or `mean` of the items",
    f"{_D}.reverse": "items scored in reverse: `max + min - value`",
    f"{_D}.reverse.items": "the reversed items (some of `items`)",
    f"{_D}.reverse.min": "the items' lowest value",
    f"{_D}.reverse.max": "the items' highest value",
    f"{_D}.prorate": "missing items allowed: the score is prorated from the rest",
    f"{_D}.prorate.max_missing": "at most this many items missing (fewer than the items)",
    f"{_D}.date": "the event date field (dated events)",
    f"{_D}.start": "the start date field (stays, prescriptions)",
    f"{_D}.end": "the end date field (an open end runs to the window end)",
    f"{_D}.merge": "merge stays that overlap or touch into one spell",
    f"{_D}.where": "keep only records whose `field` is `in` the values",
    f"{_D}.where.field": "the field tested",
    f"{_D}.where.in": "the values kept",
    f"{_D}.window_months": "this column's window in months (default: `[derivation]`'s)",
    f"{_D}.events": "the event sources; the first event of any counts",
    f"{_D}.events[].table": "the source table",
    f"{_D}.events[].date": "its event date field",
    f"{_D}.events[].start": "its stay start field",
    f"{_D}.events[].end": "its stay end field",
    f"{_D}.events[].merge": "merge its overlapping or touching stays",
    f"{_D}.events[].where": "keep only its records whose `field` is `in` the values",
    f"{_D}.events[].where.field": "the field tested",
    f"{_D}.events[].where.in": "the values kept",
    f"{_D}.censor": "the censoring dates (withdrawal, death, last contact): follow-up ends "
    "at the earliest of them on or after consent, or at the window end if earlier; an event "
    "on that day counts (`count_events` and `days_in_state` also give `<id>_followup_days`, "
    "the offset of a rate)",
    f"{_D}.censor[].table": "the table of the censoring date",
    f"{_D}.censor[].date": "its censoring date field (a missing date does not censor)",
    f"{_D}.censor[].where": "keep only its records whose `field` is `in` the values",
    f"{_D}.censor[].where.field": "the field tested",
    f"{_D}.censor[].where.in": "the values kept",
    f"{_D}.drug": "the drug field (generic names of the medication dictionary)",
    f"{_D}.dose": "the daily dose field",
    f"{_D}.class": "a drug class the trial's medication dictionary declares (the shipped "
    "one's, or one a trial's own file adds; `odtrial check` checks it)",
    f"{_D}.generic": "one drug only: its generic (or brand) name in the trial's medication "
    "dictionary",
    f"{_D}.equivalence": "the dose unit: chlorpromazine equivalents (Woods 2003, Leucht "
    "2015), defined daily doses, or mg (`total_dose`'s default)",
    f"{_D}.of": "the ids of the variables or outcomes it combines",
    f"{_D}.rule": "`any`, `all` or `sum` of them",
    # [[sensitivity]]
    "sensitivity": "the sensitivity analyses",
    "sensitivity[].id": "its id (each once)",
    "sensitivity[].outcome": "the outcome it re-analyses",
    "sensitivity[].label": "its name in the report",
    "sensitivity[].method": "the analysis: a marginal model, cluster-level summaries, the "
    "model without covariates, a permutation test, or a refit of the outcome's model",
    "sensitivity[].options": "the method's options",
    "sensitivity[].options.family": "the response distribution (default: the outcome's)",
    "sensitivity[].options.cov_struct": "gee: the working correlation",
    "sensitivity[].options.cov_type": "gee: the sandwich variance",
    "sensitivity[].options.weights": "cluster-level: how cluster summaries are weighted "
    "(default `unweighted`)",
    "sensitivity[].options.scale": "cluster-level: the effect scale (default: ratio for "
    "counts, else difference)",
    "sensitivity[].options.cutoff": "permutation: the share of best-balanced allocations, "
    "when the freeze has no randomisation record (default 0.1)",
    "sensitivity[].options.covariates": "the refit's covariates (default: the outcome's)",
    "sensitivity[].options.estimation": "glmm refit: `REML` or `ML`",
    "sensitivity[].options.nagq": "glmm refit: adaptive Gauss-Hermite points (ML only)",
    "sensitivity[].options.df": "the refit's degrees of freedom method",
    "sensitivity[].options.reml": "lmm refit: fit by REML",
    # the rest of the plan, in words
    "multiplicity": "how multiple outcomes are handled",
    "multiplicity.approach": "the approach, in words",
    "missing_data": "how missing data are handled",
    "missing_data.approach": "the approach, in words",
    "missing_data.variables": "the dataset columns whose missingness is tabulated by arm "
    "(default: the primary outcome)",
    "missing_data.variables[].column": "an analysis dataset column",
    "missing_data.variables[].time_point": "its time point, as the table shows it",
    "missing_data.imputation": "multiple imputation of an outcome under MAR (clusters as "
    "random intercepts), analysed beside the complete-case analysis",
    "missing_data.imputation.outcome": "the outcome imputed and analysed (default: the primary)",
    "missing_data.imputation.m": "the number of imputations",
    "missing_data.imputation.seed": "the imputation's random seed",
    "missing_data.imputation.auxiliaries": "dataset columns used to impute but not in the "
    "analysis model (e.g. an earlier visit's value)",
    "missing_data.imputation.methods": "per imputed column, its method: `norm` or `pmm` "
    "(continuous), `probit` (binary), `pmm` (count), `catprobit` (categorical); default by "
    "the column's kind",
    "missing_data.imputation.methods.<name>": "the method of that column",
    "missing_data.imputation.n_burn": "iterations before a chain's first imputation (default 200)",
    "missing_data.imputation.n_between": "iterations between imputations (default 20)",
    "missing_data.imputation.tipping_point": "a missing-not-at-random analysis: imputed "
    "outcomes shifted by each delta",
    "missing_data.imputation.tipping_point.deltas": "the shifts (0, missing at random, is added)",
    "missing_data.imputation.tipping_point.shift": "the arm whose imputed outcomes are shifted: "
    "`intervention` (default), `control` or `both`",
    "missing_data.imputation.tipping_point.scale": "the scale of the shift: `logit` (binary, "
    "default), `probit`, `identity` (continuous), `log` (count, default)",
    # [health_economics]
    "health_economics": "a within-trial cost-effectiveness analysis (`odtrial.econ`): costs "
    "and QALYs per participant, the incremental cost, QALYs and net monetary benefit, the "
    "cost-effectiveness plane and acceptability curve; complete cases",
    "health_economics.perspective": "the costing perspective, in words (e.g. NHS and "
    "personal social services)",
    "health_economics.time_horizon_months": "the period costs and QALYs cover, from consent "
    "(the last utility visit)",
    "health_economics.price_year": "the price year of every cost (unit costs are inflated "
    "to it by the price index)",
    "health_economics.discount_rate": "the yearly discount rate of costs and QALYs after the "
    "first year (default 0.035)",
    "health_economics.method": "the base case: `bivariate` (a bivariate multilevel model of "
    "cost and QALYs, the default) or `tsb` (two-stage bootstrap with shrinkage)",
    "health_economics.sensitivity": "sensitivity analyses: `tsb` or `bivariate` (the other "
    "method), `unadjusted` (no covariates), `kenward-roger` (bivariate, Kenward-Roger df), "
    "`multiple-imputation` (missing costs, QALYs and covariates imputed under MAR with cluster "
    "random intercepts, m and seed from [missing_data.imputation] or 20 and the seed; the "
    "bivariate model pooled by Rubin's rules); default the other method",
    "health_economics.wtp": "willingness-to-pay thresholds per QALY (default 20000, 30000)",
    "health_economics.n_boot": "bootstrap samples (tsb) or plane draws (bivariate; default 1000)",
    "health_economics.seed": "the random seed of the bootstrap and the draws",
    "health_economics.covariates": "further analysis dataset columns adjusted for in both "
    "equations (numeric)",
    "health_economics.costs": "how resource use is costed",
    "health_economics.costs.unit_costs": "the unit-cost table (TOML or CSV: item, unit, cost, "
    "price_year, source, category): a path relative to the trial's folder (beside "
    "`trial.toml`) or, when not there, to the plan's",
    "health_economics.costs.price_index": "the price index by year (TOML or CSV), found as "
    "`unit_costs` is; needed when a unit cost is of another price year",
    "health_economics.costs.intervention_cost_per_cluster": "the intervention's cost to each "
    "intervention cluster, shared among its participants (category `intervention`)",
    "health_economics.costs.intervention_costs": "instead: a CSV of each intervention "
    "cluster's cost (`cluster_id`, `cost`, in the price year), found as `unit_costs` is",
    "health_economics.costs.baseline_cost": "a dataset column of pre-randomisation cost, "
    "adjusted for in both equations",
    "health_economics.resource_use": "the resource-use items, by id (the dataset column of "
    "its quantity over the horizon)",
    "health_economics.resource_use.<id>.label": "its name in the report",
    "health_economics.resource_use.<id>.item": "its item in the unit-cost table",
    "health_economics.resource_use.<id>.derivation": "how its quantity is derived (as "
    "`outcomes.<id>.derivation`; a windowed kind is derived over the horizon and at each "
    "year's end, so its costs are discounted year by year)",
    "health_economics.resource_use.<id>.column": "instead of a derivation: a dataset column "
    "holding the quantity over the horizon (counted in the first year, undiscounted)",
    "health_economics.utilities": "EQ-5D utilities and QALYs (area under the curve)",
    "health_economics.utilities.version": "the EQ-5D version: `5L` or `3L`",
    "health_economics.utilities.value_set": "the value set: `england` (5L, Devlin 2018, the "
    "default), `3l_mapping` (5L valued by NICE's mapping to 3L UK utilities, Hernández Alava "
    "et al. 2023; needs `age` and `sex`) or `uk` (3L, Dolan 1997, the default)",
    "health_economics.utilities.age": "for `3l_mapping`: the dataset column of age in years "
    "(an age under 18 takes the youngest band, 18-34)",
    "health_economics.utilities.sex": "for `3l_mapping`: the dataset column of sex (`male`/"
    "`female`, `m`/`f`; any other value, or none, gets the mean of the two mappings)",
    "health_economics.utilities.table": "the frozen table of EQ-5D responses",
    "health_economics.utilities.fields": "its five dimension fields in EQ-5D order (mobility, "
    "self-care, usual activities, pain/discomfort, anxiety/depression), levels 1 to 5 (3L: 3)",
    "health_economics.utilities.visits": "the visit months, from 0 (baseline) to the time horizon",
    "health_economics.utilities.visit_field": "the table's visit field (default: the one "
    "the trial declares; needed when the baseline month 0 is not a scheduled visit)",
    "health_economics.utilities.date_field": "the table's date field (default: the declared one)",
    "health_economics.utilities.choose": "which record when a participant has several at a "
    "visit (default `latest`)",
    "health_economics.utilities.adjust_baseline": "adjust for baseline utility in both "
    "equations (default true; Manca et al. 2005)",
    "harms": "how harms are reported",
    "harms.approach": "the approach, in words",
    "software": "the software used",
    "software.analysis": "the analysis software, in words",
    "summary": "the trial's own words in the report",
    "summary.plain_language": "the opening of the plain language summary",
    "summary.clusters": "a plain name for the clusters (e.g. `schools`, `wards`)",
    "summary.abbreviations": "the trial's abbreviations, added to the statistical ones",
    "summary.abbreviations.<name>": "what the abbreviation stands for",
}
