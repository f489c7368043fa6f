"""The synthetic trial's fixed design: trusts, catchments, and each trust's extract dialect,
and the writer of ``trial.toml``.

Every trust speaks its own dialect: file format, encoding, delimiter, date
representation, column names and codes. A :class:`Dialect` holds, per table,
the source column of each canonical field and, per coded field, how each
canonical value is written in the source (``render``). The code mapping in
``trial.toml`` is the inverse of ``render`` (source text -> canonical), so the
file and the config can never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Final

from odtrial.synth.tables import BASELINE_TOML, ETHNICITY, TABLES_TOML

TRIAL_NAME: Final = "POD cluster randomised trial (synthetic)"
REGISTRATION: Final = "ISRCTN52653325 (the real trial; these data are synthetic)"
ARMS: Final = ("POD", "TAU")
ARM_LABELS: Final = {"POD": "Peer-supported Open Dialogue", "TAU": "Treatment as usual"}
# The allocation's stratum and balance variables (synth.population.allocate), labelled
# for the report: (column, label) and (column, label, decimals of mean and SD).
STRATA: Final = ("catchment", "Catchment areas (strata)")
BALANCE_LABELS: Final = (
    ("list_size", "Practice list size per cluster", 0),
    ("imd_score", "IMD score", 1),
)
FOLLOW_UP_MONTHS: Final = 24
#: The follow-up visits: (month, window in days either side of the due date).
VISIT_SCHEDULE: Final = ((12, 92), (24, 92))
#: Minimum age at consent, completed years (younger: an under_min_age warning).
MIN_AGE: Final = 18
# Documented, public, and only accepted because trial.synthetic = true.
TEST_KEY: Final = "odtrial-synthetic-test-key-not-secret"
KEY_ENV: Final = "ODTRIAL_PSEUDONYM_KEY"
RANDOMISATION_DIR: Final = "randomisation"  # the record of `odtrial randomise`, shipped
RANDOMISATION_INPUT: Final = "clusters.csv"  # the cluster table it randomised
UNIT_COSTS: Final = "unit_costs.toml"  # the economic evaluation's unit costs, shipped
PRICE_INDEX: Final = "price_index.toml"  # and its price index


@dataclass(frozen=True)
class TrustInfo:
    id: str
    name: str
    directory: str


@dataclass(frozen=True)
class CatchmentInfo:
    id: str
    trust: str
    name: str
    n_clusters: int
    practice_prefix: str  # realistic commissioning-area letter+digits of GP practice codes
    imd_mean: float  # mean IMD 2019 score of its practices (synthetic, plausible)
    effect: float  # catchment fixed effect on every linear predictor (stratum difference)


TRUSTS: Final = (
    TrustInfo("NELFT", "North East London NHS Foundation Trust", "nelft"),
    TrustInfo("NEP", "North Essex Partnership University NHS Foundation Trust", "north_essex"),
    TrustInfo("NOTTS", "Nottinghamshire Healthcare NHS Foundation Trust", "nottinghamshire"),
    TrustInfo("KMPT", "Kent and Medway NHS and Social Care Partnership Trust", "kent_medway"),
    TrustInfo("SOMPAR", "Somerset Partnership NHS Foundation Trust", "somerset"),
    TrustInfo("AWP", "Avon and Wiltshire Mental Health Partnership NHS Trust", "avon_wiltshire"),
)

CATCHMENTS: Final = (
    CatchmentInfo("NELFT-BD", "NELFT", "Barking and Dagenham", 4, "F82", 32.0, 0.0),
    CatchmentInfo("NELFT-RB", "NELFT", "Redbridge", 3, "F86", 21.0, 0.10),
    CatchmentInfo("NEP-CT", "NEP", "Colchester and Tendring", 4, "F81", 24.0, -0.10),
    CatchmentInfo("NOTTS-CITY", "NOTTS", "Nottingham City", 4, "C84", 34.0, -0.15),
    CatchmentInfo("NOTTS-BAS", "NOTTS", "Bassetlaw", 3, "C83", 26.0, 0.05),
    CatchmentInfo("KMPT-MED", "KMPT", "Medway", 4, "G82", 27.0, -0.05),
    CatchmentInfo("KMPT-WK", "KMPT", "West Kent", 3, "G83", 15.0, 0.20),
    CatchmentInfo("SOMPAR-SOM", "SOMPAR", "Somerset", 4, "L85", 18.0, 0.15),
    CatchmentInfo("AWP-BRI", "AWP", "Bristol", 3, "L81", 25.0, -0.05),
)

TABLE_SOURCE_NAMES: Final = (
    "participants",
    "followup",
    "admissions",
    "crisis_referrals",
    "prescriptions",
    "eq5d",
    "community_contacts",
)
#: The economic evaluation's tables: drawn after the others from their own random stream
#: (so the other extracts are those of a trial without them) and given no faults.
ECON_TABLES: Final = ("eq5d", "community_contacts")
# Each trust's follow-up file stem, and the stems of its economic tables' files.
_ECON_STEMS: Final = {
    "NELFT": ("followup_", "eq5d_", "community_contacts_"),
    "NEP": ("POD_FollowUp_", "POD_EQ5D_", "POD_Community_Contacts_"),
    "NOTTS": ("notts_pod_followup_", "notts_pod_eq5d_", "notts_pod_contacts_"),
    "KMPT": ("KMPT_POD_followup_", "KMPT_POD_eq5d_", "KMPT_POD_contacts_"),
    "SOMPAR": ("som_pod_fu_", "som_pod_eq5d_", "som_pod_contacts_"),
    "AWP": ("awp_fu_", "awp_eq5d_", "awp_cont_"),
}
# Source columns of the economic tables (SAS transport names: at most 8 characters).
_EQ5D_COLUMNS: Final = {
    "month": "EQMONTH",
    "mobility": "EQMO",
    "self_care": "EQSC",
    "usual_activities": "EQUA",
    "pain_discomfort": "EQPD",
    "anxiety_depression": "EQAD",
}


def _with_econ(d: Dialect) -> Dialect:
    """The dialect with the economic tables: file names like its follow-up file's, and its
    follow-up's identifier and date columns."""
    fu, eq, cc = _ECON_STEMS[d.trust]
    fu_cols = d.columns["followup"]
    files = dict(d.files)
    patterns = dict(d.patterns)
    for table, stem in (("eq5d", eq), ("community_contacts", cc)):
        files[table] = d.files["followup"].replace(fu, stem, 1)
        patterns[table] = d.patterns["followup"].replace(fu, stem, 1)
    columns = dict(d.columns)
    columns["eq5d"] = {
        "nhs_number": fu_cols["nhs_number"],
        "month": _EQ5D_COLUMNS["month"],
        "assessment_date": fu_cols["assessment_date"],
        **{k: v for k, v in _EQ5D_COLUMNS.items() if k != "month"},
    }
    columns["community_contacts"] = {
        "nhs_number": fu_cols["nhs_number"],
        "contact_date": "CONTDATE",
        "service": "SERVICE",
    }
    return replace(d, files=files, patterns=patterns, columns=columns)


