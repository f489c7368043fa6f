"""The synthetic POD trial's tables and vocabularies, as its trial.toml declares them.

The generator writes this text into ``trial.toml``; ingest reads the tables from
there (nothing about them lives in the package outside ``synth/``).
"""

from __future__ import annotations

import tomllib
from typing import Any, Final

from odtrial.data.canonical import TableSpec

# NHS ethnic category (Data Dictionary "ETHNIC CATEGORY"): letters plus 99 not known.
ETHNICITY: Final = (
    "A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "R", "S", "Z", "99",
)  # fmt: skip
SEX: Final = ("female", "male", "other")
# Primary diagnosis, grouped by ICD-10 block.
DIAGNOSIS: Final = ("psychosis", "bipolar", "depression", "anxiety", "personality", "other")
# MHSDS LegalStatusCode, simplified: informal, MHA section 2, section 3, section 136, other.
LEGAL_STATUS: Final = ("informal", "section_2", "section_3", "section_136", "other_detention")

# The baseline table shows NHS ethnic categories grouped as the ONS 2001 census groups.
ETHNIC_GROUPS: Final = (
    ("White", ("A", "B", "C")),
    ("Mixed", ("D", "E", "F", "G")),
    ("Asian or Asian British", ("H", "J", "K", "L")),
    ("Black or Black British", ("M", "N", "P")),
    ("Other ethnic group", ("R", "S")),
    ("Not stated or not known", ("Z", "99")),
)

#: Fields holding a date, in any table.
DATE_FIELDS: Final = frozenset(
    {
        "date_of_birth",
        "consent_date",
        "assessment_date",
        "admission_date",
        "discharge_date",
        "referral_date",
        "start_date",
        "end_date",
        "contact_date",
    }
)
#: Integer fields written as numbers (empty when missing): the EQ-5D-5L responses.
EQ5D_FIELDS: Final = (
    "mobility",
    "self_care",
    "usual_activities",
    "pain_discomfort",
    "anxiety_depression",
)
INTEGER_FIELDS: Final = frozenset({"month", *EQ5D_FIELDS})
#: The EQ-5D visits (months after consent): baseline and the follow-up visits.
EQ5D_MONTHS: Final = (0, 12, 24)
#: The tables of service use and quality of life the health economics read (drawn
#: after, and apart from, the clinical tables).
ECONOMICS_TABLES: Final = ("eq5d", "community_contacts")
#: Community services whose contacts are recorded (community_contacts.service).
SERVICES: Final = ("gp", "cmht")


def _list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


