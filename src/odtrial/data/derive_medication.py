"""Antipsychotic exposure and dose in chlorpromazine (CPZ) equivalents.

A prescription runs from ``start_date`` to ``end_date`` inclusive (the end
date is the last day of supply), i.e. the half-open day interval
``[start, end + 1)``; with no end date it is ongoing and runs to the window
end. Its days in the follow-up window ``[consent, window_end)`` (see
:mod:`odtrial.data.derive_events`) are its exposure days.

The time-weighted mean daily dose is the sum over prescriptions of
``daily CPZ-equivalent dose x exposure days``, divided by the follow-up days:
concurrent antipsychotics add up, days without one count as 0 mg.

Drugs are classified with a medication dictionary (the shipped one,
:data:`odtrial.data.drugs.DICTIONARY`, unless a trial passes its own); a
brand name counts as its generic:
- non-antipsychotics are ignored;
- an antipsychotic the CPZ method does not cover (clozapine, amisulpride under
  Woods 2003) makes the participant's mean dose missing, since 0 would be
  wrong and the true value is unknown; it still counts as "any antipsychotic";
- a drug not in the catalogue (ingest keeps it, lower-cased, with an
  ``unknown_drug`` warning) cannot be classified: it is ignored for both
  outcomes and counted, so the report can say how many were affected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from odtrial.data.derive_events import overlap_days
from odtrial.data.drugs import DICTIONARY, CpzMethod, cpz_equivalent
from odtrial.data.medication_dictionary import MedicationDictionary

# Drug classes for the per-name lookup.
NON_ANTIPSYCHOTIC, ANTIPSYCHOTIC, UNKNOWN = 0, 1, 2


def classify_drugs(
    names: pd.Index | list[str],
    method: CpzMethod,
    *,
    dictionary: MedicationDictionary | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Class (``NON_ANTIPSYCHOTIC``/``ANTIPSYCHOTIC``/``UNKNOWN``) and mg CPZ per
    mg of drug (NaN when not an antipsychotic or not covered) for each name.

    Names (generic or brand) are compared lower-case and stripped, as ingest
    stores them; ``dictionary`` defaults to the shipped one.
    """
    dictionary = dictionary or DICTIONARY
    kinds = np.empty(len(names), dtype=np.int8)
    per_mg = np.full(len(names), np.nan)
    for i, raw in enumerate(names):
        drug = dictionary.resolve(str(raw))
        if drug is None:
            kinds[i] = UNKNOWN
        elif not drug.antipsychotic:
            kinds[i] = NON_ANTIPSYCHOTIC
        else:
            kinds[i] = ANTIPSYCHOTIC
            # CPZ equivalents are linear in dose, so the value for 1 mg is the factor.
            factor = cpz_equivalent(drug.name, 1.0, method, dictionary=dictionary)
            per_mg[i] = np.nan if factor is None else factor
    return kinds, per_mg


@dataclass(frozen=True)
class Medication:
    """Per-participant antipsychotic outcomes (arrays indexed by participant row)."""

    any_antipsychotic: np.ndarray  # bool: an antipsychotic with exposure days in the window
    cpz_dose_days: np.ndarray  # float: sum of CPZ mg/day x days over covered prescriptions
    cpz_uncovered: np.ndarray  # bool: an uncovered antipsychotic (or missing dose) in the window
    uncovered_drugs: tuple[str, ...]  # names that made some participant's dose missing
    unknown_drug_rows: int  # prescriptions of drugs not in the catalogue (all dates)
    unknown_drug_participants: int  # participants with such a prescription in the window
    unknown_drugs: tuple[str, ...]


def medication_exposure(
    pidx: np.ndarray,
    drug: pd.Series,
    daily_dose_mg: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    end_missing: np.ndarray,
    consent: np.ndarray,
    window_end: np.ndarray,
    *,
    method: CpzMethod,
    dictionary: MedicationDictionary | None = None,
) -> Medication:
    """Antipsychotic exposure and CPZ dose-days per participant.

    Parameters
    ----------
    pidx
        Participant row of each prescription (all >= 0).
    drug
        Drug names (string Series aligned with ``pidx``).
    daily_dose_mg
        Daily dose in mg of the drug itself.
    start, end, end_missing
        Start and end day numbers (end inclusive); ``end_missing`` marks
        ongoing prescriptions.
    consent, window_end
        Day numbers per participant: the window is ``[consent, window_end)``.
    method
        CPZ equivalence method (see :data:`odtrial.data.drugs.CPZ_METHODS`).
    dictionary
        Medication dictionary (default: the shipped one; see
        :func:`odtrial.data.medication_dictionary.load_medication_dictionary`).
    """
    n = len(consent)
    codes, names = pd.factorize(drug, use_na_sentinel=False)
    kinds_u, per_mg_u = classify_drugs(list(names), method, dictionary=dictionary)
    kind, per_mg = kinds_u[codes], per_mg_u[codes]

    lo, hi = consent[pidx], window_end[pidx]
    stop = np.where(end_missing, hi, end + 1)
    days = overlap_days(start, stop, lo, hi)
    exposed = days > 0

    ap = exposed & (kind == ANTIPSYCHOTIC)
    any_ap = np.zeros(n, dtype=bool)
    any_ap[pidx[ap]] = True

    cpz_daily = daily_dose_mg * per_mg
    uncovered_rows = ap & np.isnan(cpz_daily)
    uncovered = np.zeros(n, dtype=bool)
    uncovered[pidx[uncovered_rows]] = True
    covered = ap & ~uncovered_rows
    dose_days = np.bincount(pidx[covered], weights=cpz_daily[covered] * days[covered], minlength=n)

    unknown_rows = kind == UNKNOWN
    unknown_in_window = np.zeros(n, dtype=bool)
    unknown_in_window[pidx[unknown_rows & exposed]] = True
    uncovered_names = np.unique(codes[uncovered_rows])
    unknown_names = np.unique(codes[unknown_rows])
    return Medication(
        any_antipsychotic=any_ap,
        cpz_dose_days=dose_days,
        cpz_uncovered=uncovered,
        uncovered_drugs=_names(names, uncovered_names),
        unknown_drug_rows=int(unknown_rows.sum()),
        unknown_drug_participants=int(unknown_in_window.sum()),
        unknown_drugs=_names(names, unknown_names),
    )


def _names(names: pd.Index | np.ndarray, codes: np.ndarray) -> tuple[str, ...]:
    """Sorted distinct normalised drug names for the given factor codes."""
    return tuple(sorted({str(names[i]).strip().lower() for i in codes}))