# NHS ethnic category descriptions (used by trusts that send words or labels).
ETHNICITY_WORDS: Final = dict(
    zip(
        ETHNICITY,
        (
            "White - British",
            "White - Irish",
            "White - Any other White background",
            "Mixed - White and Black Caribbean",
            "Mixed - White and Black African",
            "Mixed - White and Asian",
            "Mixed - Any other mixed background",
            "Asian or Asian British - Indian",
            "Asian or Asian British - Pakistani",
            "Asian or Asian British - Bangladeshi",
            "Asian or Asian British - Any other Asian background",
            "Black or Black British - Caribbean",
            "Black or Black British - African",
            "Black or Black British - Any other Black background",
            "Other Ethnic Groups - Chinese",
            "Other Ethnic Groups - Any other ethnic group",
            "Not stated",
            "Not known",
        ),
        strict=True,
    )
)

DIAGNOSES: Final = ("psychosis", "bipolar", "depression", "anxiety", "personality", "other")
LEGAL: Final = ("informal", "section_2", "section_3", "section_136", "other_detention")


@dataclass(frozen=True)
class Dialect:
    """How one trust writes its extracts."""

    trust: str
    format: str  # csv | excel | sav | dta | xpt
    files: Mapping[str, str]  # table -> file name (relative to the trust directory)
    patterns: Mapping[str, str]  # table -> glob in trial.toml
    columns: Mapping[str, Mapping[str, str]]  # table -> canonical -> source column
    render: Mapping[str, Mapping[Any, Any]]  # coded field -> canonical value -> source value
    oov: Mapping[str, Any]  # coded field -> a source value with no mapping (fault injection)
    encoding: str = "utf-8"
    delimiter: str = ","
    line_terminator: str = "\n"
    date_format: str = "%Y-%m-%d"  # strftime for text formats; "native" / "sas-days" otherwise
    use_value_labels: bool = True
    value_labels: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    drug_case: str = "lower"  # lower | upper | title
    drug_brands: Mapping[str, str] = field(default_factory=dict)  # brand -> canonical drug
    free_text: Mapping[str, str] = field(default_factory=dict)  # table -> unmapped notes column

    @property
    def text(self) -> bool:
        return self.format == "csv"

    def codes(self, fld: str) -> dict[str, Any]:
        """Source text -> canonical value, the inverse of ``render`` (for trial.toml)."""
        if fld == "drug":
            return dict(self.drug_brands)
        labels = self.value_labels.get(fld) if self.use_value_labels else None
        out: dict[str, Any] = {}
        for canon, src in self.render[fld].items():
            key = labels[src] if labels is not None else _as_text(src)
            out[key] = canon
            if isinstance(src, str) and src.isdigit() and src != str(int(src)):
                out[str(int(src))] = canon  # "01" also read as 1 by a numeric reader
        return out


