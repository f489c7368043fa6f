"""STEADY's design: sites, care homes, the REDCap project (dictionary, events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

TRIAL_NAME: Final = "STEADY"
ARMS: Final = ("EX", "UC")
TEST_KEY: Final = "odtrial-steady-synthetic-test-key-not-secret"
FOLLOW_UP_MONTHS: Final = 12
RECRUIT_START: Final = date(2023, 3, 1)
RECRUIT_END: Final = date(2023, 12, 31)
DATA_CUTOFF: Final = date(2025, 6, 30)
EXPORT_STAMP: Final = "2025-06-30_1200"
REDCAP_DIR: Final = "redcap"
RANDOMISATION_DIR: Final = "randomisation"
CLUSTER_TABLE: Final = "clusters.csv"
#: ``odtrial randomise`` parameters of the record (the CLI's options).
RANDOMISE: Final = {
    "id": "home_id",
    "strata": "site",
    "balance": ("beds",),
    "seed": 20230214,
    "cutoff": 0.2,
}
HOMES_PER_SITE: Final = 6


@dataclass(frozen=True)
class Site:
    """A site: its REDCap data access group and its care homes' id prefix."""

    dag: str
    prefix: str
    record_base: int


SITES: Final = (
    Site("leeds", "LDS", 1000),
    Site("nottingham", "NOT", 2000),
    Site("exeter", "EXE", 3000),
)
EVENTS: Final = ("baseline_arm_1", "month_6_arm_1", "month_12_arm_1")
DESIGNATIONS: Final = (
    ("baseline_arm_1", "enrolment"),
    ("month_6_arm_1", "follow_up"),
    ("month_6_arm_1", "fall_log"),
    ("month_12_arm_1", "follow_up"),
    ("month_12_arm_1", "fall_log"),
)
REPEATING: Final = "fall_log"

DICTIONARY_HEADER: Final = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)

SEX: Final = "1, Female | 2, Male"
ETHNICITY: Final = (
    "1, White | 2, Mixed or multiple ethnic groups | 3, Asian or Asian British | "
    "4, Black, Black British, Caribbean or African | 5, Other ethnic group | 99, Not stated"
)
AIDS: Final = "1, Walking stick | 2, Walking frame | 3, Wheelchair"
SEVERITY: Final = "1, Mild | 2, Moderate | 3, Severe"
CONCERN: Final = (
    "1, Not at all concerned | 2, Somewhat concerned | 3, Fairly concerned | 4, Very concerned"
)
FESI_ITEMS: Final = (
    "Getting dressed or undressed",
    "Taking a bath or shower",
    "Getting in or out of a chair",
    "Going up or down stairs",
    "Reaching for something above your head or on the ground",
    "Walking up or down a slope",
    "Going out to a social event",
)
FRAILTY: Final = (
    "1, Very fit | 2, Fit | 3, Managing well | 4, Living with very mild frailty | "
    "5, Living with mild frailty | 6, Living with moderate frailty | "
    "7, Living with severe frailty | 8, Living with very severe frailty | 9, Terminally ill"
)
PLACE: Final = (
    "1, Bedroom | 2, Bathroom or toilet | 3, Lounge or dining room | "
    "4, Corridor or stairs | 5, Outdoors"
)
INJURY: Final = "0, No injury | 1, Minor injury | 2, Serious injury"
ACTIONS: Final = "1, GP review | 2, Physiotherapy referral | 3, Medication review"
FRAILTY_LOGIC: Final = 'datediff([baseline_arm_1][consent_date], [fu_date], "M") >= 5'


def _f(
    name: str,
    form: str,
    ftype: str,
    label: str,
    *,
    choices: str = "",
    validation: str = "",
    lo: str = "",
    hi: str = "",
    identifier: bool = False,
    logic: str = "",
    required: bool = True,
    matrix: str = "",
    section: str = "",
    note: str = "",
) -> dict[str, str]:
    return {
        "Variable / Field Name": name,
        "Form Name": form,
        "Section Header": section,
        "Field Type": ftype,
        "Field Label": label,
        "Choices, Calculations, OR Slider Labels": choices,
        "Field Note": note,
        "Text Validation Type OR Show Slider Number": validation,
        "Text Validation Min": lo,
        "Text Validation Max": hi,
        "Identifier?": "y" if identifier else "",
        "Branching Logic (Show field only if...)": logic,
        "Required Field?": "y" if required else "",
        "Custom Alignment": "",
        "Question Number (surveys only)": "",
        "Matrix Group Name": matrix,
        "Matrix Ranking?": "",
        "Field Annotation": "",
    }


