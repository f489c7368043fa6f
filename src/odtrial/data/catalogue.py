"""The catalogue of validation rules: code, severity, what it means.

Errors quarantine the row (with the rule code as reason); warnings keep the
row and raise a query. The synthetic trial generator names each injected
fault by the rule code that must find it, so this is the one list both sides
share.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

import pandas as pd

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity
    description: str


RULES: Final = MappingProxyType(
    {
        r.code: r
        for r in (
            # structure
            Rule(
                "malformed_line", "error", "line has the wrong number of fields or broken quoting"
            ),
            Rule("missing_value", "error", "a required field is empty"),
            Rule("invalid_value", "error", "a value cannot be read as its type (number, date)"),
            # identity
            Rule("duplicate_record", "error", "record repeats an earlier record of the same table"),
            Rule(
                "nhs_number_invalid",
                "error",
                "NHS number is not 10 digits or fails the Modulus 11 check",
            ),
            Rule(
                "unknown_participant",
                "error",
                "event for an NHS number with no accepted participant record",
            ),
            # codes
            Rule(
                "out_of_vocabulary",
                "error",
                "code not in the trust's code mapping or the canonical vocabulary",
            ),
            Rule(
                "unknown_drug",
                "warning",
                "drug name not in the drug catalogue; kept, CPZ equivalent unknown",
            ),
            Rule(
                "implausible_dose",
                "error",
                "daily dose not above zero or above twice the BNF maximum",
            ),
            # clusters and practices
            Rule("unknown_cluster", "error", "recruiting cluster is not a cluster of the trial"),
            Rule(
                "unknown_practice",
                "error",
                "GP practice code is not a member practice of any cluster",
            ),
            Rule(
                "practice_other_arm",
                "warning",
                "registered at a practice of a cluster in the other arm; analysed as randomised",
            ),
            Rule(
                "practice_other_cluster",
                "warning",
                "registered at a practice of another cluster in the same arm; analysed as randomised",
            ),
            Rule(
                "cluster_wrong_trust",
                "error",
                "recruiting cluster belongs to another trust than the one that sent the record",
            ),
            # dates
            Rule(
                "impossible_date",
                "error",
                "date that cannot exist, or before 1900 / after the data cut-off",
            ),
            Rule(
                "age_under_18",
                "warning",
                "participant under the trial's minimum age at consent; kept as randomised",
            ),
            Rule("date_before_consent", "warning", "event dated before the participant's consent"),
            Rule(
                "date_after_follow_up",
                "warning",
                "event dated after the end of the participant's follow-up",
            ),
            Rule("discharge_before_admission", "error", "discharge date before admission date"),
            Rule("end_before_start", "error", "prescription ends before it starts"),
            Rule(
                "overlapping_admissions",
                "warning",
                "admission overlaps another admission of the same participant",
            ),
            Rule(
                "visit_out_of_window",
                "warning",
                "follow-up assessment outside its visit's window around its scheduled date",
            ),
        )
    }
)


def rule(code: str) -> Rule:
    try:
        return RULES[code]
    except KeyError:
        raise KeyError(f"unknown rule code {code!r}") from None


# Validation failures are data: one tidy row per (record, field, rule).
FAILURE_COLUMNS: Final = (
    "table", "trust", "source_file", "source_row", "field", "value", "rule", "severity", "message",
)  # fmt: skip


def empty_failures(source_row_dtype: str = "Int64") -> pd.DataFrame:
    """A failures table with no rows and the documented columns and dtypes."""
    cols = {c: pd.Series([], dtype="string") for c in FAILURE_COLUMNS}
    cols["source_row"] = pd.Series([], dtype=source_row_dtype)
    return pd.DataFrame(cols)
