"""The report's "Health economics" chapter, from results.json ``health_economics``.

Descriptive parts (unit costs, resource use, costs, utilities and QALYs by arm) appear
in every report; the comparison (base case, sensitivity analyses, CE plane, CEAC) only
in a comparative one. Arms are named by their displayed labels, so a blinded report
says A and B. A blinded analysis leaves the intervention's own cost out of every cost
(results.json ``intervention_cost_withheld``; only one arm has it), and the opening text
says so.

Money is whole pounds with thousands separators, utilities and QALYs to 3 dp,
probabilities to 2 dp; every number is read from the file, never recomputed (the
probability at a threshold is the CEAC's value there).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from odtrial.report import fmt
from odtrial.report.sections import Block, Para, Section, TableBlock, _mark

if TYPE_CHECKING:
    from odtrial.report.sections import _Builder

FIGURE_KEYS = ("ce_plane", "ceac")

ABBREVIATIONS = (
    ("CEAC", "cost-effectiveness acceptability curve"),
    ("EQ-5D", "EuroQol five-dimension questionnaire"),
    ("ICER", "incremental cost-effectiveness ratio"),
    ("INMB", "incremental net monetary benefit"),
    ("QALY", "quality-adjusted life-year"),
)

_VALUE_SETS = {
    ("5L", "england"): "the England value set (Devlin et al., Health Econ 2018)",
    ("3L", "uk"): "the UK time trade-off value set (Dolan, Med Care 1997)",
    ("5L", "3l_mapping"): "NICE's mapping to EQ-5D-3L UK utilities by age and sex "
    "(Hernández Alava et al., PharmacoEconomics 2023), as NICE recommends",
}


def _intervention_cost_words(he: Mapping[str, Any]) -> str | None:
    """``£30,000 per cluster`` or, from each cluster's figure, its mean and range; None
    when the plan gives no intervention cost."""
    if he.get("intervention_cost_per_cluster") is not None:
        return f"{pounds(float(he['intervention_cost_per_cluster']))} per cluster"
    spread = he.get("intervention_costs_by_cluster")
    if spread:
        return (
            f"a mean of {pounds(spread['mean'])} per intervention cluster (from "
            f"{pounds(spread['min'])} to {pounds(spread['max'])}, "
            f"{spread['n_clusters']} clusters)"
        )
    if he.get("intervention_cost_withheld"):
        return "each intervention cluster's own figure"
    return None


_METHODS = {
    "bivariate": "a bivariate multilevel model of costs and QALYs with a random intercept "
    "for cluster",
    "tsb": "a two-stage cluster bootstrap with shrinkage correction",
}

_QUADRANTS = (
    ("more_costly_more_effective", "more costly and more effective"),
    ("less_costly_more_effective", "less costly and more effective"),
    ("more_costly_less_effective", "more costly and less effective"),
    ("less_costly_less_effective", "less costly and less effective"),
)


def money(x: float | None) -> str:
    """Whole pounds with thousands separators and a real minus: ``−5,312``."""
    if x is None or not math.isfinite(float(x)):
        return fmt.DASH
    v = round(float(x))
    return (fmt.MINUS if v < 0 else "") + f"{abs(v):,d}"


def money_ci(est: float | None, ci: Sequence[float] | None) -> str:
    if est is None:
        return fmt.DASH
    if not ci:
        return money(est)
    return f"{money(est)} ({money(ci[0])} to {money(ci[1])})"


def pounds(x: float) -> str:
    """``£20,000`` (a willingness to pay in words)."""
    return (fmt.MINUS if x < 0 else "") + f"£{abs(x):,.0f}"


def _mean_sd(d: Mapping[str, Any] | None, dp: int, *, is_money: bool = False) -> str:
    if not d or not d.get("n"):
        return fmt.DASH
    f = money if is_money else (lambda v: fmt.num(v, dp))
    sd = d.get("sd")
    if sd is None or not math.isfinite(float(sd)):
        return f(d["mean"])
    return f"{f(d['mean'])} ({f(sd)})"


def _category_label(cat: str) -> str:
    return cat.replace("_", " ").capitalize()


def probability_at(res: Mapping[str, Any], wtp: float) -> float | None:
    """The CEAC's probability at ``wtp`` (the CEAC's grid holds every threshold)."""
    for row in res.get("ceac", []):
        if float(row["wtp"]) == float(wtp):
            return float(row["probability"])
    return None


def _covariate_words(c: str, visits: Sequence[int]) -> str:
    if c.startswith("utility_m") and visits and c == f"utility_m{visits[0]}":
        return "baseline utility"
    return c.replace("_", " ")


def _quadrant_of(res: Mapping[str, Any]) -> str:
    dc, de = float(res["incremental_cost"]), float(res["incremental_effect"])
    cost = "more costly" if dc > 0 else "less costly"
    eff = "more effective" if de > 0 else "less effective"
    return f"{cost} and {eff}"


class _Chapter:
    """Builds the chapter on the report builder (its numbering and arm labels)."""

    def __init__(self, b: _Builder, he: Mapping[str, Any]) -> None:
        self.b = b
        self.he = he
        self.codes = b.codes
        self.labels = b.labels
        self.visits = [int(u["visit"]) for u in he.get("utilities", [])]

    # words ---------------------------------------------------------------------------
    def methods_text(self) -> str:
        he = self.he
        eq = he.get("eq5d") or {}
        version, vs = str(eq.get("version", "")), str(eq.get("value_set", ""))
        value_set = _VALUE_SETS.get((version, vs), f"the {vs} value set")
        rate = float(he["discount_rate"])
        disc = (
            f"costs and QALYs after the first year were discounted at {fmt.num(rate * 100, 1)}% "
            "a year"
            if rate > 0
            else "costs and QALYs were not discounted"
        )
        visits = ", ".join(str(v) for v in self.visits)
        text = (
            f"The economic evaluation took the perspective of the {he['perspective']} over a "
            f"time horizon of {he['time_horizon_months']} months. Costs are in pounds sterling "
            f"(£) at {he['price_year']} prices (unit costs from other years moved to "
            f"{he['price_year']} with the price index); {disc}. Health-related quality of life "
            f"was measured with the EQ-5D-{version} at months {visits}, valued with {value_set}; "
            "QALYs are the area under the utility curve."
        )
        averaged = (eq.get("mapping") or {}).get("sex_averaged", 0)
        if averaged:
            text += (
                f" The mapping is published for men and women; {averaged} participant"
                f"{'s' if averaged != 1 else ''} with another or no recorded sex "
                f"{'were' if averaged != 1 else 'was'} valued at the mean of the two."
            )
        young = (eq.get("mapping") or {}).get("age_below_youngest_band", 0)
        if young:
            text += (
                f" {young} participant{'s' if young != 1 else ''} younger than 18, the mapping's "
                "youngest age, took the 18 to 34 band."
            )
        cost = _intervention_cost_words(he)
        if cost is not None and he.get("intervention_cost_withheld"):
            text += (
                " The intervention's own cost is left out of every cost in this report (only "
                "one arm has it, so it would reveal the allocation); it enters at unblinding."
            )
        elif cost is not None:
            text += (
                f" The intervention cost {cost}, shared equally among the cluster's participants."
            )
        return text

    def analysis_text(self) -> str:
        he = self.he
        covs = [_covariate_words(str(c), self.visits) for c in he.get("covariates", [])]
        adj = f", adjusted for {_and_list(covs)}" if covs else ""
        method = _METHODS.get(str(he["method"]), str(he["method"]))
        cc = he.get("complete_cases") or {}
        per_arm = [
            f"{cc[c]} in {lab}" if self.b.comparative else str(cc[c])
            for c, lab in zip(self.codes, self.labels, strict=True)
            if c in cc
        ]
        counts = _and_list(per_arm) if per_arm else ""
        missing = f"Analysis population and missing data: {he.get('missing', 'complete case')}" + (
            f" (complete cases: {counts})." if counts else "."
        )
        if not self.b.comparative:
            return missing
        return (
            f"Incremental costs and QALYs were estimated with {method}{adj}. {missing}"
            f" Comparisons are {self.labels[0]} minus {self.labels[1]}; the incremental net "
            "monetary benefit (INMB) is the willingness to pay per QALY times the "
            "incremental QALYs minus the incremental cost."
        )

    # tables --------------------------------------------------------------------------
    def arm_cells(self, by_arm: Mapping[str, Any], dp: int, *, is_money: bool) -> dict[str, str]:
        row = {}
        for c, lab in zip(self.codes, self.labels, strict=True):
            d = by_arm.get(c)
            row[f"{lab}: n"] = str(d["n"]) if d else fmt.DASH
            row[f"{lab}: mean (SD)"] = _mean_sd(d, dp, is_money=is_money)
        return row

    def unit_cost_table(self) -> TableBlock:
        he = self.he
        year = he["price_year"]
        labels = {str(r["item"]): str(r["label"]) for r in he.get("resource_use", [])}
        notes: list[str] = []
        mark = ""
        cost = _intervention_cost_words(he)
        if cost is not None:
            mark = _mark(
                notes,
                f"Not listed: the intervention, {cost}, shared equally among the cluster's "
                "participants.",
            )
        rows = [
            {
                f"Resource{mark}": labels.get(str(u["item"]), str(u["item"]).replace("_", " ")),
                "Unit": _cap(str(u["unit"])),
                "Unit cost, £ (price year)": f"{u['cost']:,.2f} ({u['price_year']})",
                f"Unit cost, £ ({year} prices)": f"{u['cost_in_price_year']:,.2f}",
                "Source": str(u["source"]),
            }
            for u in he.get("unit_costs", [])
        ]
        return self.b.table(
            "econ_unit_costs",
            "Unit costs",
            pd.DataFrame(rows),
            footnotes=tuple(notes),
        )

    def resource_table(self) -> TableBlock:
        notes: list[str] = []
        units = _mark(
            notes,
            "Units as in the unit costs table; n, participants with the resource use recorded.",
        )
        rows = [
            {
                f"Resource{units}": str(r["label"]),
                **self.arm_cells(r["by_arm"], 2, is_money=False),
            }
            for r in self.he.get("resource_use", [])
        ]
        months = self.he["time_horizon_months"]
        return self.b.table(
            "econ_resource_use",
            f"Resource use per participant over {months} months"
            + (" by arm" if self.b.comparative else " (arms pooled)"),
            pd.DataFrame(rows),
            footnotes=tuple(notes),
        )

    def cost_table(self) -> TableBlock:
        rows = []
        for c in self.he.get("costs", []):
            cat = str(c["category"])
            label = "Total" if cat == "total" else _category_label(cat)
            rows.append({"Cost category": label, **self.arm_cells(c["by_arm"], 0, is_money=True)})
        rate = float(self.he["discount_rate"])
        disc = ", discounted" if rate > 0 else ""
        return self.b.table(
            "econ_costs",
            f"Costs per participant by category, £ ({self.he['price_year']} prices{disc})",
            pd.DataFrame(rows),
        )

    def utility_table(self) -> TableBlock:
        rows = [
            {
                "Measure": f"EQ-5D utility, month {u['visit']}",
                **self.arm_cells(u["by_arm"], 3, is_money=False),
            }
            for u in self.he.get("utilities", [])
        ]
        rate = float(self.he["discount_rate"])
        rows.append(
            {
                "Measure": f"QALYs over {self.he['time_horizon_months']} months"
                + (", discounted" if rate > 0 else "")
                + "{a}",
                **self.arm_cells(self.he["qalys"], 3, is_money=False),
            }
        )
        return self.b.table(
            "econ_utilities",
            "EQ-5D utilities by visit and QALYs"
            + (" by arm" if self.b.comparative else " (arms pooled)"),
            pd.DataFrame(rows),
            footnotes=("Participants with every visit's utility.",),
        )

    def base_case_table(self, base: Mapping[str, Any]) -> TableBlock:
        pct = round(float(base.get("level", 0.95)) * 100)
        n_cl = base.get("n_clusters") or []
        clusters = f", {n_cl[0]} + {n_cl[1]} clusters" if len(n_cl) == 2 else ""
        notes: list[str] = [
            f"{self.labels[0]} compared with {self.labels[1]}: {base['n_obs']} participants "
            f"with complete costs and QALYs{clusters}; {_interval_words(base)}."
        ]
        icer_mark = _mark(
            notes,
            f"The point estimate lies in the {_quadrant_of(base)} quadrant for "
            f"{self.labels[0]}: read the ICER with the cost-effectiveness plane.",
        )
        rows = [
            {
                "Measure": "Incremental cost, £",
                "Estimate": money(base["incremental_cost"]),
                f"{pct}% CI": _ci(base.get("cost_ci"), money),
            },
            {
                "Measure": "Incremental QALYs",
                "Estimate": fmt.num(base["incremental_effect"], 3),
                f"{pct}% CI": _ci(base.get("effect_ci"), lambda v: fmt.num(v, 3)),
            },
            {
                "Measure": "ICER, £ per QALY" + icer_mark,
                "Estimate": money(base.get("icer")),
                f"{pct}% CI": fmt.DASH,
            },
        ]
        for m in base.get("inmb", []):
            w = float(m["wtp"])
            rows.append(
                {
                    "Measure": f"INMB at {pounds(w)} per QALY, £",
                    "Estimate": money(m["estimate"]),
                    f"{pct}% CI": _ci([m["ci_lower"], m["ci_upper"]], money),
                }
            )
        for m in base.get("inmb", []):
            w = float(m["wtp"])
            p = probability_at(base, w)
            rows.append(
                {
                    "Measure": f"Probability cost-effective at {pounds(w)} per QALY",
                    "Estimate": fmt.DASH if p is None else fmt.num(p, 2),
                    f"{pct}% CI": fmt.DASH,
                }
            )
        warned = "".join(_mark(notes, f"Model warning: {w}.") for w in base.get("warnings", []))
        return self.b.table(
            "econ_base_case",
            f"Base-case cost-effectiveness of {self.labels[0]} compared with {self.labels[1]}",
            pd.DataFrame(rows).rename(columns={"Estimate": "Estimate{a}" + warned}),
            footnotes=tuple(notes),
        )

    def sensitivity_table(
        self, base: Mapping[str, Any], sens: Sequence[Mapping[str, Any]]
    ) -> TableBlock:
        rows = []
        for name, res in (
            (f"Base case ({_method_short(base)}){{a}}", base),
            *((str(s["label"]), s) for s in sens),
        ):
            row = {
                "Analysis": name,
                "Incremental cost, £ (95% CI)": money_ci(
                    res["incremental_cost"], res.get("cost_ci")
                ),
                "Incremental QALYs (95% CI)": _qaly_ci(
                    res["incremental_effect"], res.get("effect_ci")
                ),
                "ICER, £ per QALY": money(res.get("icer")),
            }
            for m in res.get("inmb", []):
                w = float(m["wtp"])
                row[f"INMB at {pounds(w)}, £ (95% CI)"] = money_ci(
                    m["estimate"], [m["ci_lower"], m["ci_upper"]]
                )
                p = probability_at(res, w)
                row[f"P(CE) at {pounds(w)}"] = fmt.DASH if p is None else fmt.num(p, 2)
            rows.append(row)
        return self.b.table(
            "econ_sensitivity",
            "Sensitivity analyses of the cost-effectiveness",
            pd.DataFrame(rows),
            landscape=True,
            footnotes=(
                f"{self.labels[0]} compared with {self.labels[1]}; the base case is that of "
                f"{self.b.refs['econ_base_case']}. Intervals from the t "
                "distribution for the bivariate model, bootstrap percentiles for the bootstrap"
                + (
                    "; multiple imputation: the bivariate model on each completed dataset, "
                    "pooled by Rubin's rules (Barnard-Rubin df)."
                    if any(s.get("method") == "multiple-imputation" for s in sens)
                    else "."
                ),
            ),
            abbreviations="CI, confidence interval; ICER, incremental cost-effectiveness ratio; "
            "INMB, incremental net monetary benefit; P(CE), probability cost-effective; QALY, quality-adjusted "
            "life-year.",
        )

    # figures -------------------------------------------------------------------------
    @staticmethod
    def _draws_note(base: Mapping[str, Any]) -> str:
        """What the plane's dots are: bootstrap replicates or draws from the model's
        sampling distribution (results.json keeps the first 1,000)."""
        n = len((base.get("plane_draws") or {}).get("incremental_cost", ()))
        if not n:
            return ""
        what = (
            "two-stage cluster bootstrap replicates"
            if base.get("method") == "tsb"
            else "draws from the bivariate model's sampling distribution (multivariate t)"
        )
        return f"Dots: {n:,} {what} of the incremental QALYs and cost. "

    # figures -------------------------------------------------------------------------
    def figures(self, base: Mapping[str, Any]) -> list[Block]:
        a, b = self.labels[0], self.labels[1]
        q = base.get("plane_quadrants") or {}
        pct = round(float(base.get("level", 0.95)) * 100)
        plane = self.b.figure(
            "ce_plane",
            f"Cost-effectiveness plane: {a} compared with {b}",
            note=(
                f"{self._draws_note(base)}Point estimate with its {pct}% confidence ellipse "
                "(from the estimates' variances and covariance); lines: willingness-to-pay "
                f"thresholds, below which {a} is cost-effective; percentages: the share of the "
                "base case's draws in each quadrant."
            ),
            width_cm=15.0,
        )
        ceac = self.b.figure(
            "ceac",
            f"Cost-effectiveness acceptability curve: probability that {a} is cost-effective "
            f"compared with {b}",
            note="Base case solid; sensitivity analyses dashed; vertical lines: the thresholds.",
            width_cm=15.0,
        )
        where = "; ".join(
            f"{words} {fmt.num(100 * float(q[k]), 1)}%" for k, words in _QUADRANTS if k in q
        )
        return [
            Para(
                f"{self.b.refs['ce_plane']} shows the joint uncertainty in incremental costs and "
                f"QALYs"
                + (f" (share of draws: {where})" if where else "")
                + f"; {self.b.refs['ceac']} the probability that {a} is cost-effective over a "
                "range of willingness to pay per QALY."
            ),
            plane,
            ceac,
        ]

    # the chapter ---------------------------------------------------------------------
    def sections(self) -> list[Section]:
        b = self.b
        unit = self.unit_cost_table()
        use = self.resource_table()
        costs = self.cost_table()
        util = self.utility_table()
        arms = " by arm" if b.comparative else ", arms pooled"
        secs = [
            Section(
                "health_economics",
                "Health economics",
                (Para(self.methods_text()), Para(self.analysis_text())),
                page_break=True,
            ),
            Section(
                "econ_resources",
                "Resource use and costs",
                (
                    Para(
                        f"{b.refs['econ_unit_costs']} gives the unit costs, "
                        f"{b.refs['econ_resource_use']} the resource use and "
                        f"{b.refs['econ_costs']} the costs per participant{arms}."
                    ),
                    unit,
                    use,
                    costs,
                ),
                level=2,
            ),
            Section(
                "econ_outcomes",
                "Utilities and QALYs",
                (
                    Para(f"{b.refs['econ_utilities']} gives EQ-5D utilities and QALYs{arms}."),
                    util,
                ),
                level=2,
            ),
        ]
        base = self.he.get("base_case")
        if not b.comparative or not base:
            secs.append(
                Section(
                    "econ_cea",
                    "Cost-effectiveness",
                    (
                        Para(
                            "The cost-effectiveness analysis compares arms and is not shown "
                            "in an open report."
                            if not b.comparative
                            else "The results file holds no cost-effectiveness analysis."
                        ),
                    ),
                    level=2,
                )
            )
            return secs
        table = self.base_case_table(base)
        blocks: list[Block] = [Para(self.base_case_text(base)), table, *self.figures(base)]
        secs.append(Section("econ_cea", "Cost-effectiveness", tuple(blocks), level=2))
        sens = list(self.he.get("sensitivity") or [])
        if sens:
            st = self.sensitivity_table(base, sens)
            secs.append(
                Section(
                    "econ_sensitivity",
                    "Sensitivity analyses of the cost-effectiveness",
                    (
                        Para(
                            f"{b.refs['econ_sensitivity']} sets each sensitivity analysis "
                            "beside the base case."
                        ),
                        st,
                    ),
                    level=2,
                )
            )
        return secs

    def base_case_text(self, base: Mapping[str, Any]) -> str:
        a, b = self.labels[0], self.labels[1]
        pct = round(float(base.get("level", 0.95)) * 100)
        parts = [
            f"Compared with {b}, {a} had an incremental cost of £{money(base['incremental_cost'])} "
            f"({pct}% CI {_ci_words(base.get('cost_ci'), money)}) and incremental QALYs of "
            f"{fmt.num(base['incremental_effect'], 3)} ({pct}% CI "
            f"{_ci_words(base.get('effect_ci'), lambda v: fmt.num(v, 3))}); the point estimate "
            f"is {_quadrant_of(base)}."
        ]
        probs = [
            f"{fmt.num(p, 2)} at {pounds(float(m['wtp']))}"
            for m in base.get("inmb", [])
            if (p := probability_at(base, float(m["wtp"]))) is not None
        ]
        if probs:
            parts.append(
                f"The probability that {a} is cost-effective is {_and_list(probs)} per QALY "
                f"({self.b.refs['econ_base_case']})."
            )
        return " ".join(parts).replace("£" + fmt.MINUS, fmt.MINUS + "£")


def _and_list(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _ci(ci: Sequence[float] | None, f: Any) -> str:
    if not ci:
        return fmt.DASH
    return f"{f(ci[0])} to {f(ci[1])}"


def _qaly_ci(est: float, ci: Sequence[float] | None) -> str:
    lo, hi = ci if ci else (None, None)
    return fmt.est_ci(est, lo, hi, dp=3)


def _ci_words(ci: Sequence[float] | None, f: Any) -> str:
    return _ci(ci, f)


def _interval_words(res: Mapping[str, Any]) -> str:
    if res.get("method") == "tsb":
        return f"bootstrap percentile intervals ({res.get('n_boot')} samples)"
    return f"intervals from the t distribution ({res.get('df_method')} degrees of freedom)"


def _method_short(res: Mapping[str, Any]) -> str:
    return {"bivariate": "bivariate multilevel model", "tsb": "two-stage bootstrap"}.get(
        str(res.get("method")), str(res.get("method"))
    )


def economics_sections(b: _Builder) -> list[Section]:
    """The chapter's sections, or none when results.json has no ``health_economics``."""
    he = b.r.get("health_economics")
    if not he:
        return []
    return _Chapter(b, he).sections()


def economics_data(b: _Builder) -> Mapping[str, Any] | None:
    """What the chapter's figures need (the comparison only when the report compares)."""
    he = b.r.get("health_economics")
    if not he or not b.comparative or not he.get("base_case"):
        return None
    return {"base_case": he["base_case"], "sensitivity": he.get("sensitivity") or []}
