"""The report's content as one ordered list of sections, built from results.json.

Both writers (:mod:`odtrial.report.docx_report`, :mod:`odtrial.report.html_report`)
render exactly this list, so the Word report and its HTML twin cannot diverge.
Every number comes from the results file and is only formatted here
(:mod:`odtrial.report.fmt`), never recomputed.

Blinding is enforced here: a ``blinded`` file must name its arms A and B, and an
``open`` report shows pooled data only (no comparative number is rendered even
if the file carried one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from odtrial._words import a_or_an
from odtrial.errors import ReportError
from odtrial.report import fmt
from odtrial.report.consort import ArmFlow, Flow
from odtrial.report.forest import Effect
from odtrial.report.tables import ReportTable

SCHEMA = "odtrial.results/1"
REPORT_TYPES = ("blinded", "unblinded", "open")


# --- blocks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Para:
    """A paragraph; ``lead`` is a bold run-in heading ("Background."); ``style`` one of
    body, small, title, subtitle, banner, meta."""

    text: str
    lead: str = ""
    style: str = "body"


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class TableBlock:
    """A table; ``landscape`` puts it on landscape pages of its own in Word (wide tables)."""

    table: ReportTable
    landscape: bool = False


@dataclass(frozen=True)
class FigureBlock:
    """A figure drawn by :mod:`odtrial.report.build` and referenced by ``key``."""

    key: str
    number: int
    title: str
    note: str = ""
    width_cm: float = 16.0


Block = Para | Bullets | TableBlock | FigureBlock


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    blocks: tuple[Block, ...]
    level: int = 1
    page_break: bool = False  # start on a new page (Word); a rule in HTML


@dataclass(frozen=True)
class ReportContent:
    title: str
    report_type: str
    banner: str
    sections: tuple[Section, ...]
    flow: Flow
    effects: tuple[Effect, ...]
    arm_codes: tuple[str, ...]
    arm_labels: tuple[str, ...]
    metadata: Mapping[str, str] = field(default_factory=dict)
    # results.json's multiple_imputation block (the tipping-point figure's data)
    imputation: Mapping[str, Any] | None = None
    # the health economics comparison (the CE plane's and CEAC's data; None if not shown)
    health_economics: Mapping[str, Any] | None = None

    def section(self, sid: str) -> Section:
        for s in self.sections:
            if s.id == sid:
                return s
        raise KeyError(sid)

    @property
    def tables(self) -> list[ReportTable]:
        return [b.table for s in self.sections for b in s.blocks if isinstance(b, TableBlock)]

    @property
    def figures(self) -> list[FigureBlock]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, FigureBlock)]


# --- helpers ----------------------------------------------------------------------------

_BANNERS = {
    "blinded": "BLINDED REPORT: arms are shown as A and B; the allocation is not revealed",
    "unblinded": "UNBLINDED REPORT: arms are shown by their real names",
    "open": "OPEN REPORT: arms pooled; no comparison between arms is shown",
}

# Generic statistical abbreviations; a trial's own come from the plan's
# [summary.abbreviations] and are merged in alphabetical order.
_ABBREVIATIONS = (
    ("CI", "confidence interval"),
    ("CONSORT", "Consolidated Standards of Reporting Trials"),
    ("df", "degrees of freedom"),
    ("GEE", "generalised estimating equations"),
    ("GLMM", "generalised linear mixed model"),
    ("HR", "hazard ratio"),
    ("ICC", "intracluster correlation coefficient"),
    ("IQR", "interquartile range"),
    ("LMM", "linear mixed model"),
    ("MD", "mean difference"),
    ("OR", "odds ratio"),
    ("REML", "restricted maximum likelihood"),
    ("RR", "rate ratio"),
    ("SAP", "statistical analysis plan"),
    ("SD", "standard deviation"),
    ("SHA-256", "Secure Hash Algorithm, 256 bits"),
)

_PLAIN_LANGUAGE = (
    "We compared two ways of providing care. Instead of choosing the care for each person "
    "separately, whole groups of people were chosen at random to receive one way or the "
    "other. This is called a cluster randomised trial."
)

_DF_NAMES = {
    "between-within": "between-within degrees of freedom",
    "kenward-roger": "Kenward–Roger adjusted standard errors and degrees of freedom",
    "satterthwaite": "Satterthwaite degrees of freedom",
    "residual": "residual degrees of freedom",
    "z": "normal (z) reference distribution",
    "t(Fay-Graubard)": "t reference with Fay–Graubard degrees of freedom",
}
_SANDWICH_NAMES = {
    "mancl-derouen": "Mancl–DeRouen bias-corrected",
    "kauermann-carroll": "Kauermann–Carroll bias-corrected",
    "fay-graubard": "Fay–Graubard bias-corrected",
    "robust-g": "G/(G−1)-scaled",
    "robust": "uncorrected",
}

_FAMILY_NAMES = {
    "binomial": "binary (logistic)",
    "poisson": "Poisson",
    "negbin": "negative binomial (NB2)",
    "gaussian": "linear",
}


def _need(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise ReportError(f"results file: missing key '{key}' in {where}")
    return obj[key]


def _covariates(model: Mapping[str, Any]) -> list[str]:
    """A model's adjustment terms as the report names them: the labels the analysis gave
    them (from the trial definition and plan); in a results file from before there were
    labels, the fitted formula's right-hand side without the treatment indicator, or the
    planned covariates of a model not fitted, as readable names."""
    if model.get("covariate_labels") is not None:
        return [_lower_first(str(label)) for label in model["covariate_labels"]]
    formula = str(model.get("formula") or "")
    if "~" in formula:
        rhs = formula.split("~", 1)[1]
        terms = [t.strip() for t in rhs.split("+") if t.strip()]
    else:
        terms = [str(t) for t in model.get("covariates") or []]
    out = []
    for t in terms:
        if t in ("treat", "1", "0", "-1"):
            continue
        m = re.fullmatch(r"C\((\w+)\)", t)
        out.append((m.group(1) if m else t).replace("_", " "))
    return out


def model_text(model: Mapping[str, Any]) -> str:
    """One-line description of an outcome model, from the contract's ``model`` block."""
    kind = str(model.get("kind", ""))
    fam = _FAMILY_NAMES.get(str(model.get("family") or ""), str(model.get("family") or ""))
    opts = model.get("options") or {}
    df = _DF_NAMES.get(str(model.get("df_method") or ""), str(model.get("df_method") or ""))
    if kind == "glmm" and opts.get("estimation") == "REML":
        text = (
            f"{fam} GLMM with a random intercept for cluster, restricted maximum likelihood "
            "(Laplace approximation integrating over the cluster effects and the fixed effects)"
        )
        if opts.get("offset"):
            text += f", offset {str(opts['offset']).replace('_', ' ')}"
    elif kind == "glmm":
        quad = (
            f"adaptive Gauss–Hermite quadrature ({opts['nagq']} points)"
            if int(opts.get("nagq", 1)) > 1
            else "Laplace approximation"
        )
        text = f"{fam} GLMM with a random intercept for cluster, maximum likelihood by {quad}"
        if opts.get("offset"):
            text += f", offset {str(opts['offset']).replace('_', ' ')}"
    elif kind == "lmm":
        text = "LMM with a random intercept for cluster, " + (
            "REML" if opts.get("reml", True) else "maximum likelihood"
        )
    elif kind == "cox":
        sandwich = _SANDWICH_NAMES.get(str(opts.get("cov_type")))
        text = "Cox proportional hazards model with a " + (
            f"{sandwich} cluster-robust (sandwich) variance"
            if sandwich
            else "cluster-robust variance"
        )
    elif kind == "gee":
        text = f"{fam} GEE, {opts.get('cov_struct', 'exchangeable')} working correlation"
    else:
        text = kind
    return f"{text}; {df}" if df else text


