"""Derivation kinds over prescriptions: any exposure to a drug class, the
time-weighted mean daily dose, and the total dose (what a drug budget is costed on).

A prescription runs from its ``start`` to its ``end`` date inclusive (the end date is the
last day of supply), i.e. the half-open day interval ``[start, end + 1)``; with no end
date it is ongoing and runs to the window end. Its days in the follow-up window
``[consent, window_end)`` (see :mod:`odtrial.data.derive_events`) are its exposure days.

Drugs are classified with the medication dictionary (the shipped one unless the trial
has its own, :mod:`odtrial.data.medication_dictionary`); a brand name counts as its
generic:

- a drug of another class than ``class`` is ignored;
- a drug not in the dictionary (ingest keeps it, with an ``unknown_drug`` warning) cannot
  be classified: it is ignored and counted, so the report can say how many were affected;
- for a mean dose, a drug of the class that the equivalence does not cover (clozapine
  under Woods 2003) makes the participant's mean missing, since 0 would be wrong and the
  true value is unknown.

The total dose is the sum over prescriptions of ``daily dose x equivalence factor x
exposure days`` (mg, DDDs or chlorpromazine-equivalent mg over the window), of a class or
of one drug (``generic``, a generic or brand name); the time-weighted mean daily dose
divides it by the follow-up days: concurrent drugs add up, days without one count as 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from odtrial._toml import suggest
from odtrial.data.derive_context import Cohort, Derived, fail
from odtrial.data.derive_events import overlap_days
from odtrial.data.drugs import DICTIONARY, cpz_equivalent
from odtrial.data.medication_dictionary import Drug, MedicationDictionary

# equivalence -> what one unit of the mean dose is
EQUIVALENCES: Final = {
    "chlorpromazine_woods2003": "mg chlorpromazine equivalents (Woods 2003)",
    "chlorpromazine_leucht2015": "mg chlorpromazine equivalents (Leucht 2015)",
    "ddd": "WHO defined daily doses",
    "mg": "mg of the drug",
}
# Drug classes for the per-name lookup.
OTHER_CLASS, IN_CLASS, UNKNOWN = 0, 1, 2


def _factor(drug: Drug, equivalence: str, dictionary: MedicationDictionary) -> float:
    """Units of ``equivalence`` per mg of ``drug`` (NaN when not recorded)."""
    if equivalence.startswith("chlorpromazine_"):
        method = equivalence.removeprefix("chlorpromazine_")
        # CPZ equivalents are linear in dose, so the value for 1 mg is the factor.
        f = cpz_equivalent(drug.name, 1.0, method, dictionary=dictionary)  # type: ignore[arg-type]
        return np.nan if f is None else f
    if equivalence == "ddd":
        return 1.0 / drug.ddd if drug.ddd is not None and drug.ddd_unit == "mg" else np.nan
    return 1.0


def classify_drugs(
    names: Sequence[str],
    drug_class: str | None,
    equivalence: str = "mg",
    *,
    dictionary: MedicationDictionary | None = None,
    generic: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Class (``OTHER_CLASS``/``IN_CLASS``/``UNKNOWN``) and equivalence factor per mg
    (NaN when not in the class or not covered) of each name (generic or brand, any
    case). ``drug_class`` None: every drug of the dictionary is in the class;
    ``generic``: only that drug (a generic name of the dictionary) is."""
    d = dictionary or DICTIONARY
    kinds = np.empty(len(names), dtype=np.int8)
    per_mg = np.full(len(names), np.nan)
    for i, raw in enumerate(names):
        drug = d.resolve(str(raw))
        if drug is None:
            kinds[i] = UNKNOWN
        elif (drug_class is not None and drug.drug_class != drug_class) or (
            generic is not None and drug.name != generic
        ):
            kinds[i] = OTHER_CLASS
        else:
            kinds[i] = IN_CLASS
            per_mg[i] = _factor(drug, equivalence, d)
    return kinds, per_mg


