"""Canonical tables: the names and kinds of every field after mapping.

Two stages:
- *mapped*: what a trust extract becomes after column and code mapping,
  still carrying identifiers (``nhs_number``, ``date_of_birth``);
- *frozen*: what a data freeze holds, pseudonymised (``participant_id``,
  ``age_at_consent``) and never containing an NHS number.

Every table in both stages also carries ``trust``, ``source_file`` (path
relative to the extract root, POSIX separators) and ``source_row`` (1-based
position of the record among the file's data records; the header is not
counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Kind = Literal["str", "date", "int", "float", "bool", "code"]


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    required: bool = True
    vocab: str | None = None  # for kind == "code": the vocabulary name in odtrial.data.vocab

    def __post_init__(self) -> None:
        if (self.kind == "code") != (self.vocab is not None):
            raise ValueError(f"field {self.name}: vocab is required exactly for kind 'code'")


EVENT_TABLES = ("followup", "admissions", "crisis_referrals", "prescriptions")
SITE_TABLES = ("participants", *EVENT_TABLES)
FROZEN_TABLES = ("clusters", *SITE_TABLES)

PROVENANCE = ("trust", "source_file", "source_row")

# What each extract must provide after column mapping (canonical names).
MAPPED: dict[str, tuple[Field, ...]] = {
    "participants": (
        Field("nhs_number", "str"),
        Field("date_of_birth", "date"),
        Field("sex", "code", vocab="sex"),
        Field("ethnicity", "code", required=False, vocab="ethnicity"),
        Field("diagnosis", "code", vocab="diagnosis"),
        Field("gp_practice", "str"),
        Field("cluster_id", "str"),  # the recruiting (randomised) cluster
        Field("consent_date", "date"),
        Field("baseline_work_study", "code", vocab="yes_no"),
    ),
    "followup": (
        Field("nhs_number", "str"),
        Field("visit_month", "code", vocab="visit"),
        Field("assessment_date", "date"),
        Field("work_study", "code", vocab="yes_no"),
    ),
    "admissions": (
        Field("nhs_number", "str"),
        Field("admission_date", "date"),
        Field("discharge_date", "date", required=False),  # missing: still in hospital at extract
        Field("legal_status", "code", vocab="legal_status"),
    ),
    "crisis_referrals": (
        Field("nhs_number", "str"),
        Field("referral_date", "date"),
    ),
    "prescriptions": (
        Field("nhs_number", "str"),
        Field("drug", "code", vocab="drug"),
        Field("daily_dose_mg", "float"),
        Field("start_date", "date"),
        Field("end_date", "date", required=False),  # missing: ongoing at extract
    ),
}

# What a freeze holds (besides PROVENANCE). Identifiers are replaced:
# nhs_number -> participant_id (keyed pseudonym); date_of_birth -> age_at_consent.
# Every mapped field that holds a date, whichever table it is in.
DATE_FIELDS: frozenset[str] = frozenset(
    f.name for fields in MAPPED.values() for f in fields if f.kind == "date"
)


def frozen_cluster_columns(stratum: str, attributes: Sequence[str]) -> tuple[str, ...]:
    """The frozen clusters table's columns (it has no PROVENANCE): the fixed ones
    around the trial's stratum column and its declared numeric cluster attributes
    (:attr:`odtrial.trial.Trial.cluster_attributes`), in their declared order.

    Examples
    --------
    >>> frozen_cluster_columns("region", ["beds"])
    ('cluster_id', 'trust', 'region', 'n_practices', 'beds', 'arm')
    """
    return ("cluster_id", "trust", stratum, "n_practices", *attributes, "arm")


# The site tables' frozen columns (the clusters table: frozen_cluster_columns).
FROZEN: dict[str, tuple[str, ...]] = {
    "participants": (
        "participant_id",
        "cluster_id",
        "catchment",
        "arm",
        "gp_practice",
        "practice_cluster_id",
        "age_at_consent",
        "sex",
        "ethnicity",
        "diagnosis",
        "consent_date",
        "baseline_work_study",
    ),
    "followup": ("participant_id", "visit_month", "assessment_date", "work_study"),
    "admissions": ("participant_id", "admission_date", "discharge_date", "legal_status"),
    "crisis_referrals": ("participant_id", "referral_date"),
    "prescriptions": ("participant_id", "drug", "daily_dose_mg", "start_date", "end_date"),
}


def mapped_field(table: str, name: str) -> Field:
    for f in MAPPED[table]:
        if f.name == name:
            return f
    raise KeyError(f"{table}.{name}")
