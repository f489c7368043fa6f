"""Hypothesis over mapping: any column a reader can give (text, numbers, datetimes of any
unit, Excel's mixed cells, value-label categories) maps without an exception; every
problem is a row failure with a rule code; and what is accepted is right.

Strategies (counts printed at the end of the module, see ``fuzz_support``):

- ``mapped_columns``: every table, every dialect's extract spec, each mapped column
  in a random representation. Dates are drawn from the whole 0001-9999 range (with
  the edges 1900-01-01, the cut-off, and the 1677/2262 limits of nanosecond
  datetimes) and rendered as text in the extract's format, text in another format,
  numbers (days or seconds since the format's origin), datetimes of unit s/ms/us/ns,
  or Python date/datetime cells; doses as numbers, text with the extract's decimal
  separator or the other one, dates where a number is expected, inf and NaN. An
  oracle written with Python's ``datetime`` says which date each cell must give,
  or that it must be quarantined as ``impossible_date``.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from odtrial.data.mapping import map_extract
from odtrial.data.readers import RawExtract
from odtrial.synth.tables import ECONOMICS_TABLES, table_specs
from odtrial.trial import ExtractSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_support import (  # noqa: F401  (fuzz_summary: module fixture)
    FUZZ,
    check_mapped,
    fuzz_summary,
    make_trial,
    tried,
)

_SPECS = table_specs()
MAPPED = {t: s.fields for t, s in _SPECS.items()}
# the clinical tables the test kit writes (not the health economics')
SITE_TABLES = tuple(t for t in _SPECS if t not in ECONOMICS_TABLES)

_DIALECTS = {"A": "csv8", "B": "csv1252", "E": "excel", "S": "sav", "D": "dta", "X": "xpt"}
_TRIAL = make_trial(_DIALECTS)
_CUTOFF = _TRIAL.data_cutoff
_ORIGIN = {
    "excel-serial": (dt.datetime(1899, 12, 30), 86_400),
    "sas-days": (dt.datetime(1960, 1, 1), 86_400),
    "spss-seconds": (dt.datetime(1582, 10, 14), 1),
}
_EDGES = [
    dt.date(1899, 12, 31),
    dt.date(1900, 1, 1),
    _CUTOFF,
    _CUTOFF + dt.timedelta(days=1),
    dt.date(1677, 9, 21),
    dt.date(1677, 9, 22),
    dt.date(2262, 4, 11),
    dt.date(2262, 4, 12),
    dt.date(2600, 1, 1),  # became 2015-06-13 before the fix
    dt.date(1423, 5, 5),  # became 2007-11-22 before the fix
    dt.date(1, 1, 1),
    dt.date(9999, 12, 31),
]
_dates = st.one_of(
    st.dates(dt.date(1890, 1, 1), dt.date(2030, 12, 31)),
    st.dates(),
    st.sampled_from(_EDGES),
)
_junk = st.one_of(
    st.text(max_size=8),
    st.sampled_from(
        ["", " ", "NaT", "nan", "None", "31/02/2024", "2024-02-30", "0", "-1", "1e400"]
    ),
)


def _in_range(d: dt.date) -> bool:
    return dt.date(1900, 1, 1) <= d <= _CUTOFF


def _text(d: dt.date, fmt: str) -> str:
    """``d`` written the way ``fmt`` reads it (zero-padded four-digit years)."""
    if fmt == "%d/%m/%Y":
        return f"{d.day:02d}/{d.month:02d}/{d.year:04d}"
    if fmt in _ORIGIN:
        return repr(_number(d, fmt, 0.25))
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"  # %Y-%m-%d and native (ISO)


def _other_text(d: dt.date, fmt: str) -> str:
    """``d`` written in a format ``fmt`` does not read."""
    if fmt in ("%Y-%m-%d", "native"):
        return f"{d.day:02d}/{d.month:02d}/{d.year:04d}"
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


def _number(d: dt.date, fmt: str, frac: float) -> float:
    """Days (or seconds) since the origin of a numeric ``fmt``, plus a part of a day."""
    origin, per = _ORIGIN[fmt]
    whole = (dt.datetime(d.year, d.month, d.day) - origin).total_seconds() / per
    return float(whole + (frac if per > 1 else frac * 86_399 // 1))


@st.composite
def _date_column(draw, fmt: str, n: int):
    """(values, dtype, expected) for a date field: expected per row is the date the
    cell must give, None (present but impossible), "missing", or "?" (no oracle)."""
    numeric = fmt in _ORIGIN
    kind = draw(st.sampled_from(["text", "float", "dt64", "object"]))
    values: list = []
    expected: list = []
    for _ in range(n):
        d = draw(_dates)
        ok = d if _in_range(d) else None
        choice = draw(st.integers(0, 9))
        if choice == 0:
            values.append(None)
            expected.append("missing")
        elif kind == "text":
            r = draw(st.sampled_from(["fmt", "fmt", "fmt", "other", "partial", "junk"]))
            if r == "fmt":
                values.append(_text(d, fmt))
                expected.append(ok)
            elif r == "other":
                values.append(_other_text(d, fmt))
                expected.append(None)
            elif r == "partial" and not numeric:  # incomplete, zoned or a time: no date
                iso = _text(d, "native")
                values.append(draw(st.sampled_from([iso[:4], iso[:7], f"{iso}T10:00+05:00"])))
                expected.append(None)
            else:
                v = draw(_junk)
                values.append(v)
                expected.append("missing" if not v.strip() else "?")
        elif kind == "float":
            if numeric:
                values.append(_number(d, fmt, draw(st.floats(0, 0.999))))
                expected.append(ok)
            else:  # a number where a text date is expected
                values.append(float(draw(st.integers(-(10**6), 10**6))))
                expected.append(None)
        elif kind == "dt64":
            values.append(d)
            expected.append(ok)
        else:  # Excel's mixed cells
            r = draw(
                st.sampled_from(["datetime", "date", "zoned", "time", "number", "text", "junk"])
            )
            if r in ("datetime", "date"):
                values.append(dt.datetime(d.year, d.month, d.day, 13) if r == "datetime" else d)
                expected.append(ok)
            elif r == "zoned":  # the calendar date of the wall-clock time counts
                tz = dt.timezone(dt.timedelta(hours=draw(st.integers(-12, 14))))
                values.append(dt.datetime(d.year, d.month, d.day, 23, tzinfo=tz))
                expected.append(ok)
            elif r == "time":  # a time of day is no date
                values.append(dt.time(12, 30))
                expected.append(None)
            elif r == "number":
                if numeric:
                    values.append(_number(d, fmt, 0.5))
                    expected.append(ok)
                else:
                    values.append(draw(st.integers(-(10**6), 10**6)))
                    expected.append(None)
            elif r == "text":
                values.append(_text(d, fmt))
                expected.append(ok)
            else:
                v = draw(_junk)
                values.append(v)
                expected.append("missing" if not v.strip() else "?")
    if kind == "dt64":
        unit = draw(st.sampled_from(["s", "ms", "us"]))
        arr = np.array(
            [np.datetime64("NaT") if v is None else np.datetime64(v, "D") for v in values],
            dtype=f"datetime64[{unit}]",
        )
        return pd.Series(arr), expected
    if kind == "float":
        return pd.Series([np.nan if v is None else v for v in values], dtype="float64"), expected
    if kind == "text":
        return pd.Series(values, dtype="str"), expected
    return pd.Series(values, dtype=object), expected


_finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


@st.composite
def _number_column(draw, decimal: str, n: int):
    """(values, expected) for a float field: a float, None (invalid), "missing" or "?"."""
    kind = draw(st.sampled_from(["text", "float", "object"]))
    values: list = []
    expected: list = []
    for _ in range(n):
        x = draw(_finite)
        r = draw(st.integers(0, 9))
        if r == 0:
            values.append(None)
            expected.append("missing")
        elif kind == "float":
            v = draw(st.one_of(st.just(x), st.sampled_from([np.inf, -np.inf])))
            values.append(v)
            expected.append(v if np.isfinite(v) else None)
        elif kind == "text":
            s = repr(x)
            other = "," if decimal == "." else "."
            choice = draw(st.sampled_from(["own", "own", "other", "junk"]))
            if choice == "own":
                values.append(s.replace(".", decimal))
                expected.append(x)
            elif choice == "other":  # the other separator: never read as this one
                values.append(s.replace(".", other))
                expected.append(None if "." in s else x)
            else:
                v = draw(_junk)
                values.append(v)
                expected.append("missing" if not v.strip() else "?")
        else:
            choice = draw(st.sampled_from(["number", "date", "bool", "text"]))
            if choice == "number":
                values.append(x)
                expected.append(x)
            elif choice == "date":  # a date where a number is expected
                values.append(dt.datetime(2024, 1, 2))
                expected.append(None)
            elif choice == "bool":
                values.append(True)
                expected.append(None)
            else:
                values.append(repr(x).replace(".", decimal))
                expected.append(x)
    if kind == "float":
        return pd.Series([np.nan if v is None else v for v in values], dtype="float64"), expected
    if kind == "text":
        return pd.Series(values, dtype="str"), expected
    return pd.Series(values, dtype=object), expected


_other_cell = st.one_of(
    st.none(),
    st.text(max_size=10),
    st.integers(-3, 30),
    st.floats(),
    st.booleans(),
    st.sampled_from(
        ["M", "F", "1", "2", "Male", "Y", "N", "J", "INF", "S2", "12", "24", "olanzapine"]
    ),
)


@st.composite
def _extract(draw):
    trust = draw(st.sampled_from(sorted(_DIALECTS)))
    table = draw(st.sampled_from(SITE_TABLES))
    spec = _TRIAL.extracts[trust][table]
    n = draw(st.integers(0, 20))
    cols: dict[str, pd.Series] = {}
    oracle: dict[str, list] = {}
    for f in MAPPED[table]:
        src = spec.columns[f.name]
        if f.kind == "date":
            cols[src], oracle[f.name] = draw(_date_column(spec.date_format, n))
        elif f.kind == "float":
            cols[src], oracle[f.name] = draw(_number_column(spec.decimal, n))
        else:
            kind = draw(st.sampled_from(["str", "object", "float", "category"]))
            vals = draw(st.lists(_other_cell, min_size=n, max_size=n))
            if kind == "str":
                s = pd.Series([None if v is None else str(v) for v in vals], dtype="str")
            elif kind == "float":
                s = pd.Series(
                    [v if isinstance(v, float) else np.nan for v in vals], dtype="float64"
                )
            elif kind == "category":  # SPSS/Stata value labels
                s = pd.Series([None if v is None else str(v) for v in vals], dtype="category")
            else:
                s = pd.Series(vals, dtype=object)
            cols[src] = s
    # Malformed lines leave gaps in source_row.
    gaps = draw(st.lists(st.integers(1, n + 3), max_size=3, unique=True))
    rows = [r for r in range(1, n + 1 + len(gaps)) if r not in set(gaps)][:n]
    bad = sorted(set(range(1, (rows[-1] if rows else 0) + 1)) - set(rows))
    data = pd.DataFrame(cols)
    data.index = pd.Index(rows, dtype="int64", name="source_row")
    malformed = pd.DataFrame(
        {
            "source_row": pd.Series(bad, dtype="int64"),
            "raw_text": pd.Series(["x"] * len(bad), dtype="string"),
            "message": pd.Series(["line has 1 fields, expected 2"] * len(bad), dtype="string"),
        }
    )
    raw = RawExtract(f"{trust.lower()}/{table}.x", data, malformed, len(rows) + len(bad))
    return spec, raw, oracle


@settings(FUZZ, max_examples=80)
@given(case=_extract())
def test_mapped_columns(case):
    spec, raw, oracle = case
    m = check_mapped(raw, spec, _TRIAL)
    fails = {(int(r), f): rule for r, f, rule in m.failures[["source_row", "field", "rule"]].values}
    for name, expected in oracle.items():
        fld = next(f for f in MAPPED[spec.table] if f.name == name)
        got = m.frame[name].tolist()
        for row, want, have in zip(raw.data.index.tolist(), expected, got, strict=True):
            rule = fails.get((row, name))
            if want == "?":
                continue
            if want == "missing":
                assert pd.isna(have), (row, name, have)
                assert rule == ("missing_value" if fld.required else None), (row, name, rule)
            elif want is None:
                assert pd.isna(have), (row, name, have)
                assert rule == ("impossible_date" if fld.kind == "date" else "invalid_value")
            elif fld.kind == "date":
                assert have == pd.Timestamp(want), (row, name, raw.data.iloc[:, 0], have, want)
                assert rule is None
            else:
                assert have == want and rule is None, (row, name, have, want, rule)
    tried(__name__, "mapped_columns", "quarantine" if len(m.failed_rows) else "clean")


# ------------------------------------------ what the fuzzing found, pinned
def _map(values, spec_kw: dict, dtype=None, table="crisis_referrals"):
    spec = _TRIAL.extracts["A"][table]
    spec = ExtractSpec(**{**spec.__dict__, **spec_kw})
    src = spec.columns["referral_date" if table == "crisis_referrals" else "daily_dose_mg"]
    n = len(values)
    data = pd.DataFrame({c: ["9434765919"] * n for c in spec.columns.values()})
    data[src] = pd.Series(values, dtype=dtype)
    data.index = pd.Index(range(1, n + 1), name="source_row")
    raw = RawExtract(
        "a/x.csv", data, pd.DataFrame(columns=["source_row", "raw_text", "message"]), n
    )
    return map_extract(raw, spec, _TRIAL)


def test_dates_past_nanosecond_range_are_impossible_not_wrapped():
    # Cast to nanoseconds, 2600-01-01 wrapped to 2015-06-13 and 1423-05-05 to 2007-11-22:
    # both were accepted as real dates.
    m = _map(["01/01/2600", "05/05/1423", "02/01/2024"], {"date_format": "%d/%m/%Y"})
    assert m.frame["referral_date"].tolist()[:2] == [pd.NaT, pd.NaT]
    assert m.frame["referral_date"].iloc[2] == pd.Timestamp("2024-01-02")
    assert m.failures["rule"].tolist() == ["impossible_date", "impossible_date"]
    assert re.match(
        r"referral_date \(REFDATE\) '01/01/2600' is not a possible date \(format %d/%m/%Y",
        m.failures["message"].iloc[0],
    )
    # SPSS/Stata/SAS dates come in microseconds; 2262-04-12 and 1093-03-04 wrapped to just
    # past the nanosecond minimum and the ingest died in "Cannot normalize Timestamp".
    native = np.array(
        ["2600-01-01", "1423-05-05", "2262-04-12", "1093-03-04", "9999-12-31T23:00", "2024-01-02"],
        "M8[us]",
    )
    m = _map(native, {"date_format": "native"})
    assert m.frame["referral_date"].isna().tolist() == [True] * 5 + [False]
    assert set(m.failures["rule"]) == {"impossible_date"} and len(m.failures) == 5
    m = _map([-199_999.0, 199_999.0, 23_376.0], {"date_format": "sas-days"})
    assert m.frame["referral_date"].isna().tolist() == [True, True, False]  # was 1996, 1923


def test_decimal_comma_does_not_read_a_point():
    m = _map(["1,5", "1.200", "7"], {"decimal": ","}, table="prescriptions")
    assert m.frame["daily_dose_mg"].tolist()[::2] == [1.5, 7.0]
    bad = m.failures[m.failures["field"] == "daily_dose_mg"]
    assert bad["source_row"].tolist() == [2]
    assert re.match(
        r"daily_dose_mg \(DOSE\) '1\.200' is not a number \(the decimal separator is ','\)$",
        bad["message"].iloc[0],
    )
    # Excel number cells are numbers whatever the text decimal separator
    m = _map([1.5, "2,5", 3], {"decimal": ","}, dtype=object, table="prescriptions")
    assert m.frame["daily_dose_mg"].tolist() == [1.5, 2.5, 3.0]


def test_native_text_dates_are_whole_iso_dates():
    # pandas' ISO8601 parser completed "2024" and "2024-03" to the 1st, and one UTC
    # offset in a column raised "Mixed timezones detected" out of the ingest.
    m = _map(
        ["2024", "2024-03", "2024-01-02T10:00:00+05:00", "2024-01-03", "2024-01-04 10:11"],
        {"date_format": "native"},
        dtype=object,
    )
    got = m.frame["referral_date"].tolist()
    assert got[:3] == [pd.NaT] * 3 and got[3:] == [
        pd.Timestamp("2024-01-03"),
        pd.Timestamp("2024-01-04"),
    ]
    assert re.match(
        r"referral_date \(REFDATE\) '2024' is not a possible date \(native, between",
        m.failures["message"].iloc[0],
    )
    zoned = dt.datetime(2024, 1, 2, 23, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    m = _map(
        [zoned, dt.datetime(2024, 1, 3), dt.time(12, 30)], {"date_format": "native"}, dtype=object
    )
    assert m.frame["referral_date"].tolist()[:2] == [
        pd.Timestamp("2024-01-02"),
        pd.Timestamp("2024-01-03"),
    ]
    assert m.failures["source_row"].tolist() == [3]