def _as_text(v: Any) -> str:
    return str(int(v)) if isinstance(v, int | float) and not isinstance(v, bool) else str(v)


def _files(stems: Mapping[str, str], ext: str, stamp: str) -> tuple[dict[str, str], dict[str, str]]:
    files = {t: f"{s}{stamp}.{ext}" for t, s in stems.items()}
    patterns = {t: f"{s}*.{ext}" for t, s in stems.items()}
    return files, patterns


_ETH_LETTERS: Final = {e: e for e in ETHNICITY}
_VISIT_NUM: Final = {m: m for m, _ in VISIT_SCHEDULE}


def dialects(data_cutoff: date) -> tuple[Dialect, ...]:
    """The six trusts' dialects; file names carry the extract date (the data cut-off)."""
    iso = data_cutoff.isoformat()
    compact = data_cutoff.strftime("%Y%m%d")
    out: list[Dialect] = []

    # NELFT: CSV UTF-8, ISO dates, MHSDS-like names and codes.
    f, p = _files(
        {
            "participants": "participants_",
            "followup": "followup_",
            "admissions": "admissions_",
            "crisis_referrals": "crisis_referrals_",
            "prescriptions": "prescriptions_",
        },
        "csv",
        iso,
    )
    out.append(
        Dialect(
            trust="NELFT",
            format="csv",
            files=f,
            patterns=p,
            columns={
                "participants": {
                    "nhs_number": "NHSNumber",
                    "date_of_birth": "PersonBirthDate",
                    "sex": "Gender",
                    "ethnicity": "EthnicCategory",
                    "diagnosis": "PrimDiagCode",
                    "gp_practice": "OrgIDGPPrac",
                    "cluster_id": "TrialClusterID",
                    "consent_date": "ConsentDate",
                    "baseline_work_study": "EmployOrStudyFlag",
                },
                "followup": {
                    "nhs_number": "NHSNumber",
                    "visit_month": "AssessmentMonth",
                    "assessment_date": "AssessmentDate",
                    "work_study": "EmployOrStudyFlag",
                },
                "admissions": {
                    "nhs_number": "NHSNumber",
                    "admission_date": "StartDateHospProvSpell",
                    "discharge_date": "DischDateHospProvSpell",
                    "legal_status": "LegalStatusCode",
                },
                "crisis_referrals": {
                    "nhs_number": "NHSNumber",
                    "referral_date": "ReferralRequestReceivedDate",
                },
                "prescriptions": {
                    "nhs_number": "NHSNumber",
                    "drug": "MedicationName",
                    "daily_dose_mg": "DailyDoseMg",
                    "start_date": "MedStartDate",
                    "end_date": "MedEndDate",
                },
            },
            render={
                "sex": {"male": "1", "female": "2", "other": "9"},
                "ethnicity": _ETH_LETTERS,
                "diagnosis": dict(
                    zip(DIAGNOSES, ("F20", "F31", "F32", "F41", "F60", "F99"), strict=True)
                ),
                "baseline_work_study": {True: "Y", False: "N"},
                "work_study": {True: "Y", False: "N"},
                "legal_status": dict(zip(LEGAL, ("01", "02", "03", "20", "09"), strict=True)),
                "visit_month": {12: "12", 24: "24"},
            },
            oov={
                "sex": "X",
                "ethnicity": "X",
                "diagnosis": "Z03",
                "baseline_work_study": "U",
                "work_study": "U",
                "legal_status": "35",
            },
            drug_case="lower",
        )
    )

    # North Essex: CSV Windows-1252, ';', dd/mm/yyyy, CRLF, words, a free-text notes column.
    f, p = _files(
        {
            "participants": "POD_Baseline_",
            "followup": "POD_FollowUp_",
            "admissions": "POD_Admissions_",
            "crisis_referrals": "POD_CRHT_Referrals_",
            "prescriptions": "POD_Medication_",
        },
        "csv",
        compact,
    )
    out.append(
        Dialect(
            trust="NEP",
            format="csv",
            files=f,
            patterns=p,
            encoding="cp1252",
            delimiter=";",
            line_terminator="\r\n",
            date_format="%d/%m/%Y",
            columns={
                "participants": {
                    "nhs_number": "NHS No",
                    "date_of_birth": "Date of Birth",
                    "sex": "Sex",
                    "ethnicity": "Ethnicity",
                    "diagnosis": "Primary Diagnosis",
                    "gp_practice": "GP Practice Code",
                    "cluster_id": "Cluster",
                    "consent_date": "Date Consented",
                    "baseline_work_study": "In Work or Study",
                },
                "followup": {
                    "nhs_number": "NHS No",
                    "visit_month": "Timepoint",
                    "assessment_date": "Date of Assessment",
                    "work_study": "In Work or Study",
                },
                "admissions": {
                    "nhs_number": "NHS No",
                    "admission_date": "Admission Date",
                    "discharge_date": "Discharge Date",
                    "legal_status": "Legal Status",
                },
                "crisis_referrals": {"nhs_number": "NHS No", "referral_date": "Referral Date"},
                "prescriptions": {
                    "nhs_number": "NHS No",
                    "drug": "Medication",
                    "daily_dose_mg": "Total Daily Dose (mg)",
                    "start_date": "Start Date",
                    "end_date": "Stop Date",
                },
            },
            render={
                "sex": {"male": "M", "female": "F", "other": "O"},
                "ethnicity": ETHNICITY_WORDS,
                "diagnosis": dict(
                    zip(
                        DIAGNOSES,
                        (
                            "Psychosis",
                            "Bipolar affective disorder",
                            "Depression",
                            "Anxiety disorder",
                            "Personality disorder",
                            "Other",
                        ),
                        strict=True,
                    )
                ),
                "baseline_work_study": {True: "Yes", False: "No"},
                "work_study": {True: "Yes", False: "No"},
                "legal_status": dict(
                    zip(
                        LEGAL,
                        ("Informal", "Section 2", "Section 3", "Section 136", "Other detention"),
                        strict=True,
                    )
                ),
                "visit_month": {12: "12 months", 24: "24 months"},
            },
            oov={
                "sex": "U",
                "ethnicity": "Prefer not to say",
                "diagnosis": "Eating disorder",
                "baseline_work_study": "Unknown",
                "work_study": "Unknown",
                "legal_status": "Section 37",
            },
            drug_case="title",
            drug_brands={
                "Zyprexa": "olanzapine",
                "Abilify": "aripiprazole",
                "Seroquel": "quetiapine",
            },
            free_text={"participants": "Comments", "crisis_referrals": "Referral Notes"},
        )
    )

    # Nottinghamshire: Excel workbooks, real Excel dates.
    f, p = _files(
        {
            "participants": "notts_pod_participants_",
            "followup": "notts_pod_followup_",
            "admissions": "notts_pod_admissions_",
            "crisis_referrals": "notts_pod_crisis_",
            "prescriptions": "notts_pod_prescribing_",
        },
        "xlsx",
        compact,
    )
    out.append(
        Dialect(
            trust="NOTTS",
            format="excel",
            files=f,
            patterns=p,
            date_format="native",
            columns={
                "participants": {
                    "nhs_number": "NHS Number",
                    "date_of_birth": "DOB",
                    "sex": "Gender",
                    "ethnicity": "Ethnic Code",
                    "diagnosis": "Diagnosis Group",
                    "gp_practice": "Registered GP",
                    "cluster_id": "Cluster ID",
                    "consent_date": "Consent Date",
                    "baseline_work_study": "Work/Study at Baseline",
                },
                "followup": {
                    "nhs_number": "NHS Number",
                    "visit_month": "Visit (months)",
                    "assessment_date": "Visit Date",
                    "work_study": "Work/Study",
                },
                "admissions": {
                    "nhs_number": "NHS Number",
                    "admission_date": "Admitted",
                    "discharge_date": "Discharged",
                    "legal_status": "Legal Status",
                },
                "crisis_referrals": {
                    "nhs_number": "NHS Number",
                    "referral_date": "CRHT Referral Date",
                },
                "prescriptions": {
                    "nhs_number": "NHS Number",
                    "drug": "Drug",
                    "daily_dose_mg": "Daily Dose mg",
                    "start_date": "Started",
                    "end_date": "Stopped",
                },
            },
            render={
                "sex": {"male": "Male", "female": "Female", "other": "Other"},
                "ethnicity": _ETH_LETTERS,
                "diagnosis": {d: d.capitalize() for d in DIAGNOSES},
                "baseline_work_study": {True: "Y", False: "N"},
                "work_study": {True: "Y", False: "N"},
                "legal_status": dict(zip(LEGAL, ("INF", "S2", "S3", "S136", "OTH"), strict=True)),
                "visit_month": _VISIT_NUM,
            },
            oov={
                "sex": "Not Known",
                "ethnicity": "X",
                "diagnosis": "Eating disorder",
                "baseline_work_study": "?",
                "work_study": "?",
                "legal_status": "S37",
            },
            drug_case="upper",
        )
    )

    # Kent & Medway: SPSS .sav, numeric codes with value labels.
    f, p = _files(
        {
            "participants": "KMPT_POD_baseline_",
            "followup": "KMPT_POD_followup_",
            "admissions": "KMPT_POD_admissions_",
            "crisis_referrals": "KMPT_POD_crisis_",
            "prescriptions": "KMPT_POD_medication_",
        },
        "sav",
        compact,
    )
    eth_num = {e: (i + 1 if e != "99" else 99) for i, e in enumerate(ETHNICITY)}
    out.append(
        Dialect(
            trust="KMPT",
            format="sav",
            files=f,
            patterns=p,
            date_format="native",
            use_value_labels=True,
            columns={
                "participants": {
                    "nhs_number": "nhsno",
                    "date_of_birth": "dob",
                    "sex": "sex",
                    "ethnicity": "ethnic",
                    "diagnosis": "diag",
                    "gp_practice": "gpcode",
                    "cluster_id": "cluster",
                    "consent_date": "consdate",
                    "baseline_work_study": "workbl",
                },
                "followup": {
                    "nhs_number": "nhsno",
                    "visit_month": "visit",
                    "assessment_date": "assdate",
                    "work_study": "work",
                },
                "admissions": {
                    "nhs_number": "nhsno",
                    "admission_date": "admdate",
                    "discharge_date": "disdate",
                    "legal_status": "legal",
                },
                "crisis_referrals": {"nhs_number": "nhsno", "referral_date": "refdate"},
                "prescriptions": {
                    "nhs_number": "nhsno",
                    "drug": "drug",
                    "daily_dose_mg": "dosemg",
                    "start_date": "startdt",
                    "end_date": "stopdt",
                },
            },
            render={
                "sex": {"male": 1, "female": 2, "other": 3},
                "ethnicity": eth_num,
                "diagnosis": {d: i + 1 for i, d in enumerate(DIAGNOSES)},
                "baseline_work_study": {True: 1, False: 0},
                "work_study": {True: 1, False: 0},
                "legal_status": {s: i + 1 for i, s in enumerate(LEGAL)},
                "visit_month": _VISIT_NUM,
            },
            value_labels={
                "sex": {1: "Male", 2: "Female", 3: "Other"},
                "ethnicity": {eth_num[e]: ETHNICITY_WORDS[e] for e in ETHNICITY},
                "diagnosis": {
                    1: "Psychotic disorder",
                    2: "Bipolar disorder",
                    3: "Depressive disorder",
                    4: "Anxiety disorder",
                    5: "Personality disorder",
                    6: "Other diagnosis",
                },
                "baseline_work_study": {1: "Yes", 0: "No"},
                "work_study": {1: "Yes", 0: "No"},
                "legal_status": {
                    1: "Informal",
                    2: "MHA Section 2",
                    3: "MHA Section 3",
                    4: "MHA Section 136",
                    5: "Other MHA section",
                },
                "visit_month": {12: "12 months", 24: "24 months"},
            },
            oov={
                "sex": 9,
                "ethnicity": 88,
                "diagnosis": 7,
                "baseline_work_study": 9,
                "work_study": 9,
                "legal_status": 8,
            },
            drug_case="title",
        )
    )

    # Somerset: Stata .dta, plain numeric codes (no labels used).
    f, p = _files(
        {
            "participants": "som_pod_baseline_",
            "followup": "som_pod_fu_",
            "admissions": "som_pod_adm_",
            "crisis_referrals": "som_pod_crht_",
            "prescriptions": "som_pod_rx_",
        },
        "dta",
        compact,
    )
    out.append(
        Dialect(
            trust="SOMPAR",
            format="dta",
            files=f,
            patterns=p,
            date_format="native",
            use_value_labels=False,
            columns={
                "participants": {
                    "nhs_number": "nhs_number",
                    "date_of_birth": "birth_date",
                    "sex": "gender",
                    "ethnicity": "ethnic_cat",
                    "diagnosis": "dx_group",
                    "gp_practice": "gp_prac",
                    "cluster_id": "cluster_id",
                    "consent_date": "consent_dt",
                    "baseline_work_study": "work_study_bl",
                },
                "followup": {
                    "nhs_number": "nhs_number",
                    "visit_month": "fu_month",
                    "assessment_date": "fu_date",
                    "work_study": "work_study",
                },
                "admissions": {
                    "nhs_number": "nhs_number",
                    "admission_date": "adm_dt",
                    "discharge_date": "dis_dt",
                    "legal_status": "mha_status",
                },
                "crisis_referrals": {"nhs_number": "nhs_number", "referral_date": "crht_ref_dt"},
                "prescriptions": {
                    "nhs_number": "nhs_number",
                    "drug": "drug_name",
                    "daily_dose_mg": "dose_mg_day",
                    "start_date": "start_dt",
                    "end_date": "end_dt",
                },
            },
            render={
                "sex": {"male": 1, "female": 2, "other": 3},
                "ethnicity": _ETH_LETTERS,
                "diagnosis": {d: i + 1 for i, d in enumerate(DIAGNOSES)},
                "baseline_work_study": {True: 1, False: 0},
                "work_study": {True: 1, False: 0},
                "legal_status": {s: i + 1 for i, s in enumerate(LEGAL)},
                "visit_month": _VISIT_NUM,
            },
            oov={
                "sex": 9,
                "ethnicity": "X",
                "diagnosis": 0,
                "baseline_work_study": 9,
                "work_study": 9,
                "legal_status": 8,
            },
            drug_case="lower",
        )
    )

    # Avon & Wiltshire: SAS transport (v5), 8-character names, dates as SAS day numbers.
    f, p = _files(
        {
            "participants": "awp_demog_",
            "followup": "awp_fu_",
            "admissions": "awp_adm_",
            "crisis_referrals": "awp_crht_",
            "prescriptions": "awp_rx_",
        },
        "xpt",
        compact,
    )
    out.append(
        Dialect(
            trust="AWP",
            format="xpt",
            files=f,
            patterns=p,
            date_format="sas-days",
            columns={
                "participants": {
                    "nhs_number": "NHSNO",
                    "date_of_birth": "BRTHDT",
                    "sex": "SEX",
                    "ethnicity": "ETHNIC",
                    "diagnosis": "DIAGGRP",
                    "gp_practice": "GPPRAC",
                    "cluster_id": "CLUSTER",
                    "consent_date": "CONSDT",
                    "baseline_work_study": "WORKBL",
                },
                "followup": {
                    "nhs_number": "NHSNO",
                    "visit_month": "VISITM",
                    "assessment_date": "ASSDT",
                    "work_study": "WORKST",
                },
                "admissions": {
                    "nhs_number": "NHSNO",
                    "admission_date": "ADMDT",
                    "discharge_date": "DISDT",
                    "legal_status": "LEGSTAT",
                },
                "crisis_referrals": {"nhs_number": "NHSNO", "referral_date": "REFDT"},
                "prescriptions": {
                    "nhs_number": "NHSNO",
                    "drug": "DRUG",
                    "daily_dose_mg": "DOSEMG",
                    "start_date": "STARTDT",
                    "end_date": "ENDDT",
                },
            },
            render={
                "sex": {"male": "MALE", "female": "FEMALE", "other": "OTHER"},
                "ethnicity": _ETH_LETTERS,
                "diagnosis": dict(
                    zip(DIAGNOSES, ("PSY", "BIP", "DEP", "ANX", "PD", "OTH"), strict=True)
                ),
                "baseline_work_study": {True: "Y", False: "N"},
                "work_study": {True: "Y", False: "N"},
                "legal_status": dict(zip(LEGAL, ("INF", "S2", "S3", "S136", "OTHER"), strict=True)),
                "visit_month": _VISIT_NUM,
            },
            oov={
                "sex": "UNKNOWN",
                "ethnicity": "X",
                "diagnosis": "EAT",
                "baseline_work_study": "U",
                "work_study": "U",
                "legal_status": "S37",
            },
            drug_case="upper",
        )
    )
    return tuple(_with_econ(d) for d in out)


