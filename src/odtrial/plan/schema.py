"""The SAP's schema: every table, key and allowed value, declared once.

The plan is checked against this schema before anything is built from it, so
a typo at any depth (``covariate`` for ``covariates`` inside an outcome's
``model`` table, ``nagg`` for ``nagq``, ``df = "kenward-rodger"``) is an
error at load, never a silently different analysis. Every failure is
collected, one line each, with the full key path and, for an unknown key or
value, the nearest valid one (:func:`difflib.get_close_matches`).

The option sets are exactly what the analysis layer reads
(:func:`odtrial.analysis.outcomes.fit_model`,
:func:`odtrial.analysis.sensitivity.run_sensitivity`), and the allowed values
exactly what the model functions accept; ``tests/plan`` checks both against
the code, so a new option must be added here to be usable, and an option the
analysis would ignore is refused.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from odtrial._errorlist import Errors
from odtrial._toml import suggest
from odtrial.data.medication_dictionary import ANTIPSYCHOTIC
from odtrial.plan.model import (
    ESTIMAND_LEVELS,
    IE_STRATEGIES,
    OUTCOME_ROLES,
    OUTCOME_TYPES,
    STATUSES,
)

# -- what the models accept (tests/plan checks these against the model modules) ----------
GLMM_FAMILIES: Final = ("binomial", "poisson", "negbin")
GLMM_ESTIMATION: Final = ("ML", "REML")
GLMM_DF: Final = ("satterthwaite", "between-within", "residual", "z")  # satterthwaite: REML
GLMM_MAX_NAGQ: Final = 100
LMM_DF: Final = ("satterthwaite", "kenward-roger", "between-within", "residual", "z")
GEE_FAMILIES: Final = ("binomial", "poisson", "gaussian")
GEE_COV_STRUCTS: Final = ("exchangeable", "independence")
GEE_COV_TYPES: Final = ("robust", "mancl-derouen", "kauermann-carroll", "fay-graubard")
COX_COV_TYPES: Final = (
    "model",
    "robust",
    "robust-g",
    "mancl-derouen",
    "kauermann-carroll",
    "fay-graubard",
)
COX_TIES: Final = ("efron", "breslow")
CL_WEIGHTS: Final = ("unweighted", "inverse-variance")
CL_SCALES: Final = ("difference", "ratio")
OFFSETS: Final = ("log_followup_years",)  # odtrial.analysis.outcomes.FOLLOWUP_OFFSET

# Which model kind and family the analysis can honour for each outcome type: the
# effect is labelled by the outcome type (odds ratio, rate ratio, mean difference,
# hazard ratio), so the family must be the one that estimates that measure.
OUTCOME_MODELS: Final[Mapping[str, Mapping[str, tuple[str, ...]]]] = {
    "binary": {"glmm": ("binomial",), "gee": ("binomial",)},
    "count": {"glmm": ("poisson", "negbin"), "gee": ("poisson",)},
    "continuous": {"lmm": (), "gee": ("gaussian",)},
    "time-to-event": {"cox": ()},
}
# The cluster-level summaries, GEE and the permutation test need one of these types.
CLUSTER_SUMMARY_TYPES: Final = ("binary", "count", "continuous")
SAMPLE_SIZE_TYPES: Final = ("binary", "continuous", "count")
SAMPLE_SIZE_METHODS: Final = ("analytic",)
SAMPLE_SIZE_CORRECTIONS: Final = ("t", "plus-one", "none")  # odtrial.design.analytic


def _shown(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _type_name(v: Any) -> str:
    return {dict: "table", list: "array", str: "string", bool: "boolean"}.get(
        type(v), type(v).__name__
    )


# -- field specs ----------------------------------------------------------------------


class Spec:
    """A value's rule; ``check`` records failures and returns whether the value is usable."""

    required: bool = True

    def check(self, v: Any, path: str, errs: Errors, parent: Mapping[str, Any]) -> bool:
        raise NotImplementedError


@dataclass(frozen=True)
class Text(Spec):
    """A non-blank string."""

    required: bool = True

    def check(self, v: Any, path: str, errs: Errors, parent: Mapping[str, Any]) -> bool:
        if not isinstance(v, str):
            errs.add(path, f"must be a string, got {_type_name(v)} {_shown(v)}")
            return False
        if not v.strip():
            errs.add(path, "must not be empty")
            return False
        return True


@dataclass(frozen=True)
class PlainText(Text):
    """Text for lay readers: at most ``max_words`` words and no abbreviations (a word of two
    or more capitals, as the plain language summary is checked)."""

    max_words: int = 300
    required: bool = True

    def check(self, v: Any, path: str, errs: Errors, parent: Mapping[str, Any]) -> bool:
        if not super().check(v, path, errs, parent):
            return False
        words = len(v.split())
        if words > self.max_words:
            errs.add(path, f"must be at most {self.max_words} words, got {words}")
            return False
        found = sorted(set(re.findall(r"\b[A-Z][A-Z0-9-]*[A-Z0-9]\b", v)))
        if found:
            errs.add(path, f"must be plain language without abbreviations, got {', '.join(found)}")
            return False
        return True


@dataclass(frozen=True)
class Choice(Spec):
    """One of a fixed set of strings."""

    values: tuple[str, ...]
    required: bool = True

    def check(self, v: Any, path: str, errs: Errors, parent: Mapping[str, Any]) -> bool:
        if not isinstance(v, str) or v not in self.values:
            hint = suggest(v, self.values) if isinstance(v, str) else ""
            errs.add(path, f"must be one of {', '.join(self.values)}, got {_shown(v)}{hint}")
            return False
        return True