TABLES_TOML: Final = f"""\
[vocabularies]
# The trial's code lists: each site's codes are mapped onto these in [extracts].
sex = {_list(SEX)}
ethnicity = {_list(ETHNICITY)}
diagnosis = {_list(DIAGNOSIS)}
legal_status = {_list(LEGAL_STATUS)}

# The tables every site sends, their fields, and how they link to a participant.
[tables.participants]
description = "Baseline record of each consented participant"
key = "nhs_number"
consent_date = "consent_date"
cluster = "cluster_id"
date_of_birth = "date_of_birth"
practice = "gp_practice"
fields = [
  {{ name = "nhs_number", type = "nhs_number" }},
  {{ name = "date_of_birth", type = "date" }},
  {{ name = "sex", type = "code", vocabulary = "sex" }},
  {{ name = "ethnicity", type = "code", vocabulary = "ethnicity", required = false }},
  {{ name = "diagnosis", type = "code", vocabulary = "diagnosis" }},
  {{ name = "gp_practice", type = "string" }},
  {{ name = "cluster_id", type = "string" }},
  {{ name = "consent_date", type = "date" }},
  {{ name = "baseline_work_study", type = "boolean", label = "In work or study at baseline" }},
]

[tables.followup]
description = "Research follow-up assessments at the scheduled visits"
link = "nhs_number"
date = "assessment_date"
visit = "visit_month"
fields = [
  {{ name = "nhs_number", type = "nhs_number" }},
  {{ name = "visit_month", type = "visit" }},
  {{ name = "assessment_date", type = "date" }},
  {{ name = "work_study", type = "boolean", label = "In work or study" }},
]

[tables.admissions]
description = "Psychiatric inpatient spells"
link = "nhs_number"
date = "admission_date"
fields = [
  {{ name = "nhs_number", type = "nhs_number" }},
  {{ name = "admission_date", type = "date" }},
  # missing: still in hospital at the extract
  {{ name = "discharge_date", type = "date", required = false }},
  {{ name = "legal_status", type = "code", vocabulary = "legal_status" }},
]
rules = [
  {{ kind = "date_order", earlier = "admission_date", later = "discharge_date", code = "discharge_before_admission" }},
  {{ kind = "no_overlap", start = "admission_date", end = "discharge_date", code = "overlapping_admissions" }},
]

[tables.crisis_referrals]
description = "Referrals to crisis resolution and home treatment teams"
link = "nhs_number"
date = "referral_date"
fields = [
  {{ name = "nhs_number", type = "nhs_number" }},
  {{ name = "referral_date", type = "date" }},
]

[tables.prescriptions]
description = "Psychotropic prescriptions"
link = "nhs_number"
date = "start_date"
fields = [
  {{ name = "nhs_number", type = "nhs_number" }},
  {{ name = "drug", type = "drug" }},
  {{ name = "daily_dose_mg", type = "number", unit = "mg" }},
  {{ name = "start_date", type = "date" }},
  # missing: ongoing at the extract
  {{ name = "end_date", type = "date", required = false }},
]
rules = [
  {{ kind = "date_order", earlier = "start_date", later = "end_date", code = "end_before_start" }},
  {{ kind = "dose", drug = "drug", dose = "daily_dose_mg" }},
]

[tables.eq5d]
description = "EQ-5D-5L questionnaires at baseline (month 0) and the follow-up visits"
link = "nhs_number"
date = "assessment_date"
fields = [
  {{ name = "nhs_number", type = "nhs_number" }},
  # months after consent; 0 (baseline) is not a scheduled follow-up visit, so a number
  {{ name = "month", type = "integer", min = 0, max = 24 }},
  {{ name = "assessment_date", type = "date" }},
  {{ name = "mobility", type = "integer", required = false, min = 1, max = 5, label = "EQ-5D-5L mobility" }},
  {{ name = "self_care", type = "integer", required = false, min = 1, max = 5, label = "EQ-5D-5L self-care" }},
  {{ name = "usual_activities", type = "integer", required = false, min = 1, max = 5, label = "EQ-5D-5L usual activities" }},
  {{ name = "pain_discomfort", type = "integer", required = false, min = 1, max = 5, label = "EQ-5D-5L pain/discomfort" }},
  {{ name = "anxiety_depression", type = "integer", required = false, min = 1, max = 5, label = "EQ-5D-5L anxiety/depression" }},
]

[tables.community_contacts]
description = "Contacts with GPs and community mental health teams (service use, for costs)"
link = "nhs_number"
date = "contact_date"
fields = [
  {{ name = "nhs_number", type = "nhs_number" }},
  {{ name = "contact_date", type = "date" }},
  {{ name = "service", type = "string", label = "gp or cmht" }},
]
"""


BASELINE_TOML: Final = (
    """\
[baseline]
# The rows of the baseline table by arm, in this order, after age at consent.
variables = [
  { column = "sex", label = "Sex", kind = "categorical" },
  { column = "ethnicity", label = "Ethnic group", kind = "categorical", groups = [
"""
    + "".join(f'    {{ label = "{g}", codes = {_list(c)} }},\n' for g, c in ETHNIC_GROUPS)
    + """\
  ] },
  { column = "diagnosis", label = "Primary diagnosis", kind = "categorical", order = "frequency" },
  { column = "baseline_work_study", label = "In work or study at baseline", kind = "binary" },
]
"""
)


def tables_config() -> dict[str, Any]:
    """The ``[vocabularies]`` and ``[tables]`` parts of the trial definition, parsed
    (a raw TOML mapping, e.g. for tests that build a trial around these tables)."""
    return tomllib.loads(TABLES_TOML)


def table_specs() -> dict[str, TableSpec]:
    """The declared tables (participants first)."""
    from odtrial._toml import TomlReader
    from odtrial.trial_tables import parse_tables, parse_vocabularies

    raw = tables_config()
    top = TomlReader(raw, "", "odtrial.synth.tables")
    return parse_tables(top, parse_vocabularies(top.sub("vocabularies")))
