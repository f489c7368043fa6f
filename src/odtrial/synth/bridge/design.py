"""The BRIDGE trial's fixed design: sites, localities, visits, vocabularies and tables.

The tables are declared once here (:data:`TABLES`): the generator fills them, the
writers render them and :mod:`odtrial.synth.bridge.toml` writes the same declaration
into ``trial.toml``, so the data and the definition cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

TRIAL_NAME: Final = "BRIDGE: collaborative care for depression in primary care (synthetic)"
REGISTRATION: Final = "none (a synthetic trial; not registered)"
ARMS: Final = ("CC", "UC")
ARM_LABELS: Final = {"CC": "Collaborative care", "UC": "Usual care"}
STRATUM_COLUMN: Final = "locality"
STRATA_LABEL: Final = "Localities (strata)"
BALANCE: Final = ("practice_size",)
BALANCE_LABELS: Final = (("practice_size", "Registered patients per practice", 0),)
FOLLOW_UP_MONTHS: Final = 24
#: Follow-up research interviews: (month, window in days either side of the due date).
VISIT_SCHEDULE: Final = ((3, 30), (12, 60), (24, 60))
MIN_AGE: Final = 18
TEST_KEY: Final = "odtrial-bridge-synthetic-test-key-not-secret"
KEY_ENV: Final = "ODTRIAL_PSEUDONYM_KEY"
RANDOMISATION_DIR: Final = "randomisation"
RANDOMISATION_INPUT: Final = "clusters.csv"
UNIT_COSTS: Final = "unit_costs.toml"  # the economic evaluation's unit costs, shipped
PRICE_INDEX: Final = "price_index.toml"  # and its price index
PHQ9_ITEMS: Final = tuple(f"q{i}" for i in range(1, 10))
PHQ9_ITEM_LABELS: Final = (
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself",
    "Trouble concentrating on things",
    "Moving or speaking slowly, or being fidgety or restless",
    "Thoughts that you would be better off dead or of hurting yourself",
)


@dataclass(frozen=True)
class Site:
    """A participating NHS organisation (a ``[[trusts]]`` entry)."""

    id: str
    name: str
    directory: str


@dataclass(frozen=True)
class Locality:
    """A randomisation stratum: four GP practices, allocated two to each arm."""

    id: str
    site: str
    name: str
    ods_prefix: str  # first three characters of its practices' (synthetic) ODS codes
    effect: float  # stratum difference on the PHQ-9 scale (points)
    ad_effect: float  # stratum difference in antidepressant prescribing (log odds)


SITES: Final = (
    Site("GM", "NHS Greater Manchester Integrated Care Board", "greater_manchester"),
    Site(
        "BNSSG",
        "NHS Bristol, North Somerset and South Gloucestershire Integrated Care Board",
        "bristol",
    ),
    Site("NENC", "NHS North East and North Cumbria Integrated Care Board", "north_east"),
)
LOCALITIES: Final = (
    Locality("GM-MAN", "GM", "Manchester", "P84", 0.0, 0.0),
    Locality("GM-SAL", "GM", "Salford", "P87", 0.5, 0.1),
    Locality("BNSSG-BRI", "BNSSG", "Bristol", "L81", -0.5, -0.1),
    Locality("BNSSG-NS", "BNSSG", "North Somerset", "L84", 0.3, 0.2),
    Locality("NENC-NCL", "NENC", "Newcastle", "A86", 0.8, 0.0),
    Locality("NENC-GAT", "NENC", "Gateshead", "A85", -0.2, -0.2),
)
CLUSTERS_PER_LOCALITY: Final = 4

VOCABULARIES: Final = {
    "gender": ("woman", "man", "non_binary", "not_stated"),
    "ethnic_group": ("white", "mixed", "asian", "black", "other", "not_stated"),
    "interview_mode": ("telephone", "video", "in_person"),
    # primary-care contacts costed by the economic evaluation (table contacts)
    "primary_care_service": (
        "gp_surgery",
        "gp_telephone",
        "practice_nurse",
        "psychological_therapy",
        "case_manager",
    ),
}


@dataclass(frozen=True)
class Field:
    """A declared field (``fields = [...]`` of a ``[tables.*]`` entry)."""

    name: str
    type: str
    required: bool = True
    vocabulary: str | None = None
    min: int | None = None
    max: int | None = None
    unit: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Table:
    """A declared table; ``roles`` are its keys naming fields (key, link, date, visit...)."""

    name: str
    description: str
    roles: dict[str, str]
    fields: tuple[Field, ...]
    rules: tuple[dict[str, Any], ...] = ()

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


PARTICIPANTS: Final = Table(
    "participants",
    "Baseline research interview of each consented participant",
    {
        "key": "record_id",
        "consent_date": "consent_date",
        "cluster": "cluster_id",
        "date_of_birth": "date_of_birth",
    },
    (
        Field("record_id", "string", label="Study record id"),
        Field(
            "nhs_number",
            "nhs_number",
            required=False,
            label="NHS number (for linkage to GP prescribing)",
        ),
        Field("date_of_birth", "date"),
        Field("gender", "code", vocabulary="gender"),
        Field("ethnic_group", "code", vocabulary="ethnic_group", required=False),
        Field("cluster_id", "string", label="GP practice (cluster) that recruited"),
        Field("consent_date", "date"),
        Field("phq9_baseline", "integer", min=0, max=27, label="PHQ-9 score at baseline"),
        Field(
            "prior_antidepressant",
            "boolean",
            label="Antidepressant in the 3 months before consent",
        ),
    ),
)
PHQ9: Final = Table(
    "phq9",
    "PHQ-9 at the follow-up research interviews",
    {"link": "record_id", "date": "completed_on", "visit": "timepoint"},
    (
        Field("record_id", "string"),
        Field("timepoint", "visit"),
        Field("completed_on", "date"),
        Field("mode", "code", vocabulary="interview_mode"),
        *(
            Field(q, "integer", required=False, min=0, max=3, label=lab)
            for q, lab in zip(PHQ9_ITEMS, PHQ9_ITEM_LABELS, strict=True)
        ),
    ),
    ({"kind": "one_per_visit", "severity": "warning"},),
)
SCRIPTS: Final = Table(
    "scripts",
    "Prescriptions issued in primary care (GP record extract), linked by NHS number",
    {"link": "nhs_number", "date": "issue_date"},
    (
        Field("nhs_number", "nhs_number"),
        Field("drug", "drug"),
        Field("daily_dose_mg", "number", unit="mg"),
        Field("issue_date", "date"),
        Field("supply_end", "date", required=False, label="Last day of the supply issued"),
    ),
    (
        {"kind": "dose", "drug": "drug", "dose": "daily_dose_mg"},
        {
            "kind": "date_order",
            "earlier": "issue_date",
            "later": "supply_end",
            "code": "supply_end_before_issue",
        },
    ),
)
#: EQ-5D-5L dimensions, in the instrument's order.
EQ5D_FIELDS: Final = (
    "mobility",
    "self_care",
    "usual_activities",
    "pain_discomfort",
    "anxiety_depression",
)
EQ5D_LABELS: Final = (
    "mobility",
    "self-care",
    "usual activities",
    "pain/discomfort",
    "anxiety/depression",
)
#: EQ-5D-5L questionnaires: at the baseline interview (month 0) and each follow-up one.
EQ5D_MONTHS: Final = (0, *(m for m, _ in VISIT_SCHEDULE))
EQ5D: Final = Table(
    "eq5d",
    "EQ-5D-5L at the baseline (month 0) and follow-up research interviews",
    # no date role: the last interview may be held after 24 months (within its window),
    # and only a table with a visit field gets follow-up extended to its windows' close
    {"link": "record_id"},
    (
        Field("record_id", "string"),
        # 0 (baseline) is not a scheduled follow-up visit, so the month is a number
        Field("month", "integer", min=0, max=FOLLOW_UP_MONTHS, label="Months after consent"),
        Field("completed_on", "date"),
        *(
            Field(f, "integer", required=False, min=1, max=5, label=f"EQ-5D-5L {lab}")
            for f, lab in zip(EQ5D_FIELDS, EQ5D_LABELS, strict=True)
        ),
    ),
)
CONTACTS: Final = Table(
    "contacts",
    "Primary-care contacts from the practice record (GP, practice nurse, psychological "
    "therapy, collaborative care case manager), linked by NHS number",
    {"link": "nhs_number", "date": "contact_date"},
    (
        Field("nhs_number", "nhs_number"),
        Field("contact_date", "date"),
        Field("service", "code", vocabulary="primary_care_service"),
    ),
)
TABLES: Final = {t.name: t for t in (PARTICIPANTS, PHQ9, SCRIPTS, EQ5D, CONTACTS)}
#: The economic evaluation's tables: drawn after the faults from their own random stream.
ECON_TABLES: Final = ("eq5d", "contacts")
#: The date that orders each table's rows in its files.
SORT_DATE: Final = {
    "participants": "consent_date",
    "phq9": "completed_on",
    "scripts": "issue_date",
    "eq5d": "completed_on",
    "contacts": "contact_date",
}


@dataclass(frozen=True)
class Extract:
    """How one site writes one table.

    ``render`` maps a coded field's canonical values to the source values written (the
    definition's ``codes`` are its inverse); ``value_labels`` are SPSS labels of the
    source values (read instead of the codes when ``use_value_labels``); ``extra`` are
    unmapped source columns written with a fixed value (REDCap's bookkeeping columns);
    ``constants`` are fields the site does not collect.
    """

    format: str  # csv | excel | sav
    file: str
    pattern: str
    columns: dict[str, str]  # field -> source column
    render: dict[str, dict[Any, Any]] = field(default_factory=dict)
    oov: dict[str, Any] = field(default_factory=dict)  # coded field -> unmapped source value
    value_labels: dict[str, dict[int, str]] = field(default_factory=dict)
    use_value_labels: bool = False
    constants: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    encoding: str = "utf-8"
    bom: bool = False
    delimiter: str = ","
    line_terminator: str = "\n"
    date_format: str = "native"
    drug_case: str = "lower"  # lower | upper | title
    drug_brands: dict[str, str] = field(default_factory=dict)  # brand -> generic
    brand_codes: bool = True  # False: brands left to the medication dictionary to resolve

    @property
    def text(self) -> bool:
        return self.format == "csv"

    def codes(self, fld: str) -> dict[str, Any]:
        """Source text -> canonical value (the definition's ``codes.<field>``)."""
        if fld == "drug":
            return dict(self.drug_brands) if self.brand_codes else {}
        out: dict[str, Any] = {}
        labels = self.value_labels.get(fld) if self.use_value_labels else None
        for canon, src in self.render[fld].items():
            out[labels[src] if labels is not None else str(src)] = canon
        return out


_GENDER_NUM: Final = {"woman": 1, "man": 2, "non_binary": 3, "not_stated": 4}
_ETHNIC_NUM: Final = {e: i + 1 for i, e in enumerate(VOCABULARIES["ethnic_group"])}
_MODE_NUM: Final = {"telephone": 1, "video": 2, "in_person": 3}
_VISIT_MONTHS: Final = tuple(m for m, _ in VISIT_SCHEDULE)


def _text_codes(mapping: dict[Any, int]) -> dict[Any, str]:
    return {k: str(v) for k, v in mapping.items()}


def extracts(stamp: str, compact: str) -> dict[str, dict[str, Extract]]:
    """Each site's extracts (site id -> table -> :class:`Extract`). ``stamp``/``compact``:
    the extract date as YYYY-MM-DD / YYYYMMDD (it is in the file names)."""
    items = {q: f"phq9_{q[1:]}" for q in PHQ9_ITEMS}
    redcap_visits = {m: f"month_{m}_arm_1" for m in _VISIT_MONTHS}
    gm = {
        # REDCap export: raw coded values, UTF-8 with a byte order mark, event names,
        # bookkeeping columns the definition does not map.
        "participants": Extract(
            "csv",
            f"BRIDGE-Baseline_DATA_{stamp}_0900.csv",
            "BRIDGE-Baseline_DATA_*.csv",
            {
                "record_id": "record_id",
                "nhs_number": "nhs_no",
                "date_of_birth": "dob",
                "gender": "gender",
                "ethnic_group": "ethnicity",
                "cluster_id": "practice_code",
                "consent_date": "consent_date",
                "phq9_baseline": "phq9_bl_total",
                "prior_antidepressant": "ad_prior3m",
            },
            render={
                "gender": _text_codes(_GENDER_NUM),
                "ethnic_group": _text_codes(_ETHNIC_NUM),
                "prior_antidepressant": {True: "1", False: "0"},
            },
            oov={"gender": "5", "ethnic_group": "9"},
            extra={"redcap_event_name": "baseline_arm_1", "baseline_complete": "2"},
            bom=True,
            date_format="%Y-%m-%d",
        ),
        "phq9": Extract(
            "csv",
            f"BRIDGE-FollowUp_DATA_{stamp}_0900.csv",
            "BRIDGE-FollowUp_DATA_*.csv",
            {
                "record_id": "record_id",
                "timepoint": "redcap_event_name",
                "completed_on": "phq9_date",
                "mode": "phq9_mode",
                **items,
            },
            render={"timepoint": redcap_visits, "mode": _text_codes(_MODE_NUM)},
            oov={"mode": "4"},
            extra={"phq9_complete": "2"},
            bom=True,
            date_format="%Y-%m-%d",
        ),
        # The practices' prescribing, extracted from the GP system: another dialect.
        "scripts": Extract(
            "csv",
            f"GM_GP_prescribing_{compact}.csv",
            "GM_GP_prescribing_*.csv",
            {
                "nhs_number": "NHS Number",
                "drug": "Drug Name",
                "daily_dose_mg": "Daily Dose (mg)",
                "issue_date": "Issue Date",
                "supply_end": "Supply End Date",
            },
            encoding="cp1252",
            line_terminator="\r\n",
            date_format="%d/%m/%Y",
            drug_case="title",
            drug_brands={"Lustral": "sertraline", "Cipramil": "citalopram", "Prozac": "fluoxetine"},
        ),
        "eq5d": Extract(
            "csv",
            f"BRIDGE-EQ5D_DATA_{stamp}_0900.csv",
            "BRIDGE-EQ5D_DATA_*.csv",
            {
                "record_id": "record_id",
                "month": "eq5d_month",
                "completed_on": "eq5d_date",
                **{f: f"eq5d5l_{f[:2]}" for f in EQ5D_FIELDS},
            },
            extra={"eq5d_5l_complete": "2"},
            bom=True,
            date_format="%Y-%m-%d",
        ),
        "contacts": Extract(
            "csv",
            f"GM_GP_consultations_{compact}.csv",
            "GM_GP_consultations_*.csv",
            {
                "nhs_number": "NHS Number",
                "contact_date": "Consultation Date",
                "service": "Consultation Type",
            },
            render={
                "service": {
                    "gp_surgery": "GP Surgery",
                    "gp_telephone": "GP Telephone",
                    "practice_nurse": "Practice Nurse",
                    "psychological_therapy": "Talking Therapies",
                    "case_manager": "Care Manager",
                }
            },
            encoding="cp1252",
            line_terminator="\r\n",
            date_format="%d/%m/%Y",
        ),
    }
    bnssg = {
        "participants": Extract(
            "excel",
            f"bnssg_bridge_participants_{compact}.xlsx",
            "bnssg_bridge_participants_*.xlsx",
            {
                "record_id": "Study ID",
                "nhs_number": "NHS Number",
                "date_of_birth": "Date of Birth",
                "gender": "Gender",
                "ethnic_group": "Ethnic Group",
                "cluster_id": "Practice Code",
                "consent_date": "Consent Date",
                "phq9_baseline": "PHQ-9 Baseline",
                "prior_antidepressant": "Antidepressant at baseline",
            },
            render={
                "gender": {
                    "woman": "Female",
                    "man": "Male",
                    "non_binary": "Non-binary",
                    "not_stated": "Prefer not to say",
                },
                "ethnic_group": {
                    "white": "White",
                    "mixed": "Mixed",
                    "asian": "Asian or Asian British",
                    "black": "Black or Black British",
                    "other": "Other ethnic group",
                    "not_stated": "Not stated",
                },
                "prior_antidepressant": {True: "Yes", False: "No"},
            },
            oov={"gender": "Unknown", "ethnic_group": "Gypsy or Traveller"},
        ),
        # Interviews by telephone only: the mode is not recorded, it is a constant.
        "phq9": Extract(
            "excel",
            f"bnssg_bridge_phq9_{compact}.xlsx",
            "bnssg_bridge_phq9_*.xlsx",
            {
                "record_id": "Study ID",
                "timepoint": "Timepoint",
                "completed_on": "Date Completed",
                **{q: q.upper() for q in PHQ9_ITEMS},
            },
            render={"timepoint": {m: f"{m} months" for m in _VISIT_MONTHS}},
            constants={"mode": "telephone"},
        ),
        "scripts": Extract(
            "excel",
            f"bnssg_bridge_scripts_{compact}.xlsx",
            "bnssg_bridge_scripts_*.xlsx",
            {
                "nhs_number": "NHS Number",
                "drug": "Medication",
                "daily_dose_mg": "Dose mg/day",
                "issue_date": "Issued",
                "supply_end": "Supply Ends",
            },
            drug_case="upper",
            drug_brands={"ZISPIN": "mirtazapine", "CIPRALEX": "escitalopram"},
            brand_codes=False,
        ),
        "eq5d": Extract(
            "excel",
            f"bnssg_bridge_eq5d_{compact}.xlsx",
            "bnssg_bridge_eq5d_*.xlsx",
            {
                "record_id": "Study ID",
                "month": "Month",
                "completed_on": "Date Completed",
                **{
                    f: f"EQ-5D {lab.title()}"
                    for f, lab in zip(EQ5D_FIELDS, EQ5D_LABELS, strict=True)
                },
            },
        ),
        "contacts": Extract(
            "excel",
            f"bnssg_bridge_contacts_{compact}.xlsx",
            "bnssg_bridge_contacts_*.xlsx",
            {"nhs_number": "NHS Number", "contact_date": "Date", "service": "Staff Group"},
            render={
                "service": {
                    "gp_surgery": "GP (face to face)",
                    "gp_telephone": "GP (telephone)",
                    "practice_nurse": "Nurse",
                    "psychological_therapy": "IAPT",
                    "case_manager": "Case Manager",
                }
            },
        ),
    }
    gender_labels = {1: "Woman", 2: "Man", 3: "Non-binary", 4: "Not stated"}
    # NENC sends no prescribing: its participants' medication outcomes are not collected.
    nenc = {
        "participants": Extract(
            "sav",
            f"NENC_BRIDGE_baseline_{compact}.sav",
            "NENC_BRIDGE_baseline_*.sav",
            {
                "record_id": "studyid",
                "nhs_number": "nhsnum",
                "date_of_birth": "dob",
                "gender": "gender",
                "ethnic_group": "ethnic",
                "cluster_id": "gpcode",
                "consent_date": "consdt",
                "phq9_baseline": "phq9bl",
                "prior_antidepressant": "adprior",
            },
            render={
                "gender": dict(_GENDER_NUM),
                "ethnic_group": dict(_ETHNIC_NUM),
                "prior_antidepressant": {True: 1, False: 0},
            },
            oov={"gender": 9, "ethnic_group": 99},
            value_labels={
                "gender": gender_labels,
                "ethnic_group": {
                    v: k.replace("_", " ").capitalize() for k, v in _ETHNIC_NUM.items()
                },
                "prior_antidepressant": {1: "Yes", 0: "No"},
            },
            use_value_labels=False,
        ),
        "phq9": Extract(
            "sav",
            f"NENC_BRIDGE_phq9_{compact}.sav",
            "NENC_BRIDGE_phq9_*.sav",
            {
                "record_id": "studyid",
                "timepoint": "tpoint",
                "completed_on": "phqdate",
                "mode": "mode",
                **{q: f"phq{q[1:]}" for q in PHQ9_ITEMS},
            },
            render={"timepoint": {m: m for m in _VISIT_MONTHS}, "mode": dict(_MODE_NUM)},
            oov={"mode": 9},
            value_labels={
                "timepoint": {m: f"Month {m}" for m in _VISIT_MONTHS},
                "mode": {1: "Telephone", 2: "Video call", 3: "Face to face"},
            },
            use_value_labels=True,
        ),
        # NENC sends no practice records at all: its service use is not collected either.
        "eq5d": Extract(
            "sav",
            f"NENC_BRIDGE_eq5d_{compact}.sav",
            "NENC_BRIDGE_eq5d_*.sav",
            {
                "record_id": "studyid",
                "month": "eqmonth",
                "completed_on": "eqdate",
                **{f: f"eq{f[:3]}" for f in EQ5D_FIELDS},
            },
        ),
    }
    return {"GM": gm, "BNSSG": bnssg, "NENC": nenc}