@dataclass(frozen=True)
class Number(Spec):
    """An int (``integer=True``) or a float (ints accepted) within bounds."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    required: bool = True

    def check(self, v: Any, path: str, errs: Errors, parent: Mapping[str, Any]) -> bool:
        if (
            isinstance(v, bool)
            or not isinstance(v, int | float)
            or (self.integer and not isinstance(v, int))
        ):
            want = "an integer" if self.integer else "a number"
            errs.add(path, f"must be {want}, got {_type_name(v)} {_shown(v)}")
            return False
        if isinstance(v, float) and not math.isfinite(v):
            errs.add(path, f"must be finite, got {v!r}")
            return False
        x = v
        below = self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo)
        above = self.hi is not None and (x >= self.hi if self.hi_open else x > self.hi)
        if below or above:
            errs.add(path, f"must be {self.range_text()}, got {v!r}")
            return False
        return True

    def range_text(self) -> str:
        if self.hi is None:
            return f"greater than {self.lo}" if self.lo_open else f"at least {self.lo}"
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        return f"in {left}{'-inf' if self.lo is None else self.lo}, {self.hi}{right}"


@dataclass(frozen=True)
class Bool(Spec):
    required: bool = True

    def check(self, v: Any, path: str, errs: Errors, parent: Mapping[str, Any]) -> bool:
        if not isinstance(v, bool):
            errs.add(path, f"must be true or false, got {_type_name(v)} {_shown(v)}")
            return False
        return True


@dataclass(frozen=True)
class Date(Spec):
    required: bool = True

    def check(self, v: Any, path: str, errs: Errors, parent: Mapping[str, Any]) -> bool:
        from datetime import datetime

        if not isinstance(v, date) or isinstance(v, datetime):
            errs.add(path, f"must be date (YYYY-MM-DD, unquoted), got {_type_name(v)} {_shown(v)}")
            return False
        return True


@dataclass(frozen=True)
class Terms(Spec):
    """A list of formula terms (non-blank strings)."""

    required: bool = False

    def check(self, v: Any, path: str, errs: Errors, parent: Mapping[str, Any]) -> bool:
        if not isinstance(v, list) or not all(isinstance(c, str) and c.strip() for c in v):
            errs.add(path, "must be a list of formula terms (non-empty strings)")
            return False
        return True


@dataclass(frozen=True)
class Names(Spec):
    """A non-empty list of distinct names (non-blank strings)."""

    required: bool = True

    def check(self, v: Any, path: str, errs: Errors, parent: Mapping[str, Any]) -> bool:
        if not isinstance(v, list) or not v or not all(isinstance(c, str) and c.strip() for c in v):
            errs.add(path, f"must be a non-empty list of names, got {_type_name(v)} {_shown(v)}")
            return False
        if len(set(v)) != len(v):
            errs.add(path, f"repeats a name: {_shown(v)}")
            return False
        return True


@dataclass(frozen=True)
class Values(Spec):
    """A non-empty list of field values (strings, integers or booleans)."""

    required: bool = True

    def check(self, v: Any, path: str, errs: Errors, parent: Mapping[str, Any]) -> bool:
        if not isinstance(v, list) or not v or not all(isinstance(x, str | int) for x in v):
            errs.add(
                path,
                f"must be a non-empty list of values (strings, integers, true/false), "
                f"got {_type_name(v)} {_shown(v)}",
            )
            return False
        return True


@dataclass(frozen=True)
class Table(Spec):
    """A table with a closed set of keys."""

    fields: Mapping[str, Spec]
    required: bool = True
    what: str = ""  # names the table in the unknown-key message (e.g. "a glmm model")
    # key -> the tables that take it, for "applies to ... only"
    elsewhere: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    list_keys: bool = False  # the unknown-key message lists the allowed keys

    def check(self, v: Any, path: str, errs: Errors, parent: Mapping[str, Any]) -> bool:
        if not isinstance(v, dict):
            errs.add(path, f"must be a table, got {_type_name(v)} {_shown(v)}")
            return False
        ok = True
        for k in v:
            if k in self.fields:
                continue
            ok = False
            key = f"{path}.{k}" if path else str(k)
            if k in self.elsewhere:
                where = " or ".join(_a(w) for w in self.elsewhere[k])
                errs.add(key, f"applies to {where} only ({self.what})")
            else:
                allowed = f" (allowed: {', '.join(sorted(self.fields))})" if self.list_keys else ""
                errs.add(key, f"is not a known key{suggest(str(k), list(self.fields))}{allowed}")
        for k, spec in self.fields.items():
            key = f"{path}.{k}" if path else k
            if k not in v:
                if spec.required:
                    errs.add(key, "is missing")
                    ok = False
                continue
            ok = spec.check(v[k], key, errs, v) and ok
        return ok


@dataclass(frozen=True)
class Numbers(Spec):
    """A non-empty list of numbers."""

    required: bool = True

    def check(self, v: Any, path: str, errs: Errors, parent: Mapping[str, Any]) -> bool:
        ok = isinstance(v, list) and bool(v)
        ok = ok and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
        if not ok or not all(math.isfinite(x) for x in v):
            errs.add(path, f"must be a non-empty list of numbers, got {_type_name(v)} {_shown(v)}")
            return False
        return True


@dataclass(frozen=True)
class TableOf(Spec):
    """A table keyed by ids the plan chooses (``[populations.itt]``), each value one spec."""

    value: Spec
    min_items: int = 0
    required: bool = True

    def check(self, v: Any, path: str, errs: Errors, parent: Mapping[str, Any]) -> bool:
        if not isinstance(v, dict):
            errs.add(path, f"must be a table, got {_type_name(v)} {_shown(v)}")
            return False
        if len(v) < self.min_items:
            errs.add(path, f"must define at least {self.min_items} entry")
            return False
        ok = True
        for k, item in v.items():
            if not str(k).strip():
                errs.add(f"{path}.{k}", "must not be an empty name")
                ok = False
                continue
            ok = self.value.check(item, f"{path}.{k}", errs, v) and ok
        return ok


@dataclass(frozen=True)
class ArrayOf(Spec):
    """An array of tables (``[[sensitivity]]``); with ``single``, one table alone is taken
    as an array of one."""

    item: Spec
    required: bool = True
    single: bool = False

    def check(self, v: Any, path: str, errs: Errors, parent: Mapping[str, Any]) -> bool:
        if self.single and isinstance(v, dict):
            return self.item.check(v, path, errs, {})
        if not isinstance(v, list):
            want = "a table or an array of tables" if self.single else "an array of tables"
            errs.add(path, f"must be {want}, got {_type_name(v)} {_shown(v)}")
            return False
        ok = True
        for i, item in enumerate(v):
            ok = self.item.check(item, f"{path}[{i}]", errs, {}) and ok
        return ok


@dataclass(frozen=True)
class Switch(Spec):
    """A table whose keys depend on a discriminator: its own key ``on`` (``model.kind``), or,
    with ``sibling=True``, the key ``on`` of the enclosing table (``sensitivity.method``)."""

    on: str
    cases: Mapping[str, Table]
    sibling: bool = False
    required: bool = True

    def check(self, v: Any, path: str, errs: Errors, parent: Mapping[str, Any]) -> bool:
        if not isinstance(v, dict):
            errs.add(path, f"must be a table, got {_type_name(v)} {_shown(v)}")
            return False
        source = parent if self.sibling else v
        tag = source.get(self.on)
        if not self.sibling:
            if self.on not in v:
                errs.add(f"{path}.{self.on}", "is missing")
                return False
            if not Choice(tuple(self.cases)).check(tag, f"{path}.{self.on}", errs, v):
                return False
        if not isinstance(tag, str) or tag not in self.cases:
            return False  # a sibling discriminator's failure is reported by its own spec
        return self.cases[tag].check(v, path, errs, parent)


# -- the model and sensitivity option tables -------------------------------------------

_COVARIATES = Terms()
_OFFSET = Choice(OFFSETS, required=False)
MODEL_OPTIONS: Final[Mapping[str, Mapping[str, Spec]]] = {
    "glmm": {
        "family": Choice(GLMM_FAMILIES),
        "estimation": Choice(GLMM_ESTIMATION, required=False),
        "nagq": Number(1, GLMM_MAX_NAGQ, integer=True, required=False),
        "df": Choice(GLMM_DF, required=False),
        "offset": _OFFSET,
    },
    "lmm": {
        "df": Choice(LMM_DF, required=False),
        "reml": Bool(required=False),
    },
    "gee": {
        "family": Choice(GEE_FAMILIES),
        "cov_struct": Choice(GEE_COV_STRUCTS, required=False),
        "cov_type": Choice(GEE_COV_TYPES, required=False),
        "offset": _OFFSET,
    },
    "cox": {
        "cov_type": Choice(COX_COV_TYPES, required=False),
        "ties": Choice(COX_TIES, required=False),
    },
}
MODEL_KINDS: Final = tuple(MODEL_OPTIONS)


def _where(tables: Mapping[str, Mapping[str, Spec]], what: str) -> dict[str, tuple[str, ...]]:
    """For each option: the kinds (or methods) that take it, for 'applies to ... only'."""
    out: dict[str, tuple[str, ...]] = {}
    for name, opts in tables.items():
        for k in opts:
            out[k] = (*out.get(k, ()), f"{name} {what}")
    return out


def _model_table(kind: str) -> Table:
    fields: dict[str, Spec] = {"kind": Choice(MODEL_KINDS), "covariates": _COVARIATES}
    fields.update(MODEL_OPTIONS[kind])
    where = {k: v for k, v in _where(MODEL_OPTIONS, "model").items() if k not in fields}
    return Table(fields, what=f"this model is {_a(kind)}", elsewhere=where)


MODEL: Final = Switch("kind", {k: _model_table(k) for k in MODEL_KINDS})

SENSITIVITY_OPTIONS: Final[Mapping[str, Mapping[str, Spec]]] = {
    "gee": {
        "family": Choice(GEE_FAMILIES, required=False),
        "cov_struct": Choice(GEE_COV_STRUCTS, required=False),
        "cov_type": Choice(GEE_COV_TYPES, required=False),
    },
    "cluster-level": {
        "weights": Choice(CL_WEIGHTS, required=False),
        "scale": Choice(CL_SCALES, required=False),
    },
    "unadjusted": {},
    # cutoff: used when the freeze has no randomisation record and the space is rebuilt
    "permutation": {"cutoff": Number(0, 1, lo_open=True, required=False)},
    # a refit of the outcome's own model: its options replaced (the offset stays the outcome's)
    "glmm": {
        "covariates": _COVARIATES,
        **{k: v for k, v in MODEL_OPTIONS["glmm"].items() if k != "offset"},
        "family": Choice(GLMM_FAMILIES, required=False),
    },
    "lmm": {"covariates": _COVARIATES, **MODEL_OPTIONS["lmm"]},
}
SENSITIVITY_METHODS: Final = tuple(SENSITIVITY_OPTIONS)


def _sensitivity_options(method: str) -> Table:
    fields = SENSITIVITY_OPTIONS[method]
    where = {k: v for k, v in _where(SENSITIVITY_OPTIONS, "analysis").items() if k not in fields}
    what = f"this is {_a(method)} analysis"
    return Table(dict(fields), required=False, what=what, elsewhere=where)


SENSITIVITY: Final = Table(
    {
        "id": Text(),
        "outcome": Text(),
        "label": Text(),
        "method": Choice(SENSITIVITY_METHODS),
        "options": Switch(
            "method",
            {m: _sensitivity_options(m) for m in SENSITIVITY_METHODS},
            sibling=True,
            required=False,
        ),
    }
)

# -- derivations (each kind a function of odtrial.data.derivations; tests/plan checks
# the parameters against the functions' keywords) ----------------------------------------

CHOOSE: Final = ("latest", "earliest", "closest")  # odtrial.data.derive_visits.CHOICES
SCORE_METHODS: Final = ("sum", "mean")
COMPOSITE_RULES: Final = ("any", "all", "sum")
EQUIVALENCES: Final = (  # odtrial.data.derive_medication.EQUIVALENCES
    "chlorpromazine_woods2003",
    "chlorpromazine_leucht2015",
    "ddd",
    "mg",
)
_NAME = Text()
_OPT_NAME = Text(required=False)
_WINDOW = Number(1, 1200, integer=True, required=False)
_WHERE = Table({"field": Text(), "in": Values()}, required=False, list_keys=True)
_SOURCE: Final[Mapping[str, Spec]] = {
    "table": _NAME,
    "date": _OPT_NAME,
    "start": _OPT_NAME,
    "end": _OPT_NAME,
    "merge": Bool(required=False),
    "where": _WHERE,
}
_AT_VISIT: Final[Mapping[str, Spec]] = {
    "table": _NAME,
    "visit": Number(0, 1200, integer=True),
    "choose": Choice(CHOOSE, required=False),
    "visit_field": _OPT_NAME,
    "date_field": _OPT_NAME,
}
_PRESCRIPTIONS: Final[Mapping[str, Spec]] = {
    "table": _NAME,
    "drug": _NAME,
    "start": _NAME,
    "end": _NAME,
    "where": _WHERE,
    "window_months": _WINDOW,
}
# withdrawal, death, loss to follow-up: a date per participant that ends follow-up
_CENSOR: Final = ArrayOf(
    Table({"table": _NAME, "date": _NAME, "where": _WHERE}, list_keys=True),
    required=False,
    single=True,
)
DERIVATION_PARAMS: Final[Mapping[str, Mapping[str, Spec]]] = {
    "value_at_visit": {**_AT_VISIT, "field": _NAME},
    "change_from_baseline": {
        **_AT_VISIT,
        "field": _NAME,
        "baseline": Table(
            {
                "table": _OPT_NAME,
                "field": _NAME,
                "visit": Number(0, 1200, integer=True, required=False),
                "visit_field": _OPT_NAME,
                "date_field": _OPT_NAME,
            },
            list_keys=True,
        ),
    },
    "score": {
        **_AT_VISIT,
        "items": Names(),
        "method": Choice(SCORE_METHODS, required=False),
        "reverse": Table(
            {"items": Names(), "min": Number(), "max": Number()}, required=False, list_keys=True
        ),
        "prorate": Table(
            {"max_missing": Number(0, 1000, integer=True)}, required=False, list_keys=True
        ),
    },
    "any_event": {**_SOURCE, "window_months": _WINDOW},
    "count_events": {**_SOURCE, "window_months": _WINDOW, "censor": _CENSOR},
    "days_in_state": {
        "table": _NAME,
        "start": _NAME,
        "end": _NAME,
        "merge": Bool(required=False),
        "where": _WHERE,
        "window_months": _WINDOW,
        "censor": _CENSOR,
    },
    "time_to_event": {
        "events": ArrayOf(Table(dict(_SOURCE), list_keys=True)),
        "censor": _CENSOR,
        "window_months": _WINDOW,
    },
    # a class of the trial's medication dictionary: the plan does not know the trial, so
    # odtrial check and the derivation check it (odtrial.data.derive_medication)
    "medication_any": {**_PRESCRIPTIONS, "class": _NAME},
    "mean_dose": {
        **_PRESCRIPTIONS,
        "dose": _NAME,
        "class": _OPT_NAME,
        "generic": _OPT_NAME,
        "equivalence": Choice(EQUIVALENCES),
    },
    "total_dose": {
        **_PRESCRIPTIONS,
        "dose": _NAME,
        "class": _OPT_NAME,
        "generic": _OPT_NAME,
        "equivalence": Choice(EQUIVALENCES, required=False),
    },
    "composite": {"of": Names(), "rule": Choice(COMPOSITE_RULES)},
}
DERIVATION_KINDS: Final = tuple(DERIVATION_PARAMS)


def derived_columns(oid: str, kind: str, params: Mapping[str, Any]) -> tuple[str, ...]:
    """The dataset columns derivation ``oid`` makes: ``<id>_days`` and ``<id>_event`` for a
    time to event, else ``<id>``, and ``<id>_followup_days`` for a censored count or
    days in a state (its own follow-up, the offset of a rate)."""
    if kind == "time_to_event":
        return (f"{oid}_days", f"{oid}_event")
    if kind in ("count_events", "days_in_state") and params.get("censor") is not None:
        return (oid, f"{oid}_followup_days")
    return (oid,)


# The outcome types each kind's column can be analysed as.
DERIVATION_TYPES: Final[Mapping[str, tuple[str, ...]]] = {
    "value_at_visit": ("binary", "count", "continuous"),
    "change_from_baseline": ("continuous",),
    "score": ("continuous", "count"),
    "any_event": ("binary",),
    "count_events": ("count",),
    "days_in_state": ("count", "continuous"),
    "time_to_event": ("time-to-event",),
    "medication_any": ("binary",),
    "mean_dose": ("continuous",),
    "total_dose": ("continuous",),
    "composite": ("binary", "count", "continuous"),
}


def _derivation_table(kind: str) -> Table:
    fields: dict[str, Spec] = {"kind": Choice(DERIVATION_KINDS), **DERIVATION_PARAMS[kind]}
    where = {k: v for k, v in _where(DERIVATION_PARAMS, "derivation").items() if k not in fields}
    return Table(fields, what=f"this derivation is {_a(kind)}", elsewhere=where, list_keys=True)


DERIVATION: Final = Switch("kind", {k: _derivation_table(k) for k in DERIVATION_KINDS})


def _source_rule(errs: Errors, path: str, src: Mapping[str, Any]) -> None:
    """An event source is dated (``date``) or a stay (``start`` and ``end``)."""
    has_date, has_start, has_end = ("date" in src), ("start" in src), ("end" in src)
    if has_date and (has_start or has_end):
        errs.add(path, "takes either date or start and end, not both")
    elif not has_date and not (has_start and has_end):
        errs.add(path, "needs either date (dated events) or both start and end (stays)")
    elif has_date and "merge" in src:
        errs.add(f"{path}.merge", "applies to stays (start and end) only")


def _imputation_rule(errs: Errors, imp: Mapping[str, Any], outs: Mapping[str, Any]) -> None:
    """The imputed outcome is one of the plan's, of a type imputation handles."""
    path = "missing_data.imputation"
    oid = imp.get("outcome")
    if oid is not None and oid not in outs:
        errs.add(f"{path}.outcome", f"names unknown outcome {oid!r}{suggest(oid, list(outs))}")
        return
    if oid is None:
        oid = next((k for k, o in outs.items() if o.get("role") == "primary"), None)
    if oid is not None and outs[oid].get("type") == "time-to-event":
        errs.add(f"{path}.outcome", f"{oid!r} is a time to event, which is not imputed")


