"""Mapping: renaming, types, dates in every date format, code mapping, and the
row-level failures (never fatal)."""

from __future__ import annotations

import sys
import tomllib
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from odtrial.data.mapping import FAILURE_COLUMNS, as_text, map_codes, map_extract, parse_dates
from odtrial.data.nhs import is_valid_nhs_number
from odtrial.data.readers import RawExtract
from odtrial.errors import ConfigError
from odtrial.trial import ExtractSpec, Visit, parse_trial

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_sources import trial_toml

CUT = pd.Timestamp("2025-06-30")


def _dates(values, fmt, dtype=None):
    s = pd.Series(values, dtype=dtype)
    dt, bad, _ = parse_dates(s, fmt, cutoff=CUT)
    return [None if pd.isna(v) else v.strftime("%Y-%m-%d") for v in dt], bad.tolist()


def test_strftime_dates_and_impossible_ones():
    dt, bad = _dates(
        ["02/01/2024", "31/02/2024", "", None, "01/01/1899", "01/07/2025", "junk", " 5/3/2020 "],
        "%d/%m/%Y",
    )
    assert dt == ["2024-01-02", None, None, None, None, None, None, "2020-03-05"]
    assert bad == [False, True, False, False, True, True, True, False]


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        ("excel-serial", 45292.0, "2024-01-01"),
        ("excel-serial", 45292.75, "2024-01-01"),  # a time of day is dropped
        ("sas-days", 0.0, "1960-01-01"),
        ("sas-days", 23376.0, "2024-01-01"),
        ("spss-seconds", 13_923_446_400.0, "2024-01-01"),
    ],
)
def test_numeric_date_formats(fmt, value, expected):
    assert _dates([value, np.nan], fmt) == ([expected, None], [False, False])
    # the same numbers arriving as text (a CSV of serials)
    assert _dates([str(value)], fmt)[0] == [expected]


def test_numeric_dates_out_of_range_do_not_overflow():
    dt, bad = _dates([1e300, -5e12, 45292.0], "excel-serial")
    assert dt == [None, None, "2024-01-01"] and bad == [True, True, False]


def test_native_dates_datetime_column_and_mixed_excel_cells():
    s = pd.Series(pd.to_datetime(["2024-01-02 13:45", None]))
    dt, bad, _ = parse_dates(s, "native", cutoff=CUT)
    assert dt.tolist()[0] == pd.Timestamp("2024-01-02") and pd.isna(dt.iloc[1])
    assert dt.dtype == "datetime64[ns]" and not bad.any()
    mixed = [datetime(2024, 1, 2), date(2024, 1, 3), "2024-01-04", "31/12/2024", 45292, None]
    assert _dates(mixed, "native", dtype=object) == (
        ["2024-01-02", "2024-01-03", "2024-01-04", None, None, None],
        [False, False, False, True, True, False],
    )
    assert _dates(mixed, "excel-serial", dtype=object)[0][4] == "2024-01-01"


def test_as_text_numbers_like_codes():
    assert as_text(pd.Series([1.0, 2.5, np.nan, 10.0])).tolist() == ["1", "2.5", pd.NA, "10"]
    assert as_text(pd.Series([" a ", "", None], dtype=object)).tolist() == ["a", pd.NA, pd.NA]
    cat = pd.Series(pd.Categorical(["Male", 2.0, None], categories=["Male", 2.0]))
    assert as_text(cat).tolist() == ["Male", "2", pd.NA]


def _spec(table, columns, codes=None, **kw):
    return ExtractSpec(
        trust="T", table=table, pattern="*", format="csv", columns=columns, codes=codes or {}, **kw
    )


def test_codes_mapping_canonical_fallback_and_out_of_vocabulary():
    trial = _trial()
    f = trial.tables["participants"].field("sex")
    spec = _spec("participants", {}, {"sex": {"1": "male", "2": "Female"}})
    values, bad = map_codes(
        pd.Series(["1", "2", "FEMALE", "x", None], dtype="string"), f, spec, trial=trial
    )
    assert values.tolist() == ["male", "female", "female", pd.NA, pd.NA]
    assert bad.tolist() == [False, False, False, True, False]


def test_yes_no_visit_and_drug_dtypes():
    trial = _trial()
    yn = trial.tables["followup"].field("work_study")
    spec = _spec("followup", {}, {"work_study": {"J": True, "N": False}})
    v, bad = map_codes(
        pd.Series(["J", "N", "true", "maybe"], dtype="string"), yn, spec, trial=trial
    )
    assert str(v.dtype) == "boolean" and v.tolist() == [True, False, True, pd.NA]
    assert bad.tolist() == [False, False, False, True]
    visit = trial.tables["followup"].field("visit_month")
    v, bad = map_codes(pd.Series(["12", "24", "6"], dtype="string"), visit, spec, trial=trial)
    assert str(v.dtype) == "Int64" and v.tolist() == [12, 24, pd.NA] and bad.tolist() == [0, 0, 1]
    # the visit vocabulary is the trial's schedule: a 6-month visit is one where scheduled
    other = replace(trial, visits=(Visit(3, 14), Visit(6, 14), Visit(12, 30)))
    v, bad = map_codes(pd.Series(["3", "6", "12"], dtype="string"), visit, spec, trial=other)
    assert v.tolist() == [3, 6, 12] and not bad.any()
    drug = trial.tables["prescriptions"].field("drug")
    spec = _spec("prescriptions", {}, {"drug": {"Zyprexa": "olanzapine"}})
    v, bad = map_codes(
        pd.Series(["Zyprexa", " Risperidone", "Newdrug X"], dtype="string"), drug, spec, trial=trial
    )
    assert v.tolist() == ["olanzapine", "risperidone", "newdrug x"] and not bad.any()


