"""The drug catalogue: the shipped medication dictionary, and CPZ equivalents.

The drugs, their classes and dose factors are data
(``dictionaries/medication_v<N>.csv``, loaded by
:mod:`odtrial.data.medication_dictionary`); :data:`DRUGS` is the shipped
dictionary by generic name.

CPZ equivalence methods disagree, so the method is a parameter:
- ``woods2003`` (Woods, J Clin Psychiatry 2003;64:663): mg equal to 100 mg CPZ.
- ``leucht2015`` (Leucht et al., Schizophr Bull 2015;41:1397, the classical
  mean dose method): mg equal to 1 mg olanzapine; 1 mg olanzapine = 38.9 mg CPZ.

An antipsychotic a method does not cover (clozapine under Woods 2003; most
first-generation drugs under both) has no factor (None): its CPZ equivalent is
missing under that method and the derivation reports it.

``max_daily_mg`` is the BNF adult maximum (NaN when none is recorded); a
prescription above ``PLAUSIBLE_FACTOR`` times it, or not above zero, is
implausible.
"""

from __future__ import annotations

from typing import Final, Literal

from odtrial.data.medication_dictionary import (
    Drug,
    MedicationDictionary,
    load_medication_dictionary,
)

__all__ = [
    "CPZ_METHODS",
    "DICTIONARY",
    "DRUGS",
    "LEUCHT_CPZ_PER_MG_OLANZAPINE",
    "PLAUSIBLE_FACTOR",
    "CpzMethod",
    "Drug",
    "cpz_equivalent",
]

CpzMethod = Literal["woods2003", "leucht2015"]
CPZ_METHODS: Final = ("woods2003", "leucht2015")
PLAUSIBLE_FACTOR: Final = 2.0
LEUCHT_CPZ_PER_MG_OLANZAPINE: Final = 38.9

DICTIONARY: Final = load_medication_dictionary()
DRUGS: Final = DICTIONARY.drugs


def cpz_equivalent(
    drug: str,
    daily_dose_mg: float,
    method: CpzMethod,
    *,
    dictionary: MedicationDictionary | None = None,
) -> float | None:
    """Daily dose of ``drug`` in mg chlorpromazine equivalents, or None if the
    method does not cover the drug (or the drug is not an antipsychotic).

    ``drug`` is a generic or brand name of ``dictionary`` (the shipped one by
    default); an unknown name is a KeyError.
    """
    d = (dictionary or DICTIONARY).resolve(drug)
    if d is None:
        raise KeyError(drug)
    if method not in CPZ_METHODS:
        raise ValueError(f"unknown CPZ method {method!r}; expected one of {CPZ_METHODS}")
    if not d.antipsychotic:
        return None
    if method == "woods2003":
        return (
            None
            if d.woods2003_mg_per_100cpz is None
            else daily_dose_mg / d.woods2003_mg_per_100cpz * 100.0
        )
    if d.leucht2015_mg_per_1olz is None:
        return None
    return daily_dose_mg / d.leucht2015_mg_per_1olz * LEUCHT_CPZ_PER_MG_OLANZAPINE