def check_derivation(d: Mapping[str, Any], path: str, errs: Errors) -> None:
    """Rules across one derivation's keys (it has passed :data:`DERIVATION`)."""
    kind = d["kind"]
    if d.get("censor") == []:
        errs.add(f"{path}.censor", "must list at least one censoring source (or be left out)")
    if kind in ("any_event", "count_events"):
        _source_rule(errs, path, d)
    elif kind == "time_to_event":
        if not d["events"]:
            errs.add(f"{path}.events", "must list at least one event source")
        for i, src in enumerate(d["events"]):
            _source_rule(errs, f"{path}.events[{i}]", src)
    elif kind == "change_from_baseline":
        b = d["baseline"]
        if ("table" in b) != ("visit" in b):
            errs.add(
                f"{path}.baseline",
                "takes table and visit together (a record at a visit) or field alone "
                "(a participants field)",
            )
    elif kind == "score":
        rev = d.get("reverse")
        if rev is not None:
            extra = [i for i in rev["items"] if i not in d["items"]]
            if extra:
                errs.add(f"{path}.reverse.items", f"names {extra[0]!r}, not one of items")
            if rev["min"] >= rev["max"]:
                errs.add(f"{path}.reverse.max", "must be greater than min")
        pro = d.get("prorate")
        if pro is not None and pro["max_missing"] >= len(d["items"]):
            errs.add(f"{path}.prorate.max_missing", "must be fewer than the number of items")
    elif kind in ("mean_dose", "total_dose"):
        if (
            d.get("equivalence", "mg").startswith("chlorpromazine_")
            and d.get("class") != ANTIPSYCHOTIC
        ):
            errs.add(
                f"{path}.class",
                f"must be {ANTIPSYCHOTIC!r} for a chlorpromazine equivalence (chlorpromazine "
                "equivalents are defined for antipsychotics only; equivalence 'ddd' or 'mg' "
                "takes any class)",
            )