def dictionary_rows() -> list[dict[str, str]]:
    """The project's data dictionary, as REDCap's Designer downloads it."""
    e, u, f = "enrolment", "follow_up", "fall_log"
    rows = [
        _f("record_id", e, "text", "Record ID", required=False),
        _f(
            "consent_date",
            e,
            "text",
            "Date of written consent",
            validation="date_ymd",
            lo="2023-01-01",
            section="Consent",
        ),
        _f(
            "care_home",
            e,
            "text",
            "Care home ID (the trial's cluster)",
            note="As on the randomisation list, e.g. LDS-03",
        ),
        _f("first_name", e, "text", "First name", identifier=True, section="Identifiers"),
        _f("last_name", e, "text", "Last name", identifier=True),
        _f("nhs_no", e, "text", "NHS number", identifier=True, note="10 digits, no spaces"),
        _f("dob", e, "text", "Date of birth", validation="date_dmy", identifier=True),
        _f("sex", e, "radio", "Sex", choices=SEX, section="About the resident"),
        _f("ethnicity", e, "dropdown", "Ethnic group", choices=ETHNICITY, required=False),
        _f("mobility_aids", e, "checkbox", "Mobility aids used", choices=AIDS, required=False),
        _f(
            "falls_prior_year",
            e,
            "text",
            "Falls in the 12 months before consent",
            validation="integer",
            lo="0",
            hi="50",
        ),
        _f(
            "barthel_bl",
            e,
            "text",
            "Barthel index at baseline (0-20)",
            validation="integer",
            lo="0",
            hi="20",
        ),
        _f("dementia", e, "yesno", "Diagnosis of dementia"),
        _f(
            "dementia_severity",
            e,
            "radio",
            "Severity of dementia",
            choices=SEVERITY,
            logic="[dementia] = '1'",
        ),
        _f("fu_date", u, "text", "Date of the follow-up assessment", validation="date_ymd"),
        _f("barthel", u, "text", "Barthel index (0-20)", validation="integer", lo="0", hi="20"),
    ]
    for i, item in enumerate(FESI_ITEMS, start=1):
        rows.append(
            _f(
                f"fesi_{i}",
                u,
                "radio",
                item,
                choices=CONCERN,
                matrix="fesi",
                section="Short FES-I: how concerned are you about falling when..."
                if i == 1
                else "",
            )
        )
    rows += [
        _f("hosp_admission", u, "yesno", "Admitted to hospital since the last assessment"),
        _f(
            "hosp_nights",
            u,
            "text",
            "Nights in hospital",
            validation="integer",
            lo="1",
            hi="365",
            logic="[hosp_admission] = '1'",
        ),
        _f("frailty", u, "radio", "Clinical Frailty Scale", choices=FRAILTY, logic=FRAILTY_LOGIC),
        _f("fu_notes", u, "notes", "Notes", required=False),
        _f("fall_date", f, "text", "Date of the fall", validation="date_ymd"),
        _f("fall_place", f, "dropdown", "Where the fall happened", choices=PLACE),
        _f("fall_injury", f, "radio", "Injury", choices=INJURY),
        _f("fall_hospital", f, "yesno", "Taken to hospital"),
        _f(
            "fall_actions", f, "checkbox", "Actions after the fall", choices=ACTIONS, required=False
        ),
    ]
    return rows


FIRST_NAMES: Final = (
    "Agnetha", "Bartholomew", "Clementine", "Dorcas", "Ebenezer", "Florentyna", "Gwendolen",
    "Horatio", "Ignatia", "Jolyon", "Keziah", "Lysander", "Marigold", "Nathaniel", "Ottoline",
    "Peregrine", "Quintilla", "Rosamund", "Septimus", "Tabitha", "Ulrica", "Valentine",
    "Wilhelmina", "Xanthe", "Yolanda", "Zebedee",
)  # fmt: skip
LAST_NAMES: Final = (
    "Quillfeather", "Ashcombe", "Brackenridge", "Cheverell", "Dunsforth", "Elderkin",
    "Fairweather", "Gorringe", "Hollowell", "Inchbald", "Jessamy", "Kettleborough",
    "Lightbody", "Mossop", "Nettleship", "Oakenshaw", "Pennyfeather", "Quarrington",
    "Rainbird", "Shufflebotham", "Thistlethwaite", "Underhill", "Vavasour", "Winterbottom",
)  # fmt: skip