# ---------------------------------------------------------------------------- trial.toml


def _q(v: Any) -> str:
    """A TOML value (strings as JSON-escaped basic strings, which TOML accepts)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_q(x) for x in v) + "]"
    return json.dumps(str(v))


def _key(k: str) -> str:
    bare = k and all(c.isalnum() or c in "_-" for c in k) and k.isascii()
    return k if bare else json.dumps(k)


def trial_toml(
    *,
    data_cutoff: date,
    clusters: list[dict[str, Any]],
    dialect_list: tuple[Dialect, ...],
    seed: int,
) -> str:
    """The trial configuration text (deterministic)."""
    lines = [
        "# Synthetic POD cluster randomised trial, written by `odtrial synth` "
        f"(seed {seed}). Not real data.",
        "# Format: see the docstring of odtrial.trial.",
        "",
        "[trial]",
        f"name = {_q(TRIAL_NAME)}",
        f"registration = {_q(REGISTRATION)}",
        "synthetic = true",
        "arms = [",
        *(f"  {{ code = {_q(a)}, label = {_q(ARM_LABELS[a])} }}," for a in ARMS),
        "]",
        f"follow_up_months = {FOLLOW_UP_MONTHS}",
        f"data_cutoff = {_q(data_cutoff)}",
        "",
        "[visits]",
        "# Follow-up assessments: months after consent, each accepted within window_days",
        "# either side of its due date.",
        "schedule = [",
        *(f"  {{ month = {m}, window_days = {w} }}," for m, w in VISIT_SCHEDULE),
        "]",
        "",
        "[eligibility]",
        "# Completed years at consent; a younger participant is queried (kept as randomised).",
        f"min_age = {MIN_AGE}",
        "",
        "[pseudonymisation]",
        f"key_env = {_q(KEY_ENV)}",
        "# Public test key of the synthetic trial; a real trial reads its key from key_env.",
        f"test_key = {_q(TEST_KEY)}",
        "",
        "[randomisation]",
        "# Written by odtrial.randomise (allocation, constrained space, hash-chained log);",
        "# ingest verifies it and checks the arms below against it.",
        f"record = {_q(RANDOMISATION_DIR)}",
        "# The stratum and balance variables of the record's parameters, as the report labels them.",
        f"strata = {{ column = {_q(STRATA[0])}, label = {_q(STRATA[1])} }}",
        "balance = [",
        *(
            f"  {{ column = {_q(c)}, label = {_q(lab)}, decimals = {nd} }},"
            for c, lab, nd in BALANCE_LABELS
        ),
        "]",
        "",
        *BASELINE_TOML.splitlines(),
        "",
        *TABLES_TOML.splitlines(),
        "",
    ]
    for t in TRUSTS:
        lines += [
            "[[trusts]]",
            f"id = {_q(t.id)}",
            f"name = {_q(t.name)}",
            f"directory = {_q(t.directory)}",
            "",
        ]
    for c in CATCHMENTS:
        lines += [
            "[[strata]]",
            f"id = {_q(c.id)}",
            f"trust = {_q(c.trust)}",
            f"name = {_q(c.name)}",
            "",
        ]
    for cl in clusters:
        lines += [
            "[[clusters]]",
            f"id = {_q(cl['id'])}",
            f"catchment = {_q(cl['catchment'])}",
            f"practices = {_q(cl['practices'])}",
            f"list_size = {int(cl['list_size'])}",
            f"imd_score = {float(cl['imd_score'])!r}",
            f"arm = {_q(cl['arm'])}",
            "",
        ]
    for d in dialect_list:
        for table in TABLE_SOURCE_NAMES:
            head = f"extracts.{d.trust}.{table}"
            lines += [f"[{head}]", f"pattern = {_q(d.patterns[table])}", f"format = {_q(d.format)}"]
            if d.text:
                lines += [
                    f"encoding = {_q(d.encoding)}",
                    f"delimiter = {_q(d.delimiter)}",
                ]
            lines.append(f"date_format = {_q(d.date_format)}")
            if d.format in ("sav", "dta"):
                lines.append(f"use_value_labels = {_q(d.use_value_labels)}")
            lines += ["", f"[{head}.columns]"]
            lines += [f"{_key(k)} = {_q(v)}" for k, v in d.columns[table].items()]
            lines.append("")
            for fld in d.columns[table]:
                if fld not in d.render and fld != "drug":
                    continue
                codes = d.codes(fld)
                if not codes:
                    continue
                lines.append(f"[{head}.codes.{fld}]")
                lines += [f"{_key(k)} = {_q(v)}" for k, v in codes.items()]
                lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
