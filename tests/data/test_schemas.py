"""Pandera schemas of the mapped tables and the conversion of their failures
into the tidy failures table (rule codes, values, messages)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from odtrial.data.canonical import PROVENANCE
from odtrial.data.schemas import (
    HIT_COLUMNS,
    as_text,
    coerce_mapped,
    field_dtype,
    mapped_schema,
    schema_failures,
)
from odtrial.synth.tables import ECONOMICS_TABLES, table_specs
from odtrial.trial import Trial, load_trial

_SPECS = table_specs()
MAPPED = {t: s.fields for t, s in _SPECS.items()}
# the clinical tables the test kit writes (not the health economics')
SITE_TABLES = tuple(t for t in _SPECS if t not in ECONOMICS_TABLES)


_SHIPPED = Path(__file__).resolve().parents[2] / "data" / "synthetic" / "trial.toml"


@functools.cache
def _trial() -> Trial:
    """The shipped synthetic trial (its vocabularies and visits; the same tables)."""
    return load_trial(_SHIPPED)


@pytest.mark.parametrize("table", SITE_TABLES)
def test_schema_lists_provenance_and_every_mapped_field(table: str) -> None:
    schema = mapped_schema(_SPECS[table], _trial())
    assert list(schema.columns) == [*PROVENANCE, *(f.name for f in MAPPED[table])]
    for f in MAPPED[table]:
        assert schema.columns[f.name].nullable is (not f.required)


@pytest.mark.parametrize("table", SITE_TABLES)
def test_clean_frames_pass_their_schema(table: str, vkit: Any) -> None:
    frame, hits = coerce_mapped(vkit.clean_mapped()[table], _SPECS[table])
    assert len(hits) == 0
    assert len(schema_failures(frame, _SPECS[table], _trial())) == 0
    for f in MAPPED[table]:
        assert str(frame[f.name].dtype) == str(pd.Series([], dtype=field_dtype(f)).dtype)


def test_schema_failures_map_to_rule_codes(vkit: Any) -> None:
    p = vkit.clean_mapped()["participants"]
    p.loc[0, "sex"] = "M"  # not canonical
    p.loc[1, "diagnosis"] = pd.NA  # required
    p.loc[2, "ethnicity"] = pd.NA  # optional: fine
    p.loc[3, "baseline_work_study"] = pd.NA
    p.loc[4, "ethnicity"] = "X"
    frame, _ = coerce_mapped(p, _SPECS["participants"])
    h = schema_failures(frame, _SPECS["participants"], _trial())
    assert list(h.columns) == list(HIT_COLUMNS)
    got = sorted(zip(h["row"], h["field"], h["rule"], h["value"], strict=True))
    assert got == [
        (0, "sex", "out_of_vocabulary", "M"),
        (1, "diagnosis", "missing_value", ""),
        (3, "baseline_work_study", "missing_value", ""),
        (4, "ethnicity", "out_of_vocabulary", "X"),
    ]
    msgs = dict(zip(h["row"], h["message"], strict=True))
    assert msgs[0] == "sex 'M' is not in the vocabulary (female, male, other)"
    assert msgs[1] == "required field diagnosis is empty"


def test_visit_month_and_dose_checks(vkit: Any) -> None:
    fu = vkit.clean_mapped()["followup"]
    fu.loc[2, "visit_month"] = 6
    frame, _ = coerce_mapped(fu, _SPECS["followup"])
    h = schema_failures(frame, _SPECS["followup"], _trial())
    assert h[["row", "field", "rule", "value"]].values.tolist() == [
        [2, "visit_month", "out_of_vocabulary", "6"]
    ]
    rx = vkit.clean_mapped()["prescriptions"]
    rx.loc[1, "daily_dose_mg"] = -2.5
    rx.loc[2, "daily_dose_mg"] = np.nan
    rx.loc[3, "drug"] = "not a drug"  # drugs are not vocabulary-checked (unknown_drug)
    frame, _ = coerce_mapped(rx, _SPECS["prescriptions"])
    h = schema_failures(frame, _SPECS["prescriptions"], _trial())
    got = sorted(zip(h["row"], h["rule"], h["value"], h["message"], strict=True))
    # a dose not above zero is the dose rule's (odtrial.data.rules), not the schema's
    assert got == [
        (2, "missing_value", "", "required field daily_dose_mg is empty"),
    ]


def test_coerce_adds_absent_optional_field_as_missing(vkit: Any) -> None:
    a = vkit.clean_mapped()["admissions"].drop(columns="discharge_date")
    frame, hits = coerce_mapped(a, _SPECS["admissions"])
    assert len(hits) == 0
    assert frame["discharge_date"].isna().all()
    assert frame["discharge_date"].dtype.kind == "M"
    assert len(schema_failures(frame, _SPECS["admissions"], _trial())) == 0


def test_coerce_absent_required_field_fails_missing_value(vkit: Any) -> None:
    c = vkit.clean_mapped()["crisis_referrals"].drop(columns="referral_date")
    frame, _ = coerce_mapped(c, _SPECS["crisis_referrals"])
    h = schema_failures(frame, _SPECS["crisis_referrals"], _trial())
    assert set(h["rule"]) == {"missing_value"} and len(h) == len(c)


def test_coerce_reports_unreadable_cells_as_invalid_value(vkit: Any) -> None:
    rx = vkit.clean_mapped()["prescriptions"]
    rx["daily_dose_mg"] = pd.Series(["10", "abc", None, "2.5", "1e3", "x", "7", "8"], dtype=object)
    rx["start_date"] = pd.Series(
        [
            "2023-01-13",
            "2024-02-31",
            "2023-01-15",
            None,
            "garbage",
            "2023-01-18",
            "2023-01-19",
            "2023-01-20",
        ],
        dtype=object,
    )
    frame, hits = coerce_mapped(rx, _SPECS["prescriptions"])
    assert frame["daily_dose_mg"].dtype == np.float64
    np.testing.assert_array_equal(
        frame["daily_dose_mg"].to_numpy(), [10.0, np.nan, np.nan, 2.5, 1000.0, np.nan, 7.0, 8.0]
    )
    got = sorted(zip(hits["row"], hits["field"], hits["value"], hits["rule"], strict=True))
    assert got == [
        (1, "daily_dose_mg", "abc", "invalid_value"),
        (1, "start_date", "2024-02-31", "invalid_value"),
        (4, "start_date", "garbage", "invalid_value"),
        (5, "daily_dose_mg", "x", "invalid_value"),
    ]
    msg = hits.loc[(hits["row"] == 1) & (hits["field"] == "start_date"), "message"].item()
    assert msg == "start_date '2024-02-31' cannot be read as a date"


def test_coerce_whole_numbers_and_yes_no() -> None:
    fu = pd.DataFrame(
        {
            "trust": ["T1"] * 4,
            "source_file": ["t1/f.csv"] * 4,
            "source_row": [1, 2, 3, 4],
            "nhs_number": [9434765919, None, "x", 1.5],  # anything becomes text
            "visit_month": [12.0, 12.5, None, 24.0],
            "assessment_date": pd.to_datetime(["2024-01-01"] * 4),
            "work_study": ["true", "maybe", None, "0"],
        }
    )
    frame, hits = coerce_mapped(fu, _SPECS["followup"])
    assert frame["visit_month"].tolist()[0] == 12 and frame["visit_month"].iloc[3] == 24
    assert frame["nhs_number"].tolist()[0] == "9434765919"
    assert frame["work_study"].tolist()[0] is True and frame["work_study"].iloc[3] is np.False_
    got = sorted(zip(hits["row"], hits["field"], hits["message"], strict=True))
    assert got == [
        (1, "visit_month", "visit_month '12.5' cannot be read as a whole number"),
        (1, "work_study", "work_study 'maybe' cannot be read as yes/no"),
    ]


def test_coerce_needs_provenance(vkit: Any) -> None:
    c = vkit.clean_mapped()["crisis_referrals"].drop(columns="source_row")
    with pytest.raises(ValueError, match="mapped crisis_referrals frame has no provenance column"):
        coerce_mapped(c, _SPECS["crisis_referrals"])


def test_as_text() -> None:
    assert as_text(pd.Series([1.0, 2.5, np.nan, -0.0])).tolist() == ["1", "2.5", "", "-0"]
    d = pd.Series(pd.to_datetime(["2024-03-01", None]))
    assert as_text(d).tolist() == ["2024-03-01", ""]
    assert as_text(pd.Series(pd.to_datetime(["2024-03-01 10:30"]))).tolist() == [
        "2024-03-01 10:30:00"
    ]
    assert as_text(pd.Series([True, None], dtype="boolean")).tolist() == ["True", ""]


def test_coerce_dates_of_any_resolution(vkit: Any) -> None:
    from odtrial.data.validate import validate

    m = vkit.clean_mapped()
    c = m["crisis_referrals"]
    days = ["2023-04-24", "3000-01-01", "-300000-01-01", *["2023-05-01"] * 5]
    c["referral_date"] = pd.Series(np.array(days, dtype="datetime64[s]"))
    frame, hits = coerce_mapped(c, _SPECS["crisis_referrals"])
    assert str(frame["referral_date"].dtype) == "datetime64[us]"
    # Beyond what microseconds hold: unreadable (and then missing).
    assert hits[["row", "rule"]].values.tolist() == [[2, "invalid_value"]]
    f = validate(m, vkit.make_trial())
    got = sorted(zip(f["source_row"], f["rule"], f["value"], strict=True))
    assert got == [
        (2, "impossible_date", "3000-01-01"),
        (3, "invalid_value", "-300000-01-01"),  # not also missing_value
    ]