#: Which imputed outcomes a tipping-point analysis shifts (odtrial.analysis.imputation).
SHIFTED_ARMS: Final = ("intervention", "control", "both")
DELTA_SCALES: Final = ("logit", "probit", "identity", "log")
IMPUTATION_METHODS: Final = ("norm", "pmm", "probit", "catprobit")  # odtrial.missing
IMPUTATION: Final = Table(
    {
        "outcome": Text(required=False),
        "m": Number(2, 1000, integer=True),
        "seed": Number(0, 1e9, integer=True),
        "auxiliaries": Names(required=False),
        "methods": TableOf(Choice(IMPUTATION_METHODS), required=False),
        "n_burn": Number(1, 100_000, integer=True, required=False),
        "n_between": Number(1, 100_000, integer=True, required=False),
        "tipping_point": Table(
            {
                "deltas": Numbers(),
                "shift": Choice(SHIFTED_ARMS, required=False),
                "scale": Choice(DELTA_SCALES, required=False),
            },
            required=False,
        ),
    },
    required=False,
)

#: [health_economics] (odtrial.analysis.health_economics): the CEA methods, the sensitivity
#: analyses it can run, the EQ-5D versions and value sets odtrial.econ ships.
HE_METHODS: Final = ("bivariate", "tsb")  # odtrial.econ.cea
HE_SENSITIVITY: Final = (
    "bivariate",
    "tsb",
    "unadjusted",
    "kenward-roger",
    "multiple-imputation",
)
EQ5D_VERSIONS: Final = ("5L", "3L")
EQ5D_VALUE_SETS: Final = ("england", "uk", "3l_mapping")
HE_WINDOWED: Final = tuple(k for k, v in DERIVATION_PARAMS.items() if "window_months" in v)
#: A derivation that may be absent (the same cases as :data:`DERIVATION`).
OPTIONAL_DERIVATION: Final = Switch("kind", DERIVATION.cases, required=False)
HEALTH_ECONOMICS: Final = Table(
    {
        "perspective": Text(),
        "time_horizon_months": Number(1, 1200, integer=True),
        "price_year": Number(1900, 2200, integer=True),
        "discount_rate": Number(0, 0.2, required=False),
        "method": Choice(HE_METHODS, required=False),
        "sensitivity": Names(required=False),
        "wtp": Numbers(required=False),
        "n_boot": Number(100, 100_000, integer=True, required=False),
        "seed": Number(0, 1e9, integer=True, required=False),
        "covariates": Names(required=False),
        "costs": Table(
            {
                "unit_costs": Text(),
                "price_index": Text(required=False),
                "intervention_cost_per_cluster": Number(0, 1e12, required=False),
                # or one cost per intervention cluster: a CSV of cluster_id, cost
                "intervention_costs": Text(required=False),
                "baseline_cost": Text(required=False),
            }
        ),
        "resource_use": TableOf(
            Table(
                {
                    "label": Text(),
                    "item": Text(),
                    # one of the two: made by a derivation, or an analysis dataset column
                    "derivation": OPTIONAL_DERIVATION,
                    "column": Text(required=False),
                }
            ),
            min_items=1,
        ),
        "utilities": Table(
            {
                "version": Choice(EQ5D_VERSIONS),
                "value_set": Choice(EQ5D_VALUE_SETS, required=False),
                # the 5L-to-3L mapping's age and sex: analysis dataset columns
                "age": Text(required=False),
                "sex": Text(required=False),
                "table": Text(),
                "fields": Names(),
                "visits": Numbers(),
                "visit_field": Text(required=False),
                "date_field": Text(required=False),
                "choose": Choice(CHOOSE, required=False),
                "adjust_baseline": Bool(required=False),
            }
        ),
    },
    required=False,
)