@dataclass(frozen=True)
class Exposure:
    """Prescriptions of one table in a window, classified."""

    pidx: np.ndarray
    kind: np.ndarray
    days: np.ndarray  # exposure days in the window
    daily: np.ndarray  # daily dose x equivalence factor (NaN: no dose or factor)
    codes: np.ndarray  # drug name codes into ``names``
    names: pd.Index
    counts: dict[str, Any]


def exposure(
    c: Cohort,
    key: str,
    *,
    table: str,
    drug: str,
    start: str,
    end: str,
    drug_class: str | None,
    dose: str | None = None,
    equivalence: str = "mg",
    where: Mapping[str, Any] | None = None,
    window_months: int | None = None,
    generic: str | None = None,
) -> Exposure:
    """The kept prescriptions (with a start date) with their class, exposure days and
    equivalent daily dose (``generic``: of that one drug, a generic or brand name)."""
    c.table(table, f"{key}.table")
    dictionary = c.dictionary or DICTIONARY
    if generic is not None:
        name = dictionary.canonical_name(generic)
        if name is None:
            raise fail(
                f"{key}.generic",
                f"names {generic!r}, not a drug of the trial's medication dictionary"
                f"{suggest(generic.strip().lower(), list(dictionary.drugs))}",
            )
        if drug_class is not None and dictionary.drugs[name].drug_class != drug_class:
            raise fail(
                f"{key}.generic",
                f"{generic!r} is a drug of class {dictionary.drugs[name].drug_class!r}, "
                f"not {drug_class!r}",
            )
        generic = name
    classes = dictionary.classes
    if drug_class is not None and drug_class not in classes:
        raise fail(
            f"{key}.class",
            f"names {drug_class!r}, not a class of the trial's medication dictionary "
            f"({', '.join(classes)}){suggest(drug_class, list(classes))}",
        )
    w = c.window(window_months)
    names_col = c.column(table, drug, f"{key}.drug")
    s_day, s_missing = c.days(table, start, f"{key}.start")
    e_day, e_missing = c.days(table, end, f"{key}.end")
    rows = c.rows(table, key)
    keep = c.where(table, where, key) & ~s_missing
    pidx = rows.pidx[keep]
    codes, names = pd.factorize(names_col[rows.keep].astype("string")[keep], use_na_sentinel=False)
    kinds_u, per_mg_u = classify_drugs(
        list(names), drug_class, equivalence, dictionary=c.dictionary, generic=generic
    )
    lo, hi = c.consent[pidx], w.end[pidx]
    stop = np.where(e_missing[keep], hi, e_day[keep] + 1)
    days = overlap_days(s_day[keep], stop, lo, hi)
    kind = kinds_u[codes]
    per_mg = per_mg_u[codes]
    if dose is None:
        daily = np.full(len(pidx), np.nan)
    else:
        mg = c.column(table, dose, f"{key}.dose", kind="number")
        daily = mg.to_numpy(dtype=np.float64, na_value=np.nan)[rows.keep][keep] * per_mg
    unknown_in_window = np.zeros(c.n, dtype=bool)
    unknown_in_window[pidx[(kind == UNKNOWN) & (days > 0)]] = True
    counts: dict[str, Any] = {
        "rows_unknown_participant": rows.unknown,
        "rows_missing_start": int((c.where(table, where, key) & s_missing).sum()),
        "unknown_drug_rows": int((kind == UNKNOWN).sum()),
        "unknown_drug_participants_in_window": int(unknown_in_window.sum()),
        "unknown_drugs": _names(names, np.unique(codes[kind == UNKNOWN])),
    }
    return Exposure(pidx, kind, days, daily, codes, names, counts)


