"""The library of derivation kinds: every analysis-dataset column a plan defines.

A plan's ``[outcomes.<id>]`` and ``[variables.<id>]`` each carry ``derivation = { kind =
..., ... }``; the kind names one function here, each a small pure function of the frozen
tables (:class:`~odtrial.data.derive_context.Cohort`) documented in its module:

====================  ==============================================  ==================
kind                  result                                          module
====================  ==============================================  ==================
value_at_visit        the field at a visit (its own dtype)            derive_visits
change_from_baseline  value at a visit minus baseline (float)         derive_visits
score                 questionnaire sum or mean at a visit (float)    derive_visits
any_event             an event / spell start in the window (boolean)  derive_event_kinds
count_events          events / spell starts in the window (Int64)     derive_event_kinds
days_in_state         nights in a state in the window (Int64)         derive_event_kinds
time_to_event         ``<id>_days`` (Int64), ``<id>_event`` (boolean) derive_event_kinds
medication_any        exposure to a drug class in the window          derive_medication
mean_dose             time-weighted mean daily dose (float)           derive_medication
total_dose            total dose in the window, e.g. mg (float)       derive_medication
composite             any / all / sum of other derived columns        here
====================  ==============================================  ==================

:func:`derive_columns` runs a plan's derivations in order (a composite after the columns
it combines) and gives NA to participants whose trust did not send a table a derivation
reads (freeze manifest ``tables.<name>.trusts``), not "no event".
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from odtrial._toml import suggest
from odtrial.data.derive_context import Cohort, Derived, fail
from odtrial.data.derive_event_kinds import any_event, count_events, days_in_state, time_to_event
from odtrial.data.derive_medication import mean_dose, medication_any, total_dose
from odtrial.data.derive_visits import change_from_baseline, score, value_at_visit
from odtrial.plan.model import Derivation
from odtrial.plan.schema import derived_columns

COMPOSITE_RULES: Final = ("any", "all", "sum")


def composite(c: Cohort, key: str, *, of: Sequence[str], rule: str) -> Derived:
    """Combine derived columns (a time to event: its event indicator).

    ``any``: true if one is true, else NA if one is NA, else false; ``all``: false if
    one is false, else NA if one is NA, else true; ``sum``: the sum of the values
    (booleans as 0/1), NA if one is NA.
    """
    cols = []
    for i, name in enumerate(of):
        if name not in c.derived:
            have = list(c.derived)
            raise fail(
                f"{key}.of[{i}]",
                f"names no column derived before it: {name!r}{suggest(name, have)}",
            )
        cols.append(c.derived[name])
    if rule == "sum":
        total = pd.Series(np.zeros(c.n), dtype="Float64")
        for col in cols:
            total = total + col.astype("Float64").reset_index(drop=True)
        summed = total.astype("float64")  # NA -> NaN
        return Derived({"": summed}, {"missing": int(summed.isna().sum())})
    acc = cols[0].astype("boolean").reset_index(drop=True)
    for col in cols[1:]:
        b = col.astype("boolean").reset_index(drop=True)
        acc = (acc | b) if rule == "any" else (acc & b)  # Kleene logic on NA
    return Derived({"": acc}, {"missing": int(acc.isna().sum()), "true": int(acc.sum())})


KINDS: Final[Mapping[str, Callable[..., Derived]]] = {
    "value_at_visit": value_at_visit,
    "change_from_baseline": change_from_baseline,
    "score": score,
    "any_event": any_event,
    "count_events": count_events,
    "days_in_state": days_in_state,
    "time_to_event": time_to_event,
    "medication_any": medication_any,
    "mean_dose": mean_dose,
    "total_dose": total_dose,
    "composite": composite,
}
# the kinds with a follow-up window (they take window_months)
WINDOWED: Final = frozenset(
    k for k, f in KINDS.items() if "window_months" in inspect.signature(f).parameters
)
# plan parameter -> the function's keyword (a Python keyword cannot be one)
_KEYWORDS: Final = {"class": "drug_class"}


def column_names(d: Derivation) -> tuple[str, ...]:
    """The dataset columns a derivation makes."""
    return derived_columns(d.id, d.kind, d.params)


def _ordered(derivations: Sequence[Derivation]) -> list[Derivation]:
    """Plan order, except that a composite comes after the columns it combines."""
    by_id = {d.id: d for d in derivations}
    out: list[Derivation] = []
    state: dict[str, int] = {}  # 1: in progress, 2: done

    def visit(d: Derivation) -> None:
        if state.get(d.id) == 2:
            return
        if state.get(d.id) == 1:
            raise fail(f"{d.key}.of", f"makes a cycle through {d.id!r}")
        state[d.id] = 1
        if d.kind == "composite":
            for name in d.params.get("of", ()):
                if name in by_id:
                    visit(by_id[name])
        state[d.id] = 2
        out.append(d)

    for d in derivations:
        visit(d)
    return out


def run(c: Cohort, d: Derivation) -> Derived:
    """One derivation over the cohort, NA where its data were not collected."""
    if d.kind not in KINDS:
        raise fail(
            f"{d.key}.kind", f"must be one of {', '.join(KINDS)}, got {d.kind!r}"
            f"{suggest(d.kind, list(KINDS))}",
        )  # fmt: skip
    fn = KINDS[d.kind]
    params = {_KEYWORDS.get(k, k): v for k, v in d.params.items()}
    # plans are checked by their schema; Derivation objects made by hand are checked here
    accepted = [p for p in inspect.signature(fn).parameters if p not in ("c", "key")]
    names = {_KEYWORDS.get(k, k): k for k in d.params}
    for k in params:
        if k not in accepted:
            raise fail(
                f"{d.key}.{names[k]}", f"is not a parameter of {d.kind}{suggest(k, accepted)}"
            )
    for name, p in inspect.signature(fn).parameters.items():
        if p.default is inspect.Parameter.empty and name not in ("c", "key", *params):
            raise fail(f"{d.key}.{name}", f"is missing (a {d.kind} needs it)")
    res = fn(c, d.key, **params)
    absent = c.not_collected(res.tables)
    if not absent.any():
        return res
    columns = {}
    for suffix, col in res.columns.items():
        col = col.copy()
        col[absent] = np.nan if col.dtype == np.float64 else pd.NA
        columns[suffix] = col
    return Derived(columns, {**res.counts, "not_collected": int(absent.sum())}, res.tables)


def derive_columns(
    c: Cohort, derivations: Sequence[Derivation]
) -> tuple[dict[str, pd.Series], dict[str, Any]]:
    """Every derivation's columns (in the given order) and counts by id."""
    columns: dict[str, pd.Series] = {}
    counts: dict[str, Any] = {}
    for d in _ordered(derivations):
        res = run(c, d)
        for suffix, col in res.columns.items():
            columns[d.id + suffix] = col.reset_index(drop=True)
        main = res.columns.get("", res.columns.get("_event"))
        if main is not None:
            c.derived[d.id] = main.reset_index(drop=True)
        counts[d.id] = dict(res.counts)
    order = [name for d in derivations for name in column_names(d)]
    return {name: columns[name] for name in order}, {d.id: counts[d.id] for d in derivations}