_P = Number(0, 1, lo_open=True, hi_open=True, required=False)
# Positive inputs, bounded far beyond any trial so the arithmetic cannot overflow.
_POS = Number(0, 1e12, lo_open=True, required=False)
SAMPLE_SIZE: Final = Table(
    {
        "outcome": Text(required=False),
        "type": Choice(SAMPLE_SIZE_TYPES),
        "p0": _P,
        "p1": _P,
        "delta": Number(-1e12, 1e12, required=False),
        "sd": _POS,
        "rate0": _POS,
        "rate1": _POS,
        "followup": _POS,
        "theta": _POS,
        "icc": Number(0, 1, hi_open=True),
        "cluster_size": Number(1, 1e6),
        "cluster_size_cv": Number(0, 10, required=False),
        "attrition": Number(0, 1, hi_open=True, required=False),
        "alpha": _P,
        "method": Choice(SAMPLE_SIZE_METHODS, required=False),
        "correction": Choice(SAMPLE_SIZE_CORRECTIONS, required=False),
        "clusters_per_arm": Number(2, 100_000, integer=True, required=False),
        "power": _P,
        "target_power": _P,
        "rationale": Text(required=False),
    }
)

PLAN: Final = Table(
    {
        "plan": Table(
            {
                "title": Text(),
                "short_title": Text(required=False),
                "version": Text(),
                "date": Date(),
                "status": Choice(STATUSES),
                "registration": Text(),
                "trial_config": Text(required=False),
                "sign_off": ArrayOf(
                    Table({"name": Text(), "role": Text(), "date": Date()}), required=False
                ),
            }
        ),
        "design": Table(
            {
                "description": Text(),
                "cluster_definition": Text(),
                "randomisation": Text(),
                "recruitment_after_randomisation": Text(required=False),
                "sample_size": SAMPLE_SIZE,
            }
        ),
        "populations": TableOf(Table({"label": Text(), "definition": Text()}), min_items=1),
        "estimands": TableOf(
            Table(
                {
                    "treatment": Text(),
                    "population": Text(),
                    "variable": Text(),
                    "intercurrent_events": ArrayOf(
                        Table({"event": Text(), "strategy": Choice(IE_STRATEGIES)})
                    ),
                    "summary": Text(),
                    "level": Choice(ESTIMAND_LEVELS),
                }
            )
        ),
        "outcomes": TableOf(
            Table(
                {
                    "label": Text(),
                    "role": Choice(OUTCOME_ROLES),
                    "estimand": Text(required=False),
                    "population": Text(),
                    "type": Choice(OUTCOME_TYPES),
                    "definition": Text(),
                    "derivation": DERIVATION,
                    "model": MODEL,
                }
            ),
            min_items=1,
        ),
        # derived columns that are not outcomes (auxiliaries, covariates, missing data)
        "variables": TableOf(
            Table({"label": Text(), "definition": Text(required=False), "derivation": DERIVATION}),
            required=False,
        ),
        # plan-wide defaults of the derivations
        "derivation": Table({"window_months": _WINDOW}, required=False),
        "sensitivity": ArrayOf(SENSITIVITY, required=False),
        "multiplicity": Table({"approach": Text()}),
        "missing_data": Table(
            {
                "approach": Text(),
                # the analysis dataset's columns whose missingness is tabulated by arm
                # (default: the primary outcome's response at its window)
                "variables": ArrayOf(
                    Table({"column": Text(), "time_point": Text()}), required=False
                ),
                "imputation": IMPUTATION,
            }
        ),
        "health_economics": HEALTH_ECONOMICS,
        "harms": Table({"approach": Text()}),
        "software": Table({"analysis": Text()}),
        # the trial's own words in the report: the plain language summary's opening, the
        # clusters' plain name ("groups of practices"), abbreviations beyond the statistical
        "summary": Table(
            {
                "plain_language": PlainText(required=False),
                "clusters": PlainText(max_words=10, required=False),
                "abbreviations": TableOf(Text(), required=False),
            },
            required=False,
        ),
    }
)


