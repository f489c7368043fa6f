"""Queries mask identifiers by what the trial declares a field to be, not by its name."""

from __future__ import annotations

import pandas as pd

from odtrial.data.canonical import Field, TableSpec
from odtrial.data.queries import IdentifierFields, build_queries

PEOPLE = TableSpec(
    name="participants",
    fields=(
        Field("study_id", "string"),
        Field("nhs_no", "string", required=False, nhs=True),
        Field("birth_dt", "date"),
        Field("surname", "string", identifier="drop"),
        Field("consented", "date"),
        Field("site_code", "string"),
    ),
    key="study_id",
    consent_date="consented",
    cluster="site_code",
    date_of_birth="birth_dt",
)
VISITS = TableSpec(
    name="visits",
    fields=(Field("study_id", "string"), Field("postcode", "string", identifier="pseudonymise")),
    link="study_id",
)


def _failures(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "table": t,
                "trust": "HUB",
                "source_file": "x.csv",
                "source_row": i + 2,
                "field": f,
                "value": v,
                "rule": "r",
                "severity": "error",
                "message": m,
            }
            for i, (t, f, v, m) in enumerate(rows)
        ]
    )


def test_identifier_fields_come_from_the_declaration() -> None:
    ids = IdentifierFields.of([PEOPLE, VISITS])
    assert ids.nhs == {("participants", "nhs_no")}
    assert ids.date_of_birth == {("participants", "birth_dt")}
    assert ids.other == {("participants", "surname"), ("visits", "postcode")}


def test_queries_mask_identifiers_whatever_their_field_names() -> None:
    fails = _failures(
        [
            (
                "participants",
                "birth_dt",
                "1963-02-14",
                "birth_dt 1963-02-14: under the minimum age",
            ),
            ("participants", "birth_dt", "31.02.1950", "'31.02.1950' is not a possible date"),
            ("participants", "nhs_no", "94347659", "'94347659' is not a valid NHS number"),
            ("participants", "surname", "Featherstonehaugh", "'Featherstonehaugh' is too long"),
            ("visits", "postcode", "BS1 4DJ", "'BS1 4DJ' is not a postcode"),
            ("visits", "study_id", "S-0042", "'S-0042' has no participant"),
        ]
    )
    q = build_queries(fails, pd.Series(["p"] * len(fails)), IdentifierFields.of([PEOPLE, VISITS]))
    text = q.to_csv(index=False)
    for raw in ("1963-02-14", "31.02.1950", "94347659", "Featherstonehaugh", "BS1 4DJ"):
        assert raw not in text
    shown = dict(zip(q["message"], q["value"], strict=True))
    assert shown["birth_dt 1963: under the minimum age"] == "1963"
    assert shown["'1950' is not a possible date"] == "1950"
    assert shown["'*** *** 7659' is not a valid NHS number"] == "*** *** 7659"
    assert shown["'****' is too long"] == "****"
    assert shown["'****' is not a postcode"] == "****"
    assert shown["'S-0042' has no participant"] == "S-0042"  # not an identifier: a study id


def test_a_row_feeding_two_tables_is_queried_once() -> None:
    row = ("visits", "study_id", "S-0042", "'S-0042' has no participant")
    fails = _failures([row, row])
    fails["source_row"] = 7  # the same records row, read for two tables
    fails.loc[1, "table"] = "participants"  # (the table is not a column of a query)
    q = build_queries(fails, pd.Series(["p", "p"]), IdentifierFields.of([PEOPLE, VISITS]))
    assert len(q) == 1 and q.loc[0, "source_row"] == 7