_DF_SHORT = {
    "between-within": "between-within df",
    "kenward-roger": "Kenward–Roger",
    "satterthwaite": "Satterthwaite df",
    "residual": "residual df",
    "z": "z test",
    "t(Fay-Graubard)": "Fay–Graubard df",
}

_FAMILY_SHORT = {
    "binomial": "Logistic",
    "poisson": "Poisson",
    "negbin": "Negative binomial",
    "gaussian": "Linear",
}


def model_short(model: Mapping[str, Any]) -> str:
    """A table-length description of a model (the full one is :func:`model_text`)."""
    kind = str(model.get("kind", ""))
    fam = _FAMILY_SHORT.get(str(model.get("family") or ""), str(model.get("family") or ""))
    opts = model.get("options") or {}
    if kind == "glmm" and opts.get("estimation") == "REML":
        text = f"{fam} GLMM, REML"
        if opts.get("offset"):
            text += ", offset"
    elif kind == "glmm":
        nagq = int(opts.get("nagq", 1))
        text = f"{fam} GLMM, " + (f"{nagq}-point quadrature" if nagq > 1 else "Laplace")
        if opts.get("offset"):
            text += ", offset"
    elif kind == "lmm":
        text = "LMM, " + ("REML" if opts.get("reml", True) else "ML")
    elif kind == "cox":
        text = "Cox, cluster-robust variance"
    elif kind == "gee":
        text = f"{fam} GEE, {opts.get('cov_struct', 'exchangeable')}"
    else:
        text = kind
    df = _DF_SHORT.get(str(model.get("df_method") or ""), str(model.get("df_method") or ""))
    return f"{text}; {df}" if df else text


def _mark(notes: list[str], text: str) -> str:
    """Register footnote ``text`` (once) and return its ``{a}`` reference mark."""
    if text not in notes:
        notes.append(text)
    return "{" + "abcdefghijklmnopqrstuvwxyz"[notes.index(text)] + "}"


def _indent(label: str) -> str:
    """Leading spaces mark a category under a heading row: keep them visible in
    Word and HTML (which collapse ordinary spaces) as em spaces."""
    stripped = label.lstrip(" ")
    return "\u2003" * ((len(label) - len(stripped) + 1) // 2) + stripped


def _and_list(items: Sequence[str]) -> str:
    """'a, b and c'."""
    items = list(items)
    if not items:
        return "nothing else"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _cap(text: str) -> str:
    """Sentence case for a title or sentence that may start with a lower-case word."""
    return text[:1].upper() + text[1:]


def _plain_label(label: str) -> str:
    """Label without parenthetical detail, for the plain language summary."""
    return re.sub(r"\s*\([^)]*\)", "", label).strip()


def _derivations_text(der: Mapping[str, Any]) -> str:
    """Each derived column's kind and window, from results.json ``derivation.derivations``."""
    items = der.get("derivations") or {}
    if not items:
        return fmt.DASH
    parts = []
    # sorted: results.json stores its keys sorted, so a rebuilt report says the same
    for cid, d in sorted(items.items()):
        window = f", {fmt.count(d['window_months'], 'month')}" if d.get("window_months") else ""
        parts.append(f"{cid}: {d.get('kind', '?')}{window}{_censor_text(d.get('censor'))}")
    return "; ".join(parts)


def _censor_text(censor: Any) -> str:
    """``censor`` of a derivation (a table or a list) as ``, follow-up ended at t.date or
    u.date`` (the earliest), or ``""``."""
    if not censor:
        return ""
    sources = [censor] if isinstance(censor, Mapping) else list(censor)
    dates = [f"{c.get('table', '?')}.{c.get('date', '?')}" for c in sources]
    return (
        ", follow-up ended at " + " or ".join(dates) + (" (the earliest)" if len(dates) > 1 else "")
    )


def _held_back_text(n: int) -> str:
    """The participant records quarantined at ingest, which no count of the flow includes."""
    if not n:
        return ""
    was, it = fmt.noun(n, "was", "were"), fmt.noun(n, "is", "are")
    return (
        f" A further {fmt.count(n, 'participant record')} {was} held back at data validation "
        f"(quarantined, with queries to the sites) and {it} in none of these counts."
    )


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:] if s[:2] != s[:2].upper() else s


def _is_significant(p: float | None) -> bool:
    return p is not None and p < 0.05


# --- the builder ------------------------------------------------------------------------