# -- rules across keys ----------------------------------------------------------------


def _family_rule(
    errs: Errors, path: str, kind: str, family: Any, otype: Any, *, defaulted: bool = False
) -> None:
    """The outcome type takes this model kind, and the family that estimates its measure."""
    allowed = OUTCOME_MODELS.get(otype) if isinstance(otype, str) else None
    if allowed is None:
        return
    if kind not in allowed:
        errs.add(
            f"{path}.kind",
            f"{kind!r} cannot analyse a {otype} outcome (use {', '.join(allowed)})",
        )
        return
    fams = allowed[kind]
    if fams and isinstance(family, str) and family not in fams:
        where = f"{path}.family" + (" (from the outcome's model)" if defaulted else "")
        errs.add(
            where,
            f"must be {' or '.join(fams)} for a {otype} outcome with a {kind}, got {family!r}",
        )


def _options_rule(errs: Errors, path: str, kind: str, opts: Mapping[str, Any]) -> None:
    """Combinations the model functions refuse (checked on the options actually fitted)."""
    if kind == "glmm" and "nagq" in opts and opts.get("estimation") != "ML":
        how = (
            "with estimation = 'REML' (Laplace approximation)"
            if opts.get("estimation") == "REML"
            else "unless estimation = 'ML' is stated (quadrature is ML only)"
        )
        errs.add(f"{path}.nagq", f"does not apply {how}")
    if kind == "glmm" and opts.get("df") == "satterthwaite" and opts.get("estimation") == "ML":
        errs.add(f"{path}.df", "'satterthwaite' needs estimation = 'REML' for a glmm")
    if kind == "lmm" and opts.get("df") == "kenward-roger" and opts.get("reml") is False:
        errs.add(f"{path}.df", "'kenward-roger' needs a REML fit: remove reml = false")


