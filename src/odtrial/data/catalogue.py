"""The catalogue of validation rules: code, severity, what it means.

Errors quarantine the row (with the rule code as reason); warnings keep the
row and raise a query. The synthetic trial generator names each injected
fault by the rule code that must find it, so this is the one list both sides
share.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal

import pandas as pd

if TYPE_CHECKING:
    from odtrial.trial import Trial

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
            Rule(
                "missing_value",
                "error",
                "a required field is empty (or a field required by its condition, required_if)",
            ),
            Rule(
                "unchecked_requirement",
                "warning",
                "a field required under a condition odtrial cannot evaluate "
                "(required_if_unchecked) is empty: check it by hand",
            ),
            Rule(
                "unmatched_row",
                "error",
                "a row of a file whose extracts select their rows (where) that no extract "
                "takes: a site, event or kind of record the trial definition does not know",
            ),
            Rule(
                "empty_record",
                "error",
                "a row selected by extracts (where) that holds no value in the columns of "
                "any of them (filled): no table has a record in it",
            ),
            Rule("invalid_value", "error", "a value cannot be read as its type (number, date)"),
            # identity
            Rule("duplicate_record", "error", "record repeats an earlier record of the same table"),
            Rule(
                "nhs_number_invalid",
                "error",
                "NHS number is not 10 digits or fails the Modulus 11 check",
            ),
            Rule(
                "unlinkable_identifier",
                "warning",
                "an optional NHS number that is not the participant key fails its check; "
                "the participant is kept, but records linked by it cannot be",
            ),
            Rule(
                "unknown_participant",
                "error",
                "record whose participant identifier names no accepted participant",
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
                "drug name not in the medication dictionary; kept, its dose equivalents unknown",
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
                "under_min_age",
                "warning",
                "participant under the trial's minimum age at consent; kept as randomised",
            ),
            Rule("out_of_range", "error", "value below the field's minimum or above its maximum"),
            Rule("date_before_consent", "warning", "event dated before the participant's consent"),
            Rule(
                "date_after_follow_up",
                "warning",
                "event dated after the end of the participant's follow-up",
            ),
            # generic kinds a table configures (RULE_KINDS); a trial may name its own codes
            Rule("date_order", "error", "a date is before the date it must follow"),
            Rule("overlap", "warning", "an interval overlaps another of the same participant"),
            Rule("duplicate_visit", "warning", "more than one record of a participant at a visit"),
            Rule("duplicate_key", "error", "record repeats the key of an earlier record"),
            Rule("unknown_reference", "error", "value not found in the table it refers to"),
            Rule(
                "visit_out_of_window",
                "warning",
                "follow-up assessment outside its visit's window around its scheduled date",
            ),
        )
    }
)


@dataclass(frozen=True)
class RuleKind:
    """A generic rule a table configures (``rules = [{kind = ..., ...}]``)."""

    code: str  # default rule code of its queries
    required: tuple[str, ...]  # parameters
    optional: tuple[str, ...] = ()


#: Rule kinds, by name: default code and parameters (besides ``code``, ``severity``,
#: ``description``). ``dose`` also raises ``unknown_drug`` warnings.
RULE_KINDS: Final = MappingProxyType(
    {
        "date_order": RuleKind("date_order", ("earlier", "later")),
        "no_overlap": RuleKind("overlap", ("start", "end")),
        "one_per_visit": RuleKind("duplicate_visit", ()),
        "unique": RuleKind("duplicate_key", ("fields",)),
        "foreign_key": RuleKind("unknown_reference", ("field", "table", "column")),
        "dose": RuleKind("implausible_dose", ("drug", "dose")),
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


def trial_rules(trial: Trial) -> dict[str, Rule]:
    """Every rule code a trial's validation can raise: the built-in ones and the
    codes its tables' configured rules name (with their severity), by code."""
    out = dict(RULES)
    for spec in trial.tables.values():
        for r in spec.rules:
            desc = (
                str(r.params.get("description") or "")
                or RULES.get(r.code, RULES[RULE_KINDS[r.kind].code]).description
            )
            out[r.code] = Rule(r.code, r.severity, desc)
    return out