class _Builder:
    """Holds the parsed results and the running table and figure numbers."""

    def __init__(self, results: Mapping[str, Any]) -> None:
        if results.get("schema") != SCHEMA:
            raise ReportError(
                f"results file: schema is {results.get('schema')!r}, expected {SCHEMA!r}"
            )
        self.r = results
        self.kind = str(_need(results, "report_type", "the top level"))
        if self.kind not in REPORT_TYPES:
            raise ReportError(
                f"results file: report_type {self.kind!r} is not one of {', '.join(REPORT_TYPES)}"
            )
        arms = _need(results, "arms", "the top level")
        self.codes = tuple(str(a["code"]) for a in arms)
        self.labels = tuple(str(a["label"]) for a in arms)
        if self.kind == "blinded" and self.codes != ("A", "B"):
            raise ReportError(
                f"results file: a blinded report must have arms A and B, got {list(self.codes)}"
            )
        if self.kind == "open" and len(self.codes) != 1:
            raise ReportError(
                f"results file: an open report must have one pooled arm, got {list(self.codes)}"
            )
        if self.kind == "unblinded" and len(self.codes) != 2:
            raise ReportError(
                f"results file: an unblinded report must have two arms, got {list(self.codes)}"
            )
        self.comparative = self.kind != "open"
        self.outcomes: list[Mapping[str, Any]] = list(_need(results, "outcomes", "the top level"))
        if not self.outcomes:
            raise ReportError("results file: 'outcomes' is empty")
        self.primary = next((o for o in self.outcomes if o.get("role") == "primary"), None)
        if self.primary is None:
            raise ReportError("results file: no outcome has role 'primary'")
        self.n_table = 0
        self.n_figure = 0
        self.refs: dict[str, str] = {}

    # numbering -------------------------------------------------------------------------
    def table(
        self, key: str, title: str, body: pd.DataFrame, *, landscape: bool = False, **kw: Any
    ) -> TableBlock:
        self.n_table += 1
        self.refs[key] = f"Table {self.n_table}"
        return TableBlock(ReportTable(self.n_table, title, body, **kw), landscape=landscape)

    def figure(self, key: str, title: str, **kw: Any) -> FigureBlock:
        self.n_figure += 1
        self.refs[key] = f"Figure {self.n_figure}"
        return FigureBlock(key, self.n_figure, title, **kw)

    # small accessors -------------------------------------------------------------------
    def arm_label(self, code: str) -> str:
        return self.labels[self.codes.index(code)]

    def effect_of(self, o: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The outcome's effect, if the report compares arms and it has an estimate and CI."""
        e = o.get("effect") if self.comparative else None
        if not e or any(e.get(k) is None for k in ("estimate", "ci_lower", "ci_upper")):
            return None
        return e

    def effect_sentence(self, o: Mapping[str, Any]) -> str:
        e = self.effect_of(o)
        if not e:
            return ""
        return f"{e['measure']} {fmt.effect_text(e)}, {fmt.pvalue(e.get('p_value'))}"

    def not_estimable(self, o: Mapping[str, Any]) -> str:
        """Why a comparative report has no effect for the outcome (from the analysis's
        notes), or "" when it has one."""
        if not self.comparative or self.effect_of(o):
            return ""
        return next(
            (
                str(n).split(": ", 1)[1]
                for n in o.get("notes") or []
                if str(n).startswith(("model not estimable: ", "model not fitted: "))
            ),
            "the analysis gave no estimate",
        )

    # sections --------------------------------------------------------------------------
    def title_page(self) -> Section:
        r = self.r
        plan, trial, freeze = r["plan"], r["trial"], r["freeze"]
        blocks: list[Block] = [
            Para(_cap(str(r["title"])), style="title"),
            Para("Statistical report of a cluster randomised controlled trial", style="subtitle"),
            Para(_BANNERS[self.kind], style="banner"),
            Para(
                f"Statistical analysis plan version {plan['version']} ({plan['status']}), "
                f"dated {plan['date']} (file {plan.get('file', '')}).",
                style="meta",
            ),
            Para(
                f"Trial: {_cap(str(trial['name']))}. Registration: {trial['registration']}.",
                style="meta",
            ),
            Para(
                f"Data freeze: cut-off {freeze['data_cutoff']}; "
                f"manifest SHA-256 {str(freeze['manifest_sha256'])[:12]}… (full hashes in Appendix 1).",
                style="meta",
            ),
            Para(f"Produced by odtrial {r['software'].get('odtrial', '')}.", style="meta"),
        ]
        if plan.get("status") != "final":
            blocks.append(
                Para(
                    "The analysis plan is not yet final: these results are provisional.",
                    style="meta",
                )
            )
        return Section("title", "Title page", tuple(blocks), level=0)

    def abbreviations(self) -> Section:
        own = self.r["plan"].get("sections", {}).get("summary", {}).get("abbreviations") or {}
        from odtrial.report.econ_sections import ABBREVIATIONS as ECON

        econ = dict(ECON) if self.r.get("health_economics") else {}
        merged = dict(_ABBREVIATIONS) | econ | {str(k): str(v) for k, v in own.items()}
        items = tuple(f"{a}: {merged[a]}" for a in sorted(merged, key=str.lower))
        return Section("abbreviations", "List of abbreviations", (Bullets(items),), page_break=True)

    def _arm_phrase(self, o: Mapping[str, Any]) -> str:
        s = o["summary_by_arm"]
        stat = s[self.codes[0]]["statistic"]
        return f"{stat}, " + ", ".join(f"{self.arm_label(c)} {s[c]['display']}" for c in self.codes)

    def scientific_summary(self) -> Section:
        r, p = self.r, self.primary
        assert p is not None
        flow = r["flow"]
        recruited = sum(int(a["recruited"]) for a in flow["arms"])
        analysed = sum(int(a["analysed"]) for a in flow["arms"])
        secondary = [o for o in self.outcomes if o.get("role") != "primary"]
        blocks: list[Block] = [
            Para(
                f"{_cap(str(r['title']))}. Clusters rather than individuals were randomised, so the "
                "analysis allows for the correlation of outcomes within clusters.",
                lead="Background.",
            ),
            Para(
                f"To estimate the effect of the intervention on the primary outcome, "
                f"{_lower_first(p['label'])}"
                + (
                    f", and on {fmt.count(len(secondary), 'secondary outcome')}: "
                    + ", ".join(_lower_first(o["label"]) for o in secondary)
                    if secondary
                    else ""
                )
                + ".",
                lead="Objectives.",
            ),
            Para(
                "Two-arm cluster randomised controlled trial; "
                f"{fmt.count(flow['clusters_randomised'], 'cluster')} randomised, "
                f"{fmt.count(recruited, 'participant')} recruited. The primary outcome "
                f"was analysed with {a_or_an(model_text(p['model']))} {model_text(p['model'])}. "
                + (
                    f"{_cap(fmt.noun(len(secondary), 'the secondary outcome', 'secondary outcomes'))} "
                    f"used {fmt.noun(len(secondary), 'a model', 'models')} suited to "
                    f"{fmt.noun(len(secondary), 'its', 'their')} type, each with a random "
                    "intercept for cluster or a cluster-robust variance. "
                    if secondary
                    else ""
                )
                + "Analyses followed the statistical analysis plan "
                f"version {r['plan']['version']} ({r['plan']['status']}).",
                lead="Methods.",
            ),
        ]
        results_txt = (
            (
                "Effects are shown with their 95% confidence intervals (CIs) in brackets. "
                if self.comparative
                else ""
            )
            + f"{analysed:,} of {fmt.count(recruited, 'participant')} had the primary outcome "
            "observed. "
            f"Primary outcome: {self._arm_phrase(p)}."
        )
        if self.comparative:
            a, b = self.labels
            results_txt += (
                f" Adjusted {self.effect_sentence(p)} for {a} versus {b}."
                if self.effect_of(p)
                else f" The effect on the primary outcome was not estimable: {self.not_estimable(p)}."
            )
            icc = p.get("icc")
            if icc:
                results_txt += (
                    f" The ICC was {fmt.est_ci(icc['estimate'], icc['ci_lower'], icc['ci_upper'], 3)}"
                    f" on the {icc['scale']} scale."
                )
            sec = [
                f"{_lower_first(o['label'])}, {self.effect_sentence(o)}"
                for o in secondary
                if self.effect_of(o)
            ]
            if sec:
                results_txt += " Secondary outcomes: " + "; ".join(sec) + "."
            sens = [s for s in self.r.get("sensitivity", []) if s.get("outcome") == p["id"]]
            tested = [s for s in sens if s.get("p_value") is not None]
            pe = self.effect_of(p)
            if tested and pe:
                sig = [_is_significant(s.get("p_value")) for s in tested]
                agree = all(x == _is_significant(pe.get("p_value")) for x in sig)
                results_txt += (
                    f" {_cap(fmt.count(len(tested), 'sensitivity analysis', 'sensitivity analyses'))}"
                    " of the primary outcome "
                    + (
                        ("all agreed with" if agree else "did not all agree with")
                        if len(tested) > 1
                        else ("agreed with" if agree else "did not agree with")
                    )
                    + " the primary analysis at the 5% level."
                )
            if len(tested) < len(sens):
                results_txt += (
                    f" {_cap(fmt.count(len(sens) - len(tested), 'sensitivity analysis', 'sensitivity analyses'))}"
                    " of the primary outcome "
                    + ("was" if len(sens) - len(tested) == 1 else "were")
                    + " not estimable."
                )
        else:
            results_txt += " Comparisons between arms are not shown in an open report."
        blocks.append(Para(results_txt, lead="Results."))
        if self.kind == "blinded":
            concl = (
                "Arms are reported as A and B; conclusions about the intervention must wait "
                "for the unblinded analysis under the final analysis plan."
            )
        elif self.kind == "open":
            concl = "Pooled data only, for the data monitoring committee."
        elif (pe := self.effect_of(p)) is None:
            concl = (
                "The effect on the primary outcome could not be estimated from these data, so "
                "they do not answer the trial's main question."
            )
        else:
            concl = (
                f"The primary analysis {'showed' if _is_significant(pe.get('p_value')) else 'did not show'} "
                f"evidence of a difference between {self.labels[0]} and {self.labels[1]} at "
                "the 5% level."
            )
        blocks.append(Para(concl, lead="Conclusions."))
        blocks.append(Para(f"{r['trial']['registration']}.", lead="Trial registration."))
        return Section("scientific_summary", "Scientific summary", tuple(blocks), page_break=True)

    def plain_language_summary(self) -> Section:
        r, p = self.r, self.primary
        assert p is not None
        flow = r["flow"]
        recruited = sum(int(a["recruited"]) for a in flow["arms"])
        window = r.get("derivation", {}).get("window_months")
        # the trial's own words come from the plan's [summary]; the fallback fits any trial
        text = r["plan"].get("sections", {}).get("summary", {})
        paras = [
            Para(
                str(text.get("plain_language") or _PLAIN_LANGUAGE),
                lead="What did we want to find out?",
            ),
            Para(
                f"{flow['clusters_randomised']} {text.get('clusters') or 'groups'} took part and "
                f"{fmt.count(recruited, 'person', 'people')} joined the study"
                + (f". We followed each person for {fmt.count(window, 'month')}" if window else "")
                + f". The main question was about {_lower_first(_plain_label(p['label']))}. "
                "We also looked at "
                + _and_list(
                    [_lower_first(_plain_label(o["label"])) for o in self.outcomes if o is not p]
                )
                + ".",
                lead="What did we do?",
            ),
        ]
        s = p["summary_by_arm"]

        def plain(c: str) -> str:
            m = re.fullmatch(r"([\d,]+)(?:\s*/\s*[\d,]+)? \(([\d.]+)%?\)", str(s[c]["display"]))
            if m:
                return f"{m.group(1)} of {s[c]['n']} people ({m.group(2)} in every 100)"
            return str(s[c]["display"])

        if self.kind == "open":
            found = (
                "This report puts everyone together and does not compare the two ways of "
                "providing care. It shows how many people took part and how complete the "
                f"information is. Overall, for {_lower_first(_plain_label(p['label']))}: "
                f"{plain(self.codes[0])}."
            )
        else:
            parts = [f"in {self.arm_label(c)}, {plain(c)}" for c in self.codes]
            pe = self.effect_of(p)
            chance = (
                "There was not enough information to compare the two."
                if pe is None
                else "The difference between the two is unlikely to be due to chance alone."
                if _is_significant(pe.get("p_value"))
                else "The difference between the two could be due to chance."
            )
            found = (
                f"For {_lower_first(_plain_label(p['label']))}: " + "; ".join(parts) + ". " + chance
            )
        paras.append(Para(found, lead="What did we find?"))
        if self.kind == "blinded":
            meaning = (
                "The two ways of providing care are called arm A and arm B in this report, "
                "and the report does not say which is which. The results must not be used "
                "to decide which care is better until the plan for the analysis is final."
            )
        elif self.kind == "open":
            meaning = (
                "This report helps the independent committee that watches over the study "
                "to check that the study is running well."
            )
        else:
            meaning = (
                "These results should be read together with the other findings of the study "
                "before any change to care is made."
            )
        paras.append(Para(meaning, lead="What does this mean?"))
        return Section(
            "plain_language_summary", "Plain language summary", tuple(paras), page_break=True
        )

    def abstract(self) -> Section:
        r, p = self.r, self.primary
        assert p is not None
        flow = r["flow"]
        recruited = sum(int(a["recruited"]) for a in flow["arms"])
        arms_txt = (
            "arms pooled in this report"
            if not self.comparative
            else " and ".join(
                f"{self.arm_label(a['arm'])} ({fmt.count(a['randomised_clusters'], 'cluster')}, "
                f"{fmt.count(a['recruited'], 'participant')})"
                for a in flow["arms"]
            )
        )
        blocks: list[Block] = [
            Para(f"{_cap(str(r['trial']['name']))}: {r['title']}.", lead="Background."),
            Para("Two-arm, parallel-group cluster randomised controlled trial.", lead="Design."),
            Para(
                f"{fmt.count(flow['clusters_randomised'], 'cluster')} randomised; "
                f"{fmt.count(recruited, 'participant')}: "
                f"{arms_txt}.",
                lead="Participants.",
            ),
            Para(
                f"Primary: {_lower_first(p['label'])}."
                + "".join(
                    f" Secondary: {'; '.join(_lower_first(o['label']) for o in others)}."
                    for others in ([o for o in self.outcomes if o is not p],)
                    if others
                ),
                lead="Main outcome measures.",
            ),
        ]
        res = [f"Primary outcome: {self._arm_phrase(p)}"]
        if self.comparative:
            res[0] += (
                f"; adjusted {self.effect_sentence(p)}"
                if self.effect_of(p)
                else f"; effect not estimable: {self.not_estimable(p)}"
            )
            if p.get("absolute"):
                res[0] += f"; {p['absolute']['measure']} {fmt.effect_text(p['absolute'])}"
            if p.get("icc"):
                i = p["icc"]
                res[0] += f"; ICC {fmt.est_ci(i['estimate'], i['ci_lower'], i['ci_upper'], 3)}"
            for o in self.outcomes:
                if o is not p and self.effect_of(o):
                    res.append(f"{o['label']}: {self.effect_sentence(o)}")
        blocks.append(Para(". ".join(res) + ".", lead="Results."))
        if self.kind == "blinded":
            blocks.append(Para("Blinded analysis; arms are shown as A and B.", lead="Limitations."))
        blocks.append(Para(f"{r['trial']['registration']}.", lead="Trial registration."))
        return Section("abstract", "Abstract", tuple(blocks), page_break=True)

    def methods(self) -> list[Section]:
        r, p = self.r, self.primary
        assert p is not None
        flow = r["flow"]
        design = r.get("design") or {}  # optional, richer text when the engine provides it
        from odtrial.report.sample_size import sample_size_paragraph

        per_arm = ", ".join(
            f"{a['randomised_clusters']} to {self.arm_label(a['arm'])}" for a in flow["arms"]
        )
        covs = _covariates(p["model"])
        cluster_col = p["model"].get("cluster", "cluster_id")
        kinds = {str(o["model"].get("kind")) for o in self.outcomes}
        dfs = sorted(
            {
                _DF_NAMES.get(str(o["model"].get("df_method")), str(o["model"].get("df_method")))
                for o in self.outcomes
            }
        )
        plan_text = r["plan"].get("sections") or {}
        rows = []
        notes: list[str] = []
        for o in self.outcomes:
            m = o["model"]
            e = o.get("effect") or {}
            level = (
                "marginal"
                if m.get("kind") == "gee"
                else "conditional on cluster"
                if m.get("kind") == "glmm"
                else "individual-average"
            )
            summary = (
                f"{e.get('measure', fmt.DASH)}, {level}"
                if self.comparative
                else "Not shown" + _mark(notes, "Effect measures are not shown in an open report.")
            )
            rows.append(
                {
                    "Outcome": o["label"]
                    + (_mark(notes, "Primary outcome.") if o is self.primary else ""),
                    "Type": str(o.get("type", "")),
                    "Population": str(o.get("population", "")),
                    "Model": model_short(m),
                    "Adjusted for": ", ".join(_covariates(m)) or "none",
                    "Summary measure": summary,
                }
            )
        model_tbl = self.table(
            "models",
            "Outcomes, analysis populations, models and estimands",
            pd.DataFrame(rows),
            footnotes=tuple(notes),
            abbreviations="df, degrees of freedom; GLMM, generalised linear mixed model; "
            "LMM, linear mixed model; ML, maximum likelihood; REML, restricted maximum likelihood.",
        )
        sections = [
            Section(
                "methods",
                "Methods summary",
                (
                    Para(
                        str(
                            design.get("description")
                            or "Two-arm, parallel-group cluster randomised controlled trial "
                            "with allocation of clusters: "
                            f"{fmt.count(flow['clusters_randomised'], 'cluster')} "
                            + (
                                f"randomised ({per_arm})."
                                if self.comparative
                                else "randomised (arms pooled in this report)."
                            )
                        ),
                        lead="Design.",
                    ),
                    Para(
                        str(
                            design.get("cluster_definition")
                            or "The cluster is the unit of randomisation (column "
                            f"'{cluster_col}' in the analysis dataset); participants are "
                            "analysed in the cluster as randomised."
                        ),
                        lead="Cluster definition.",
                    ),
                    Para(
                        str(
                            design.get("randomisation")
                            or "Clusters were allocated within strata, as set out in the "
                            "statistical analysis plan; the models adjust for the stratification "
                            "factor and prespecified baseline covariates"
                            + (f" (primary outcome: {_and_list(covs)})" if covs else "")
                            + "."
                        ),
                        lead="Randomisation.",
                    ),
                    *(
                        Para(str(design[key]), lead="Recruitment.")
                        for key in ("recruitment_after_randomisation",)
                        if design.get(key)
                    ),
                    *(  # computed from the plan's inputs by odtrial.design
                        Para(text, lead="Sample size.")
                        for text in (sample_size_paragraph(design, self.outcomes),)
                        if text
                    ),
                    *self.allocation_record_paragraph(),
                ),
                page_break=True,
            ),
            Section(
                "estimands",
                "Outcomes and estimands",
                (
                    Para(
                        f"{self.refs['models']} lists each outcome with its analysis population, "
                        "model and estimand. Each estimand (ICH E9(R1)) compares the intervention "
                        "with control as randomised, in the stated population; intercurrent "
                        "events are handled by the treatment policy strategy unless the analysis "
                        "plan says otherwise."
                    ),
                    model_tbl,
                ),
                level=2,
            ),
            Section(
                "models_text",
                "Statistical models",
                tuple(Para(text, lead=lead) for lead, text in self.model_paragraphs()),
                level=2,
            ),
            Section(
                "clustering",
                "How clustering was handled",
                (
                    Para(
                        "Outcomes of people in the same cluster are correlated. "
                        + (
                            "Mixed models (GLMM, LMM) include a random intercept for cluster. "
                            if kinds & {"glmm", "lmm"}
                            else ""
                        )
                        + (
                            "The time-to-event outcome uses a Cox model with a cluster-robust "
                            "sandwich variance. "
                            if "cox" in kinds
                            else ""
                        )
                        + "The intracluster correlation coefficient (ICC) of each outcome is "
                        "estimated from a model with no arm term or covariates (the outcome's "
                        "clustering as a future trial would plan for it; a difference between "
                        "the arms, which are allocated by cluster, adds to it) and "
                        "reported with its 95% CI and the scale on which it is measured: for "
                        "binary outcomes (and for the event indicator of a time-to-event "
                        "outcome) on the latent scale of a random-intercept logistic model "
                        "(between-cluster variance over itself plus π²/3), with a Wald "
                        "interval on the log standard deviation; for continuous and count "
                        "outcomes on the scale of the outcome, estimated by REML with a "
                        "profile-likelihood interval. Both are variance ratios, so neither an "
                        "estimate nor a limit can fall below zero."
                    ),
                ),
                level=2,
            ),
            Section(
                "small_sample",
                "Small-sample corrections",
                (
                    Para(
                        f"With {fmt.count(flow['clusters_randomised'], 'cluster')}, uncorrected mixed models "
                        "and GEE can inflate the type I error. Inference therefore uses: "
                        + "; ".join(dfs)
                        + "."
                    ),
                ),
                level=2,
            ),
            Section(
                "sensitivity_methods",
                "Prespecified sensitivity analyses",
                (Para(self.sensitivity_methods_text()),),
                level=2,
            ),
            Section(
                "missing_methods",
                "Handling of missing data",
                (
                    Para(
                        str(
                            plan_text.get("missing_data", {}).get("approach")
                            or "Each model uses the participants with the outcome observed; "
                            "likelihood-based mixed models are valid when outcomes are missing "
                            "at random given the covariates in the model. Missing data are "
                            "tabulated by arm and time point in the results."
                        )
                    ),
                ),
                level=2,
            ),
        ]
        if plan_text.get("multiplicity", {}).get("approach"):
            sections.append(
                Section(
                    "multiplicity",
                    "Multiplicity",
                    (Para(str(plan_text["multiplicity"]["approach"])),),
                    level=2,
                )
            )
        return sections

    def allocation_record_paragraph(self) -> list[Para]:
        head = self.r["freeze"].get("randomisation_log_head")
        perm = next((s for s in self.r["sensitivity"] if s.get("method") == "permutation"), None)
        if not head:
            return []
        text = (
            "The allocation analysed is the one in the trial's randomisation record, whose "
            f"hash-chained log (head {str(head)[:12]}…, full hash in Appendix 1) and files "
            "were verified when the data were frozen."
        )
        space = (perm or {}).get("space") or {}
        if space.get("source") == "randomisation record":
            text += (
                f" The permutation test uses that record's constrained space of "
                f"{fmt.count(int(space['n_constrained']), 'allocation')}."
            )
        return [Para(text, lead="Allocation record.")]

    def model_paragraphs(self) -> list[tuple[str, str]]:
        """One paragraph per outcome: model, effect measure, absolute difference."""
        out = []
        for o in self.outcomes:
            m = o["model"]
            e = o.get("effect") or {}
            text = model_text(m)[0].upper() + model_text(m)[1:]
            covs = _covariates(m)
            text += ", adjusted for " + (_and_list(covs) if covs else "no covariates") + "."
            if self.comparative and e.get("measure"):
                text += f" Effect measure: {e['measure']}"
                text += (
                    " (conditional on cluster)."
                    if m.get("kind") == "glmm"
                    else " (population-averaged)."
                    if m.get("kind") in ("gee", "cox")
                    else "."
                )
            ab = o.get("absolute") or {}
            if self.comparative and ab.get("measure"):
                text += f" Absolute difference: {ab['measure']}, {ab.get('method', '')}."
            if o.get("type") == "time-to-event":
                text += " Its ICC is that of the event indicator (any event in the window)."
            out.append((f"{o['label']}.", text))
        return out

    def sensitivity_methods_text(self) -> str:
        rows = self.r["sensitivity"]
        if not rows:
            return "The analysis plan specifies no sensitivity analyses."
        by_outcome = {o["id"]: o["label"] for o in self.outcomes}
        items = [
            f"{s['label']} ({_lower_first(by_outcome.get(s['outcome'], s['outcome']))})"
            for s in rows
        ]
        return (
            "As prespecified, the following analyses test how far the conclusions depend on "
            "the modelling choices: " + "; ".join(items) + ". Their results are shown beside "
            "the main analysis."
        )

    # results ---------------------------------------------------------------------------
    def arm_columns(self) -> list[str]:
        return list(self.labels)

    def baseline_table(self, level: str, title: str) -> TableBlock:
        rows = self.r["baseline"][level]
        notes: list[str] = []
        head = "Characteristic" + _mark(
            notes, "Summary statistics as stated in each row; percentages of those with data."
        )
        body = pd.DataFrame(
            [
                {head: _indent(str(row["characteristic"]))}
                | {
                    lab: str(row.get(code, fmt.DASH))
                    for code, lab in zip(self.codes, self.labels, strict=True)
                }
                for row in rows
            ]
        )
        return self.table(f"baseline_{level}", title, body, footnotes=tuple(notes))

    def outcomes_table(self) -> TableBlock:
        rows = []
        notes: list[str] = []
        effect_head = "Adjusted effect (95% CI)"
        if self.comparative:
            a, b = self.labels
            effect_head += _mark(
                notes,
                f"Effects compare {a} with {b}: ratios above 1 and differences above 0 mean "
                f"higher values with {a}. Risk differences are proportions.",
            )
        for o in self.outcomes:
            sba = o["summary_by_arm"]
            stat = sba[self.codes[0]]["statistic"]
            label = f"{o['label']}, {stat}"
            if o is self.primary:
                label = "Primary: " + label
            row: dict[str, str] = {"Outcome": label}
            for c, lab in zip(self.codes, self.labels, strict=True):
                # n analysed under the summary, in the same cell: keeps the table in portrait
                row[lab] = f"{sba[c]['display']}\nn = {o['n_analysed'][c]}"
            if self.comparative:
                e = self.effect_of(o)
                if e:
                    m = _mark(notes, f"{model_text(o['model'])}.")
                    row[effect_head] = f"{e['abbrev']} {fmt.effect_text(e)}{m}"
                    row["p-value"] = fmt.pvalue(e.get("p_value"), prefix=False)
                else:
                    why = _mark(notes, f"Not estimable: {self.not_estimable(o)}.")
                    row[effect_head] = "Not estimable" + why
                    row["p-value"] = fmt.DASH
                ab = o.get("absolute")
                if ab:
                    abbrev = {"risk difference": "RD", "difference in means": "MD"}.get(
                        str(ab["measure"])
                    )
                    row["Absolute difference (95% CI)"] = (
                        f"{abbrev} {fmt.effect_text(ab)}"
                        if abbrev
                        else f"{fmt.effect_text(ab)}\n{ab['measure']}"
                    )
                else:
                    row["Absolute difference (95% CI)"] = fmt.DASH + _mark(
                        notes, "Absolute difference not estimated for this outcome type."
                    )
            rows.append(row)
        if self.comparative:
            abbr = (
                "HR, hazard ratio; MD, mean difference; OR, odds ratio; RD, risk difference; "
                "RR, rate ratio; SD, standard deviation."
            )
        else:
            abbr = "Open report: pooled summaries only; SD, standard deviation."
        return self.table(
            "outcomes",
            "Primary and secondary outcomes" + (" by arm" if self.comparative else " (pooled)"),
            pd.DataFrame(rows),
            footnotes=tuple(notes),
            abbreviations=abbr,
            landscape=self.comparative,  # six columns of numbers: portrait squeezes the labels
        )

    def icc_table(self) -> TableBlock:
        rows = []
        notes: list[str] = []
        for o in self.outcomes:
            i = o.get("icc")
            if i:
                method = str(i.get("method", ""))
                if i.get("ci_method"):
                    method += f"; CI: {i['ci_method']}"
                marks = "".join(_mark(notes, str(n)) for n in i.get("notes") or [])
                rows.append(
                    {
                        "Outcome": o["label"],
                        "ICC (95% CI)": fmt.est_ci(i["estimate"], i["ci_lower"], i["ci_upper"], 3)
                        + marks,
                        "Scale": str(i["scale"]),
                        "Method": method,
                    }
                )
            else:
                failed = [
                    str(n)
                    for n in o.get("notes") or []
                    if str(n).startswith(("model not estimable: ", "ICC not estimable: "))
                ]
                reason = (
                    _cap(failed[0]) + "."
                    if failed
                    else "No random-effects model for this outcome (cluster-robust variance), so no ICC."
                    if o["model"].get("kind") in ("cox", "gee")
                    else "ICC not estimated for this model family."
                )
                rows.append(
                    {
                        "Outcome": o["label"],
                        "ICC (95% CI)": "Not estimated" + _mark(notes, reason),
                        "Scale": fmt.DASH,
                        "Method": fmt.DASH,
                    }
                )
        scale_mark = _mark(
            notes,
            "Latent scale: cluster variance / (cluster variance + π²/3); proportion scale: "
            "analysis of variance estimator; continuous: cluster variance / total variance.",
        )
        body = pd.DataFrame(rows).rename(columns={"Scale": "Scale" + scale_mark})
        return self.table(
            "icc", "Intracluster correlation coefficient for each outcome", body,
            footnotes=tuple(notes),
        )  # fmt: skip

    def sensitivity_table(self) -> TableBlock | None:
        if not self.comparative:
            return None
        by_outcome: dict[str, list[Mapping[str, Any]]] = {}
        for s in self.r.get("sensitivity", []):
            by_outcome.setdefault(str(s["outcome"]), []).append(s)
        rows = []
        notes: list[str] = []
        for o in self.outcomes:
            sens = by_outcome.get(str(o["id"]))
            if not sens:
                continue
            e = self.effect_of(o)
            mark = _mark(
                notes,
                "The prespecified primary analysis, repeated from the outcomes table for "
                "comparison.",
            )
            rows.append(
                {
                    "Outcome": o["label"],
                    "Analysis": f"Primary analysis{mark}: {model_short(o['model'])}",
                    "Effect (95% CI)": f"{e['abbrev']} {fmt.effect_text(e)}" if e else fmt.DASH,
                    "p-value": fmt.pvalue(e.get("p_value") if e else None, prefix=False),
                    "Note": "" if e else f"not estimable: {self.not_estimable(o)}",
                }
            )
            for s in sens:
                se = s.get("effect")
                rows.append(
                    {
                        "Outcome": "",
                        "Analysis": str(s["label"]),
                        "Effect (95% CI)": f"{se['abbrev']} {fmt.effect_text(se)}"
                        if se
                        else fmt.DASH,
                        "p-value": fmt.pvalue(s.get("p_value"), prefix=False),
                        "Note": str(s.get("note", "")),
                    }
                )
        if not rows:
            return None
        return self.table(
            "sensitivity",
            "Sensitivity analyses beside the primary analysis",
            pd.DataFrame(rows),
            footnotes=tuple(notes),
            abbreviations="df, degrees of freedom; GEE, generalised estimating equations; "
            "GLMM, generalised linear mixed model; OR, odds ratio.",
        )

    def missing_table(self) -> TableBlock:
        md = self.r.get("missing_data", [])
        keys: list[tuple[str, str]] = []
        cells: dict[tuple[str, str, str], Mapping[str, Any]] = {}
        for m in md:
            k = (str(m["variable"]), str(m["time_point"]))
            if k not in keys:
                keys.append(k)
            cells[(k[0], k[1], str(m["arm"]))] = m
        notes: list[str] = []
        mark = _mark(notes, "Cells show participants with the variable missing / participants (%).")
        rows = []
        for var, tp in keys:
            label = next(
                (str(m["label"]) for m in md if m["variable"] == var and m.get("label")), ""
            )
            row = {"Variable": label or var.replace("_", " ").capitalize(), "Time point": tp}
            for c, lab in zip(self.codes, self.labels, strict=True):
                m = cells.get((var, tp, c))
                row[lab + mark] = (
                    f"{m['missing']} / {m['n']} ({fmt.num(m['percent'], 1)})" if m else fmt.DASH
                )
            rows.append(row)
        return self.table(
            "missing",
            "Missing data by arm and time point",
            pd.DataFrame(rows),
            footnotes=tuple(notes),
        )

    def imputation_blocks(self) -> tuple[Block, ...]:
        """The plan's multiple imputation beside the complete-case analysis, and its
        tipping-point analysis (results.json ``multiple_imputation``)."""
        mi = self.r.get("multiple_imputation")
        if not mi:
            return ()
        aux = [str(a).replace("_", " ") for a in mi.get("auxiliaries", [])]
        model = "the arm and the analysis model's covariates" + (
            f", with {_and_list(aux)} as auxiliary {fmt.noun(len(aux), 'variable')} "
            "(used to impute, not in the analysis model)"
            if aux
            else ""
        )
        intro = Para(
            f"{mi['label']} was also analysed after multiple imputation under missing at "
            f"random: {mi['m']} imputations (seed {mi['seed']}) from a model with a cluster "
            f"random intercept holding {model}; each completed dataset was analysed by the "
            "primary model and the results pooled by Rubin's rules with Barnard-Rubin "
            "degrees of freedom."
        )
        if not self.comparative:
            return (intro,)
        if "pooled" not in mi:
            why = str(mi.get("note") or "not estimable").removeprefix("not estimable: ")
            return intro, Para(f"The multiple-imputation analysis was not estimable: {why}.")
        cc, pooled = mi["complete_case"] or {}, mi["pooled"]
        abbrev = str(pooled["abbrev"])
        rows = [
            {
                "Analysis": "Complete case (primary)",
                "n": f"{mi['n_complete']:,}",
                f"{abbrev} (95% CI)": fmt.effect_text(cc),
                "p-value": fmt.pvalue(cc.get("p_value"), prefix=False),
                "df": fmt.df_text(cc.get("df")),
                "FMI": fmt.DASH,
            },
            {
                "Analysis": f"Multiple imputation (m = {mi['m']})",
                "n": f"{mi['n']:,}",
                f"{abbrev} (95% CI)": fmt.effect_text(pooled),
                "p-value": fmt.pvalue(pooled.get("p_value"), prefix=False),
                "df": fmt.df_text(pooled.get("df")),
                "FMI": fmt.num(pooled.get("fmi"), 2),
            },
        ]
        table = self.table(
            "imputation",
            f"{mi['label']}: complete-case and multiple-imputation analyses",
            pd.DataFrame(rows),
            footnotes=(
                "FMI: fraction of missing information about the effect; df: Barnard-Rubin "
                "degrees of freedom for the imputation analysis.",
            ),
        )
        blocks: list[Block] = [
            intro,
            Para(f"{self.refs['imputation']} sets the two analyses side by side."),
            table,
        ]
        checks = self._imputation_checks(mi)
        if checks is not None:
            blocks.append(checks)
        tp = mi.get("tipping_point")
        if tp:
            blocks += self._tipping_blocks(mi, tp, abbrev)
        return tuple(blocks)

    def _imputation_checks(self, mi: Mapping[str, Any]) -> Para | None:
        """One paragraph: the chains' convergence and observed against imputed means."""
        conv = mi.get("convergence") or []
        if not conv:
            return None
        worst = max(float(c["rhat"]) for c in conv)
        bad = sorted({str(c["variable"]) for c in conv if not c["converged"]})
        chains = (
            f"{fmt.count(int(conv[0]['chains']), 'chain')}, last "
            f"{fmt.count(int(conv[0]['iterations']), 'iteration')}"
        )
        text = (
            f"The imputation model's chains converged (split-R̂ at most {worst:.2f}; {chains})."
            if not bad
            else f"The imputation model's chains did not converge for {', '.join(bad)} "
            f"(split-R̂ up to {worst:.2f}; {chains}): treat the imputation with caution."
        )
        means = [
            f"{str(o['variable']).replace('_', ' ')} {fmt.num(o['observed_mean'], 2)} observed "
            f"({o['n_observed']}) and {fmt.num(o['imputed_mean'], 2)} imputed ({o['n_imputed']})"
            for o in mi.get("observed_vs_imputed", [])
        ]
        if means:
            text += " Means: " + "; ".join(means) + "."
        return Para(text)

    def _tipping_blocks(
        self, mi: Mapping[str, Any], tp: Mapping[str, Any], abbrev: str
    ) -> list[Block]:
        from odtrial.report.tipping import SCALE_WORDS, shifted_words

        deltas = [float(r["delta"]) for r in tp["rows"]]
        who = shifted_words(tp, (self.labels[0], self.labels[1]))
        scale = SCALE_WORDS.get(str(tp["scale"]), str(tp["scale"]))
        fig = self.figure(
            "tipping_point",
            f"Tipping-point analysis of {_lower_first(str(mi['label']))}",
            note=(
                f"Imputed outcomes in {who} shifted by δ on the {scale} scale (missing not at "
                "random); δ = 0 is the analysis under missing at random."
            ),
            width_cm=15.0,
        )
        found = [
            f"{v:.2f} ({'below' if side == 'below' else 'above'} zero)"
            for side in ("below", "above")
            if (v := tp.get(side)) is not None
        ]
        if found:
            verdict = f"The conclusion at the 5% level changes at δ = {' and at δ = '.join(found)}."
        else:
            verdict = (
                f"No shift from δ = {min(deltas):g} to {max(deltas):g} changes the "
                "conclusion at the 5% level."
            )
        return [
            Para(
                f"{self.refs['tipping_point']} shows the pooled {abbrev} as the imputed "
                f"outcomes in {who} are shifted down or up from what missing at random "
                f"would predict. {verdict}"
            ),
            fig,
        ]

    def diagnostics_table(self) -> tuple[TableBlock, Para]:
        rows = []
        notes: list[str] = []
        models: list[tuple[str, Mapping[str, Any] | None]] = [
            (f"{o['label']}: primary model", o.get("diagnostics")) for o in self.outcomes
        ]
        if self.comparative:
            models += [
                (f"Sensitivity: {s['label']}", s.get("diagnostics"))
                for s in self.r.get("sensitivity", [])
            ]
        n_sing = n_nonconv = 0
        for name, d in models:
            if not d:
                continue
            warns = [str(w) for w in d.get("warnings", [])]
            marks = "".join(_mark(notes, w) for w in warns)
            n_sing += bool(d.get("singular"))
            n_nonconv += not d.get("converged", True)
            rows.append(
                {
                    "Model": name + marks,
                    "Converged": fmt.yes_no(d.get("converged")),
                    "Singular fit": fmt.yes_no(d.get("singular")),
                    "Max |gradient|": fmt.sci(d.get("max_abs_gradient")),
                    "Hessian positive definite": fmt.yes_no(d.get("hessian_positive_definite")),
                    "Iterations": fmt.DASH
                    if d.get("n_iterations") is None
                    else str(d.get("n_iterations")),
                }
            )
        body = pd.DataFrame(rows)
        if not notes:
            body = body.rename(
                columns={"Model": "Model" + _mark(notes, "No model raised a warning.")}
            )
        dash = _mark(notes, f"{fmt.DASH} Not reported by this fitting method.")
        body = body.rename(columns={"Max |gradient|": "Max |gradient|" + dash})
        summary = Para(
            f"{fmt.count(len(rows), 'fitted model')}: {len(rows) - n_nonconv} converged, "
            f"{n_nonconv} did not converge, {n_sing} with a singular fit. "
            "Every warning raised by the fitting routines is listed below the table and marked "
            "against its model; none was suppressed."
        )
        t = self.table("diagnostics", "Model diagnostics", body, footnotes=tuple(notes))
        return t, summary

    def results(self) -> list[Section]:
        r = self.r
        flow = r["flow"]
        consort = self.figure(
            "consort",
            "CONSORT flow diagram of clusters and individuals"
            + (" by arm" if self.comparative else " (arms pooled)"),
            width_cm=15.0,
        )
        flow_txt = Para(
            f"{fmt.count(flow['clusters_randomised'], 'cluster')} "
            f"{fmt.noun(flow['clusters_randomised'], 'was', 'were')} randomised. "
            f"{self.refs['consort']} "
            "shows the flow of clusters and individuals through the trial: randomised, "
            "received the allocation, lost to follow-up and analysed for the primary outcome ("
            f"{_lower_first(str(flow.get('outcome', '')))})."
            + _held_back_text(int(flow.get("participant_records_held_back") or 0))
        )
        b1 = self.baseline_table("cluster_level", "Baseline characteristics at cluster level")
        b2 = self.baseline_table("individual_level", "Baseline characteristics at individual level")
        out = self.outcomes_table()
        icc = self.icc_table()
        secs = [
            Section("results", "Results", (), page_break=True),
            Section("flow", "Participant flow", (flow_txt, consort), level=2),
            Section(
                "baseline",
                "Baseline characteristics",
                (
                    Para(
                        f"{self.refs['baseline_cluster_level']} describes the clusters and "
                        f"{self.refs['baseline_individual_level']} the participants"
                        + (" by arm." if self.comparative else ", arms pooled.")
                    ),
                    b1,
                    b2,
                ),
                level=2,
            ),
        ]
        outcome_blocks: list[Block] = [
            Para(
                f"{self.refs['outcomes']} gives the number analysed and the summary of each "
                "outcome"
                + (
                    " by arm, the adjusted effect with its 95% CI and p-value, and the absolute "
                    "difference."
                    if self.comparative
                    else ", arms pooled."
                )
            ),
            out,
        ]
        if self.comparative:
            p = self.primary
            assert p is not None
            outcome_blocks.insert(
                0,
                Para(
                    f"Primary outcome ({_lower_first(p['label'])}): adjusted "
                    f"{self.effect_sentence(p)}, comparing {self.labels[0]} with {self.labels[1]}."
                    if self.effect_of(p)
                    else f"Primary outcome ({_lower_first(p['label'])}): the adjusted effect "
                    f"was not estimable: {self.not_estimable(p)}."
                ),
            )
            effects = [o for o in self.outcomes if self.effect_of(o)]
            if effects:
                outcome_blocks.append(
                    self.figure(
                        "forest",
                        "Forest plot of adjusted effects with 95% CIs",
                        note=(
                            f"Ratios on a log scale (above 1: higher with {self.labels[0]}); "
                            "mean differences on their own axis."
                        ),
                        width_cm=16.0,
                    )
                )
                outcome_blocks.insert(2, Para(f"{self.refs['forest']} shows the adjusted effects."))
        secs.append(
            Section("outcomes", "Primary and secondary outcomes", tuple(outcome_blocks), level=2)
        )
        secs.append(
            Section(
                "icc",
                "Intracluster correlation",
                (
                    Para(
                        f"{self.refs['icc']} gives the ICC of each outcome with its 95% CI and scale."
                    ),
                    icc,
                ),
                level=2,
            )
        )
        sens = self.sensitivity_table()
        if sens is not None:
            secs.append(
                Section(
                    "sensitivity",
                    "Sensitivity analyses",
                    (
                        Para(
                            f"{self.refs['sensitivity']} sets each sensitivity analysis beside "
                            "the primary analysis of the same outcome."
                        ),
                        sens,
                    ),
                    level=2,
                )
            )
        else:
            secs.append(
                Section(
                    "sensitivity",
                    "Sensitivity analyses",
                    (
                        Para(
                            "Sensitivity analyses compare arms and are not shown in an open report."
                        ),
                    ),
                    level=2,
                )
            )
        miss = self.missing_table()
        secs.append(
            Section(
                "missing_data",
                "Missing data",
                (
                    Para(f"{self.refs['missing']} gives missing data by arm and time point."),
                    miss,
                    *self.imputation_blocks(),
                ),
                level=2,
            )
        )
        diag, summary = self.diagnostics_table()
        secs.append(Section("diagnostics", "Model diagnostics", (summary, diag), level=2))
        return secs

    def appendix(self) -> Section:
        r = self.r
        sw = r["software"]
        order = ["odtrial", "python", *sorted(k for k in sw if k not in ("odtrial", "python"))]
        soft = pd.DataFrame([{"Package": k, "Version": str(sw[k])} for k in order if k in sw])
        plan, trial, freeze = r["plan"], r["trial"], r["freeze"]
        der = r.get("derivation", {})
        prov_rows = [
            ("Results schema", str(r["schema"])),
            ("Report type", self.kind),
            ("Analysis plan file", str(plan.get("file", ""))),
            (
                "Analysis plan version, status, date",
                f"{plan['version']}, {plan['status']}, {plan['date']}",
            ),
            ("Analysis plan SHA-256", str(plan["sha256"])),
            ("Trial configuration SHA-256", str(trial["config_sha256"])),
            ("Data freeze manifest SHA-256", str(freeze["manifest_sha256"])),
            ("odtrial version that made the freeze", str(freeze.get("package_version", ""))),
            ("Data cut-off", str(freeze.get("data_cutoff", ""))),
            (
                "Randomisation log head (SHA-256)",
                str(
                    freeze.get("randomisation_log_head") or "no randomisation record in the freeze"
                ),
            ),
            ("Outcome window (months)", str(der.get("window_months", fmt.DASH))),
            ("Derived columns (plan key: kind)", _derivations_text(der)),
            ("Random seed{a}", str(r["seed"])),
        ]
        prov = pd.DataFrame(prov_rows, columns=["Item", "Value"])
        t1 = self.table("software", "Software versions", soft)
        t2 = self.table(
            "provenance",
            "Provenance: plan, configuration and data freeze hashes, seed",
            prov,
            footnotes=(
                "Re-running the same plan on the same freeze with this seed gives byte-identical results.",
            ),
        )
        return Section(
            "reproducibility",
            "Appendix 1 Reproducibility",
            (
                Para(
                    "Every number in this report is read from results.json written by the "
                    "analysis; the hashes below identify the exact plan, configuration and data."
                ),
                t1,
                t2,
            ),
            page_break=True,
        )

    def build(self) -> ReportContent:
        from odtrial.report.econ_sections import economics_data, economics_sections

        sections = [
            self.title_page(),
            self.abbreviations(),
            self.plain_language_summary(),
            self.scientific_summary(),
            self.abstract(),
            *self.methods(),
            *self.results(),
            *economics_sections(self),
            self.appendix(),
        ]
        flow = self.flow()
        effects = tuple(
            Effect(str(o["label"]), str(e["abbrev"]), float(e["estimate"]),
                   float(e["ci_lower"]), float(e["ci_upper"]))
            for o in self.outcomes
            if (e := self.effect_of(o))
        )  # fmt: skip
        return ReportContent(
            title=_cap(str(self.r["title"])),
            report_type=self.kind,
            banner=_BANNERS[self.kind],
            sections=tuple(sections),
            flow=flow,
            effects=effects,
            arm_codes=self.codes,
            arm_labels=self.labels,
            imputation=self.r.get("multiple_imputation"),
            health_economics=economics_data(self),
            metadata={
                "plan_version": str(self.r["plan"]["version"]),
                "plan_status": str(self.r["plan"]["status"]),
                "plan_date": str(self.r["plan"]["date"]),
                "odtrial": str(self.r["software"].get("odtrial", "")),
            },
        )

    def flow(self) -> Flow:
        f = self.r["flow"]
        arms = tuple(
            ArmFlow(
                label=self.arm_label(str(a["arm"])),
                randomised_clusters=int(a["randomised_clusters"]),
                received_clusters=int(a["received_clusters"]),
                recruited=int(a["recruited"]),
                received=int(a["received"]),
                lost_clusters=int(a["lost_clusters"]),
                lost=int(a["lost"]),
                analysed_clusters=int(a["analysed_clusters"]),
                analysed=int(a["analysed"]),
                cluster_sizes=tuple(int(x) for x in a.get("cluster_sizes", [])),
                excluded=None if a.get("excluded") is None else int(a["excluded"]),
            )
            for a in f["arms"]
        )
        return Flow(
            clusters_assessed=None,
            clusters_randomised=int(f["clusters_randomised"]),
            arms=arms,
            outcome_label=str(f.get("outcome", "")),
            held_back=int(f.get("participant_records_held_back") or 0),
        )


def build_sections(results: Mapping[str, Any]) -> ReportContent:
    """Build the ordered report content from a parsed results.json.

    Raises
    ------
    ReportError
        When the file is not an ``odtrial.results/1`` file, or its arms contradict
        its report type (a blinded file must say A and B; an open one one pooled arm).
    """
    try:
        return _Builder(results).build()
    except KeyError as exc:  # a required key missing deep inside: name it
        raise ReportError(f"results file: missing key {exc}") from None


def section_titles(content: ReportContent) -> Sequence[str]:
    return [s.title for s in content.sections]