def check_rules(raw: Mapping[str, Any], errs: Errors) -> None:
    """Cross-references and combinations; ``raw`` has passed the structural check."""
    meta = raw["plan"]
    if meta["status"] == "final" and not meta.get("sign_off"):
        errs.add("plan.sign_off", "must name at least one signatory for a final plan")
    pops, ests, outs = raw["populations"], raw["estimands"], raw["outcomes"]
    primaries = [k for k, o in outs.items() if o["role"] == "primary"]
    if len(primaries) != 1:
        errs.add("outcomes", f"must have exactly one primary outcome, found {len(primaries)}")
    for oid, o in outs.items():
        path = f"outcomes.{oid}"
        if o["population"] not in pops:
            errs.add(
                f"{path}.population",
                f"names unknown population {o['population']!r}{suggest(o['population'], list(pops))}",
            )
        est = o.get("estimand")
        if est is not None and est not in ests:
            errs.add(
                f"{path}.estimand", f"names unknown estimand {est!r}{suggest(est, list(ests))}"
            )
        if o["role"] == "primary" and est is None:
            errs.add(f"{path}.estimand", "is required for the primary outcome")
        m = o["model"]
        _family_rule(errs, f"{path}.model", m["kind"], m.get("family"), o["type"])
        _options_rule(errs, f"{path}.model", m["kind"], m)
    _derivation_rules(raw, errs)
    columns: set[str] = set()
    for i, v in enumerate(raw["missing_data"].get("variables", [])):
        if v["column"] in columns:
            errs.add(f"missing_data.variables[{i}].column", f"repeats {v['column']!r}")
        columns.add(v["column"])
    imp = raw["missing_data"].get("imputation")
    if imp is not None:
        _imputation_rule(errs, imp, outs)
    he = raw.get("health_economics")
    if he is not None:
        _health_economics_rule(errs, he, raw)
    ids: set[str] = set()
    for i, s in enumerate(raw.get("sensitivity", [])):
        _sensitivity_rule(errs, f"sensitivity[{i}]", s, outs)
        if s["id"] in ids:
            errs.add(f"sensitivity[{i}].id", f"duplicates the id {s['id']!r}")
        ids.add(s["id"])


def he_columns(rid: str, kind: str | None, horizon: int) -> list[str]:
    """The analysis dataset columns a resource-use entry's derivation makes: its quantity
    over the horizon, and for a windowed kind the cumulative quantity at each earlier
    year's end (``<id>_m12``, ...), so its costs can be discounted year by year."""
    if kind not in HE_WINDOWED:
        return [rid]
    return [rid, *(f"{rid}_m{m}" for m in range(12, horizon, 12))]


def utility_column(table: str, visit: int, fld: str) -> str:
    """The analysis dataset column of an EQ-5D response at a visit."""
    return f"{table}_m{visit}_{fld}"


def _health_economics_rule(errs: Errors, he: Mapping[str, Any], raw: Mapping[str, Any]) -> None:
    """Resource use made one way each, columns unique, visits from 0 to the horizon, the
    value set one of the version's, sensitivity analyses ones the analysis runs."""
    path = "health_economics"
    horizon = he["time_horizon_months"]
    made = {
        col
        for section in ("variables", "outcomes")
        for oid, e in raw.get(section, {}).items()
        for col in derived_columns(oid, e["derivation"]["kind"], e["derivation"])
    }
    if {"intervention_cost_per_cluster", "intervention_costs"} <= set(he["costs"]):
        errs.add(
            f"{path}.costs.intervention_costs",
            "cannot be used with intervention_cost_per_cluster: keep one (a figure for every "
            "cluster, or a file of each cluster's)",
        )
    for rid, r in he["resource_use"].items():
        rpath = f"{path}.resource_use.{rid}"
        d = r.get("derivation")
        if (d is None) == ("column" not in r):
            errs.add(rpath, "takes either derivation or column (a dataset column), not both")
            continue
        if d is None:
            continue
        check_derivation(d, f"{rpath}.derivation", errs)
        if "window_months" in d:
            errs.add(
                f"{rpath}.derivation.window_months",
                "is set by health_economics.time_horizon_months",
            )
        for col in he_columns(rid, d["kind"], horizon):
            if col in made:
                errs.add(rpath, f"makes column {col!r}, which the plan already makes")
            made.add(col)
    sens = he.get("sensitivity", [])
    for i, name in enumerate(sens):
        if name not in HE_SENSITIVITY:
            errs.add(
                f"{path}.sensitivity[{i}]",
                f"must be one of {', '.join(HE_SENSITIVITY)}, got {_shown(name)}"
                f"{suggest(name, HE_SENSITIVITY)}",
            )
        elif name == he.get("method", "bivariate"):
            errs.add(f"{path}.sensitivity[{i}]", f"{name!r} is the base case method")
    u = he["utilities"]
    upath = f"{path}.utilities"
    allowed_sets = {"5L": ("england", "3l_mapping"), "3L": ("uk",)}[u["version"]]
    if "value_set" in u and u["value_set"] not in allowed_sets:
        errs.add(
            f"{upath}.value_set",
            f"must be {' or '.join(allowed_sets)} for EQ-5D-{u['version']}, got {u['value_set']!r}",
        )
    mapped = u.get("value_set") == "3l_mapping"
    for key in ("age", "sex"):
        if mapped and key not in u:
            errs.add(
                upath,
                f"value_set 3l_mapping needs {key} (the dataset column of {key}): "
                "the mapping depends on age and sex",
            )
        elif key in u and not mapped:
            errs.add(f"{upath}.{key}", "is only for value_set 3l_mapping")
    if len(u["fields"]) != 5:
        errs.add(
            f"{upath}.fields",
            "must name the 5 dimensions in EQ-5D order (mobility, self-care, usual "
            f"activities, pain/discomfort, anxiety/depression), got {len(u['fields'])}",
        )
    visits = u["visits"]
    if not all(isinstance(v, int) and 0 <= v <= 1200 for v in visits):
        errs.add(f"{upath}.visits", f"must be visit months (integers), got {_shown(visits)}")
    elif visits[0] != 0 or any(b <= a for a, b in itertools.pairwise(visits)):
        errs.add(f"{upath}.visits", f"must start at 0 (baseline) and increase, got {visits}")
    elif visits[-1] != horizon:
        errs.add(
            f"{upath}.visits",
            f"must end at the time horizon ({horizon} months), so costs and QALYs cover the "
            f"same period, got {visits[-1]}",
        )
    else:
        for v in visits:
            for fld in u["fields"]:
                col = utility_column(u["table"], v, fld)
                if col in made:
                    errs.add(upath, f"makes column {col!r}, which the plan already makes")
                made.add(col)


