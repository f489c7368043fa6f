"""Canonical vocabularies. Trust configs map their own codes onto these."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

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
        "visit": (12, 24),
        # Canonical drug names: see odtrial.data.drugs.DRUGS.
        "drug": (),
    }
)


def vocabulary(name: str) -> tuple[object, ...]:
    """The allowed canonical values of a vocabulary (drugs come from the drug catalogue)."""
    if name == "drug":
        from odtrial.data.drugs import DRUGS

        return tuple(DRUGS)
    return VOCABULARIES[name]