def medication_any(
    c: Cohort,
    key: str,
    *,
    table: str,
    drug: str,
    start: str,
    end: str,
    drug_class: str,
    where: Mapping[str, Any] | None = None,
    window_months: int | None = None,
) -> Derived:
    """Whether a prescription of a drug of ``class`` (``drug_class`` here) has
    exposure days in the window."""
    ex = exposure(
        c, key, table=table, drug=drug, start=start, end=end, drug_class=drug_class,
        where=where, window_months=window_months,
    )  # fmt: skip
    hit = (ex.kind == IN_CLASS) & (ex.days > 0)
    out = np.zeros(c.n, dtype=bool)
    out[ex.pidx[hit]] = True
    counts = {**ex.counts, "exposed": int(out.sum())}
    return Derived({"": pd.Series(pd.array(out, dtype="boolean"))}, counts, (table,))


def _dose_days(ex: Exposure, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per participant: the sum of daily dose x days of the kept drugs, whether an
    exposed drug lacks its dose or factor (the sum is then unknown), and those rows."""
    used = (ex.kind == IN_CLASS) & (ex.days > 0)
    uncovered_rows = used & np.isnan(ex.daily)
    uncovered = np.zeros(n, dtype=bool)
    uncovered[ex.pidx[uncovered_rows]] = True
    covered = used & ~uncovered_rows
    total = np.bincount(ex.pidx[covered], weights=ex.daily[covered] * ex.days[covered], minlength=n)
    return total, uncovered, uncovered_rows


def mean_dose(
    c: Cohort,
    key: str,
    *,
    table: str,
    drug: str,
    dose: str,
    start: str,
    end: str,
    equivalence: str,
    drug_class: str | None = None,
    generic: str | None = None,
    where: Mapping[str, Any] | None = None,
    window_months: int | None = None,
) -> Derived:
    """Time-weighted mean daily dose over the window in ``equivalence`` units, of the
    drugs of ``class`` (every drug of the dictionary without one; ``generic``: one drug):
    0 without exposure; NaN when an exposed drug lacks its factor, its dose is missing,
    or the window has no day."""
    total = total_dose(
        c, key, table=table, drug=drug, dose=dose, start=start, end=end,
        equivalence=equivalence, drug_class=drug_class, generic=generic, where=where,
        window_months=window_months,
    )  # fmt: skip
    fu = c.window(window_months).followup_days
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total.columns[""].to_numpy() / fu
    out = pd.Series(np.where(fu == 0, np.nan, mean), dtype=np.float64)
    return Derived({"": out}, {**total.counts, "missing": int(out.isna().sum())}, (table,))


def total_dose(
    c: Cohort,
    key: str,
    *,
    table: str,
    drug: str,
    dose: str,
    start: str,
    end: str,
    equivalence: str = "mg",
    drug_class: str | None = None,
    generic: str | None = None,
    where: Mapping[str, Any] | None = None,
    window_months: int | None = None,
) -> Derived:
    """Total dose over the window in ``equivalence`` units (mg by default), of the drugs of
    ``class`` or of one drug (``generic``): 0 without exposure; NaN when an exposed drug
    lacks its factor or its dose. Times a unit cost per mg (or per DDD), a drug budget."""
    ex = exposure(
        c, key, table=table, drug=drug, start=start, end=end, drug_class=drug_class,
        dose=dose, equivalence=equivalence, where=where, window_months=window_months,
        generic=generic,
    )  # fmt: skip
    total, uncovered, uncovered_rows = _dose_days(ex, c.n)
    out = pd.Series(np.where(uncovered, np.nan, total), dtype=np.float64)
    return Derived(
        {"": out}, _dose_counts(ex, out, uncovered, uncovered_rows, equivalence), (table,)
    )


def _dose_counts(
    ex: Exposure,
    out: pd.Series,
    uncovered: np.ndarray,
    uncovered_rows: np.ndarray,
    equivalence: str,
) -> dict[str, Any]:
    return {
        **ex.counts,
        "uncovered_participants": int(uncovered.sum()),
        "uncovered_drugs": _names(ex.names, np.unique(ex.codes[uncovered_rows])),
        "missing": int(out.isna().sum()),
        "unit": EQUIVALENCES[equivalence],
    }


def _names(names: pd.Index, codes: np.ndarray) -> list[str]:
    """Sorted distinct normalised drug names for the given factor codes."""
    return sorted({str(names[i]).strip().lower() for i in codes})