def _derivation_rules(raw: Mapping[str, Any], errs: Errors) -> None:
    """Each derivation's own rules; ids and columns unique; composites over known ids
    without cycles; the outcome type one the kind's column can be analysed as."""
    entries = [("variables", k, v) for k, v in raw.get("variables", {}).items()]
    entries += [("outcomes", k, v) for k, v in raw["outcomes"].items()]
    made: dict[str, str] = {}  # column -> the entry that makes it
    for section, oid, entry in entries:
        d, path = entry["derivation"], f"{section}.{oid}.derivation"
        check_derivation(d, path, errs)
        if section == "outcomes" and entry["type"] not in DERIVATION_TYPES[d["kind"]]:
            errs.add(
                f"{path}.kind",
                f"{d['kind']!r} cannot make a {entry['type']} outcome "
                f"(it makes {' or '.join(DERIVATION_TYPES[d['kind']])})",
            )
        for col in derived_columns(oid, d["kind"], d):
            if col in made:
                errs.add(f"{section}.{oid}", f"makes column {col!r}, as {made[col]} does")
            made.setdefault(col, f"{section}.{oid}")
    ids = {oid: entry["derivation"] for _, oid, entry in entries}
    for section, oid, entry in entries:
        d = entry["derivation"]
        if d["kind"] != "composite":
            continue
        for i, name in enumerate(d["of"]):
            if name == oid or name not in ids:
                why = (
                    "itself" if name == oid else f"no variable or outcome{suggest(name, list(ids))}"
                )
                errs.add(f"{section}.{oid}.derivation.of[{i}]", f"names {name!r}: {why}")
    for section, oid, _ in entries:
        seen, todo = set(), [oid]
        while todo:
            cur = todo.pop()
            d = ids.get(cur)
            if d is None or d["kind"] != "composite":
                continue
            for name in d["of"]:
                if name == oid and cur != oid:
                    errs.add(f"{section}.{oid}.derivation.of", f"makes a cycle through {cur!r}")
                elif name not in seen and name != cur:
                    seen.add(name)
                    todo.append(name)


def _sensitivity_rule(
    errs: Errors, path: str, s: Mapping[str, Any], outs: Mapping[str, Any]
) -> None:
    oid, method, opts = s["outcome"], s["method"], s.get("options", {})
    o = outs.get(oid)
    if o is None:
        errs.add(f"{path}.outcome", f"names unknown outcome {oid!r}{suggest(oid, list(outs))}")
        return
    otype, m = o["type"], o["model"]
    if method in ("gee", "cluster-level", "permutation") and otype not in CLUSTER_SUMMARY_TYPES:
        errs.add(f"{path}.method", f"{method!r} is not available for a {otype} outcome")
        return
    if method == "gee":
        fam = opts.get("family")
        if fam is not None:
            _family_rule(errs, f"{path}.options", "gee", fam, otype)
    elif method == "cluster-level":
        if opts.get("scale") == "ratio" and otype == "continuous":
            errs.add(f"{path}.options.scale", "'ratio' needs a binary or count outcome")
    elif method in ("glmm", "lmm"):
        if method != m["kind"]:
            errs.add(
                f"{path}.method",
                f"{method!r} refits the outcome's own model, which is a {m['kind']!r} "
                f"(outcomes.{oid}.model.kind)",
            )
            return
        merged = {**m, **{k: v for k, v in opts.items() if k not in ("covariates", "family")}}
        if method == "glmm":
            _family_rule(
                errs,
                f"{path}.options",
                "glmm",
                opts.get("family", m.get("family")),
                otype,
                defaulted="family" not in opts,
            )
        _options_rule(errs, f"{path}.options", method, merged)


Rule = Callable[[Mapping[str, Any], Errors], None]


def validate(raw: Any, *, extra_rules: Sequence[Rule] = ()) -> list[str]:
    """All failures of ``raw`` against the schema and the rules, one line each."""
    errs = Errors()
    if PLAN.check(raw, "", errs, {}):
        check_rules(raw, errs)
        for rule in extra_rules:
            rule(raw, errs)
    return errs.lines


__all__ = [
    "DERIVATION",
    "DERIVATION_KINDS",
    "DERIVATION_PARAMS",
    "HEALTH_ECONOMICS",
    "MODEL_KINDS",
    "MODEL_OPTIONS",
    "OUTCOME_MODELS",
    "PLAN",
    "SENSITIVITY_METHODS",
    "SENSITIVITY_OPTIONS",
    "Errors",
    "suggest",
    "validate",
]