def test_code_mapping_to_a_non_canonical_value_is_a_config_error():
    trial = _trial()
    f = trial.tables["participants"].field("sex")
    spec = _spec("participants", {}, {"sex": {"M": "man"}})
    with pytest.raises(ConfigError, match=r"codes\.sex\.M' maps to 'man'"):
        map_codes(pd.Series(["M"], dtype="string"), f, spec, trial=trial)


def _trial():
    return parse_trial(tomllib.loads(trial_toml({"T": "csv8"})))


def test_map_extract_row_failures_and_dtypes():
    trial = _trial()
    spec = trial.extracts["T"]["prescriptions"]
    spec = ExtractSpec(**{**spec.__dict__, "decimal": ","})
    data = pd.DataFrame(
        {
            "NHSNO": ["943 476 5919", "943-476-5919", "", "9434765919", "9434765919"],
            "DRUG": ["olanzapine", "olanzapine", "olanzapine", "olanzapine", "olanzapine"],
            "DOSE": ["10,5", "abc", "5", "inf", "7"],
            "RXSTART": ["2024-01-01", "2024-01-01", "2024-01-01", "2024-01-01", "2024-02-30"],
            "RXEND": [None, "", " ", None, None],
        },
        index=pd.Index([1, 2, 3, 5, 6], name="source_row"),
    )
    malformed = pd.DataFrame(
        {"source_row": pd.Series([4], dtype="int64"), "raw_text": ["bad,line"], "message": ["x"]}
    )
    m = map_extract(RawExtract("t/rx.csv", data, malformed, 6), spec, trial)
    f = m.frame
    assert f["source_row"].tolist() == [1, 2, 3, 5, 6]
    assert f["nhs_number"].tolist()[:2] == ["9434765919", "9434765919"]
    assert f["daily_dose_mg"].dtype == "float64" and f["daily_dose_mg"].iloc[0] == 10.5
    assert f["end_date"].dtype == "datetime64[ns]" and f["end_date"].isna().all()
    assert tuple(m.failures.columns) == FAILURE_COLUMNS
    got = sorted(
        zip(
            m.failures["source_row"],
            m.failures["rule"],
            m.failures["field"].fillna("-"),
            strict=False,
        )
    )
    assert got == [
        (2, "invalid_value", "daily_dose_mg"),
        (3, "missing_value", "nhs_number"),
        (4, "malformed_line", "-"),
        (5, "invalid_value", "daily_dose_mg"),
        (6, "impossible_date", "start_date"),
    ]
    assert m.failed_rows.tolist() == [2, 3, 4, 5, 6]
    assert (m.failures["severity"] == "error").all()
    row2 = m.failures[m.failures["source_row"] == 2].iloc[0]
    assert (
        row2["value"] == "abc" and "daily_dose_mg (DOSE) 'abc' is not a number" in row2["message"]
    )


def test_numeric_nhs_numbers_get_their_leading_zero_back():
    # SPSS/Stata/SAS/Excel store an NHS number as a number, so 012 345 6789 (valid by
    # modulus 11) arrives as 123456789.0; text columns are left exactly as written.
    trial = _trial()
    spec = trial.extracts["T"]["prescriptions"]
    rows = pd.Index([1, 2, 3], name="source_row")
    base = {
        "DRUG": ["olanzapine"] * 3,
        "DOSE": ["10"] * 3,
        "RXSTART": ["2024-01-01"] * 3,
        "RXEND": [None] * 3,
    }
    numeric = pd.DataFrame({"NHSNO": [123456789.0, 9434765919.0, np.nan], **base}, index=rows)
    empty = pd.DataFrame(
        {"source_row": pd.Series([], dtype="int64"), "raw_text": [], "message": []}
    )
    m = map_extract(RawExtract("t/rx.sav", numeric, empty, 3), spec, trial)
    assert m.frame["nhs_number"].tolist()[:2] == ["0123456789", "9434765919"]
    assert is_valid_nhs_number(m.frame["nhs_number"].iloc[0])
    text = pd.DataFrame({"NHSNO": ["123456789", "9434765919", None], **base}, index=rows)
    m = map_extract(RawExtract("t/rx.csv", text, empty, 3), spec, trial)
    assert m.frame["nhs_number"].iloc[0] == "123456789"  # as written: queried as invalid
