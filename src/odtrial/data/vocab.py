"""Canonical vocabularies. Trust configs map their own codes onto these.

The ``visit`` vocabulary is the trial's own: the months of its ``[visits]``
schedule (:attr:`odtrial.trial.Trial.visit_months`), passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from odtrial.data.medication_dictionary import MedicationDictionary

# NHS ethnic category (Data Dictionary "ETHNIC CATEGORY"): letters plus 99 not known.
ETHNICITY: Final = (
    "A",
    "B",
    "C",
    "D",
    "E",
    "F",
    "G",
    "H",
    "J",
    "K",
    "L",
    "M",
    "N",
    "P",
    "R",
    "S",
    "Z",
    "99",
)

VOCABULARIES: Final = MappingProxyType(
    {
        "sex": ("female", "male", "other"),
        "ethnicity": ETHNICITY,
        # Primary diagnosis, grouped by ICD-10 block.
        "diagnosis": ("psychosis", "bipolar", "depression", "anxiety", "personality", "other"),
        # MHSDS LegalStatusCode, simplified: informal, MHA section 2, section 3, section 136, other.
        "legal_status": ("informal", "section_2", "section_3", "section_136", "other_detention"),
        "yes_no": (True, False),
        # Canonical drug names: the medication dictionary's (see vocabulary()).
        "drug": (),
    }
)


def vocabulary(
    name: str,
    *,
    visit_months: Sequence[int] | None = None,
    dictionary: MedicationDictionary | None = None,
) -> tuple[object, ...]:
    """The allowed canonical values of a vocabulary (drugs are the generic names of
    ``dictionary``, the trial's medication dictionary, or the shipped one when None;
    visits are ``visit_months``, the trial's schedule, required for that vocabulary)."""
    if name == "visit":
        if visit_months is None:
            raise ValueError("the visit vocabulary is the trial's schedule: pass visit_months")
        return tuple(int(m) for m in visit_months)
    if name == "drug":
        from odtrial.data.drugs import DICTIONARY

        return tuple(DICTIONARY if dictionary is None else dictionary)
    return VOCABULARIES[name]
