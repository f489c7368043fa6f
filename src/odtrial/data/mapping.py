"""Mapping: a raw extract -> a canonical "mapped" frame plus row-level failures.

Columns are renamed source -> canonical with ``ExtractSpec.columns``, values
converted to their canonical types, dates parsed with the extract's date
format, and codes mapped onto the vocabularies. Problems with single cells
never stop the ingest: they become failures (rule codes ``missing_value``,
``invalid_value``, ``impossible_date``, ``out_of_vocabulary``, and
``malformed_line`` for CSV lines that could not be split), and the row is
quarantined by the caller. All conversions are vectorised; code look-ups are
computed once per distinct value.

A date is accepted only if it is a real date in 1900-01-01..data cut-off, whatever
its representation (text, days or seconds since an origin, a datetime of any
unit): dates are worked out in microseconds and range-checked before they become
the canonical nanosecond datetimes, so none wraps around into the accepted range.
With a decimal comma, a number holding a "." is invalid (a thousands separator or
a slip: "1.200" is not guessed to be 1.2 or 1200).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, cast

import numpy as np
import pandas as pd

from odtrial.data.canonical import PROVENANCE, Field, TableSpec
from odtrial.data.catalogue import FAILURE_COLUMNS, RULES
from odtrial.data.catalogue import empty_failures as _empty_failures
from odtrial.data.masking import map_unique
from odtrial.data.readers import RawExtract
from odtrial.errors import ConfigError
from odtrial.trial import ExtractSpec, Trial

EARLIEST_DATE: Final = pd.Timestamp("1900-01-01")
_SEPARATORS: Final = re.compile(r"[\s\-]")

# date_format -> (origin, unit) for dates stored as numbers
_NUMERIC_DATES: Final = {
    "excel-serial": (pd.Timestamp("1899-12-30"), "D"),
    "sas-days": (pd.Timestamp("1960-01-01"), "D"),
    "spss-seconds": (pd.Timestamp("1582-10-14"), "s"),
}
# Beyond these magnitudes a numeric date cannot be in 1900..cut-off anyway;
# clipping keeps the microsecond arithmetic far from int64 overflow.
_NUMERIC_LIMIT: Final = {"D": 200_000.0, "s": 200_000.0 * 86_400}
_US_PER: Final = {"D": 86_400_000_000, "s": 1_000_000}
# Dates are computed in microseconds (Python's whole 1..9999 range) and cast to the
# canonical nanoseconds only once they are known to lie in 1900..cut-off: a cast of
# a date outside 1677..2262 to nanoseconds wraps around silently (3000-01-01 becomes
# 1830-11-23, 2600-01-01 becomes 2015-06-13).
_UNIT: Final = "datetime64[us]"
_ISO_DATE: Final = r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"


@dataclass(frozen=True)
class MappedExtract:
    """One file after mapping.

    Attributes
    ----------
    frame
        Every record that could be split into fields: provenance + every
        canonical field of the table (failed cells are missing).
    failures
        One row per failed cell or malformed line (columns :data:`FAILURE_COLUMNS`).
    failed_rows
        ``source_row`` of every record with at least one failure.
    rows_read
        Records in the file.
    """

    frame: pd.DataFrame
    failures: pd.DataFrame
    failed_rows: np.ndarray
    rows_read: int


def repeat_string(value: str, n: int) -> pd.Series:
    """A string column holding ``value`` n times (built in Arrow: no Python objects per row)."""
    import pyarrow as pa

    arr = pa.array([value], type=pa.large_string()).take(pa.array(np.zeros(n, dtype=np.int64)))
    return pd.Series(pd.arrays.ArrowStringArray(arr))


def empty_failures() -> pd.DataFrame:
    """A failures frame with no rows and the canonical columns and dtypes."""
    return _empty_failures("int64")


def map_extract(raw: RawExtract, spec: ExtractSpec, trial: Trial) -> MappedExtract:
    """Map one raw extract onto its canonical table.

    Parameters
    ----------
    raw
        The file as read (:func:`odtrial.data.readers.read_extract`).
    spec
        Its extract specification (column and code mappings, date format).
    trial
        The trial (data cut-off for impossible dates, visit schedule, and
        medication dictionary: brand names become its generic names).
    """
    check_formats(spec)
    table = spec.table
    declared = trial.tables[table]
    n = len(raw.data)
    out: dict[str, Any] = {
        "trust": repeat_string(spec.trust, n),
        "source_file": repeat_string(raw.path, n),
        "source_row": pd.Series(raw.data.index.to_numpy(dtype=np.int64), dtype="int64"),
    }
    fails: list[pd.DataFrame] = []
    cutoff = pd.Timestamp(trial.data_cutoff)
    for f in declared.fields:
        if f.name in spec.constants:
            col = pd.Series([spec.constants[f.name]] * n, dtype=object)
        elif f.name in spec.columns:
            col = raw.data[spec.columns[f.name]].reset_index(drop=True)
        else:
            out[f.name] = _missing_column(f, n)
            continue
        values, rule, shown = _convert(col, f, spec, cutoff, trial)
        out[f.name] = values
        if rule is not None and pd.notna(rule).any():
            idx = np.flatnonzero(pd.notna(rule))
            fails.append(
                _failures(
                    table,
                    spec.trust,
                    raw.path,
                    out["source_row"].to_numpy()[idx],
                    f.name,
                    shown.iloc[idx],
                    rule[idx],
                    spec,
                    f,
                )
            )
    frame = pd.DataFrame(out, columns=[*PROVENANCE, *declared.names])
    if len(raw.malformed):
        m = raw.malformed
        fails.append(
            pd.DataFrame(
                {
                    "table": table,
                    "trust": spec.trust,
                    "source_file": raw.path,
                    "source_row": m["source_row"].to_numpy(dtype=np.int64),
                    "field": pd.NA,
                    "value": m["raw_text"].to_numpy(),
                    "rule": "malformed_line",
                    "severity": RULES["malformed_line"].severity,
                    "message": m["message"].to_numpy(),
                }
            )
        )
    failures = _concat_failures(fails)
    failed_rows = np.unique(failures["source_row"].to_numpy(dtype=np.int64))
    return MappedExtract(frame, failures, failed_rows, raw.rows_read)


def check_formats(spec: ExtractSpec) -> None:
    """ConfigError unless the extract's date format and decimal separator are usable.

    A strftime pattern with a bad directive ("%Q") would make pandas raise for the
    whole column; a decimal separator must be one character that is not part of a
    number ("" would put a "." between every character).
    """
    key = f"extracts.{spec.trust}.{spec.table}"
    fmt = spec.date_format
    if fmt != "native" and fmt not in _NUMERIC_DATES:
        try:
            pd.to_datetime(pd.Series(["2000-01-01"], dtype=object), format=fmt, errors="coerce")
        except ValueError as e:
            raise ConfigError(
                f"key '{key}.date_format' is {fmt!r}, not a usable pattern ({e})"
            ) from None
    d = spec.decimal
    if len(d) != 1 or d.isalnum() or d.isspace() or d in "+-":
        raise ConfigError(
            f"key '{key}.decimal' is {d!r}: it must be one character such as '.' or ','"
        )


def _concat_failures(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return empty_failures()
    df = pd.concat(parts, ignore_index=True)
    df = df.astype({c: "string" for c in FAILURE_COLUMNS if c != "source_row"})
    df["source_row"] = df["source_row"].astype("int64")
    return df.loc[:, list(FAILURE_COLUMNS)].sort_values(["source_row", "field"], kind="stable")


_RULE_TEXT: Final = {
    "missing_value": "{label} is required but empty",
    "invalid_value": "{label} {value!r} is not a number{dec}",
    "impossible_date": "{label} {value!r} is not a possible date ({why})",
    "out_of_vocabulary": "{label} {value!r} has no mapping to a canonical {vocab} code",
}


def _failures(
    table: str,
    trust: str,
    path: str,
    rows: np.ndarray,
    field: str,
    shown: pd.Series,
    rule: np.ndarray,
    spec: ExtractSpec,
    f: Field,
) -> pd.DataFrame:
    source = spec.columns.get(field)
    label = f"{field} ({source})" if source is not None else f"{field} (constant)"
    why_date = (
        f"format {spec.date_format}, between 1900-01-01 and the data cut-off"
        if "%" in spec.date_format
        else f"{spec.date_format}, between 1900-01-01 and the data cut-off"
    )
    dec = f" (the decimal separator is {spec.decimal!r})" if spec.decimal != "." else ""
    msgs = [
        _RULE_TEXT[r].format(label=label, value=v, why=why_date, vocab=f.vocab, dec=dec)
        for r, v in zip(rule.tolist(), shown.fillna("").tolist(), strict=True)
    ]
    rules = rule.tolist()
    return pd.DataFrame(
        {
            "table": table,
            "trust": trust,
            "source_file": path,
            "source_row": rows,
            "field": field,
            "value": shown.fillna("").to_numpy(),
            "rule": rules,
            "severity": [RULES[r].severity for r in rules],
            "message": msgs,
        }
    )


def _missing_column(f: Field, n: int) -> pd.Series:
    """An unmapped optional field: all missing, with its canonical dtype."""
    return pd.Series(pd.array([None] * n, dtype=_dtype(f)))


def _dtype(f: Field) -> Any:
    if f.kind == "date":
        return "datetime64[ns]"
    if f.kind == "float":
        return "float64"
    if f.kind == "int":
        return "Int64"
    if f.kind == "bool" or f.vocab == "yes_no":
        return "boolean"
    if f.vocab == "visit":
        return "Int64"
    return "string"


# --------------------------------------------------------------- converters
Converted = tuple[pd.Series, np.ndarray | None, pd.Series]


def _convert(
    col: pd.Series, f: Field, spec: ExtractSpec, cutoff: pd.Timestamp, trial: Trial
) -> Converted:
    """(canonical values, rule code per row or NA, the raw value as text); codes
    map onto the trial's vocabularies (:meth:`odtrial.trial.Trial.vocabulary`)."""
    if f.kind == "date":
        values, bad, text = parse_dates(col, spec.date_format, cutoff=cutoff)
        rule = _rules(bad, "impossible_date")
    elif f.kind in ("float", "int"):
        text = as_text(col)
        values, bad = _parse_number(col, text, spec.decimal, integer=f.kind == "int")
        rule = _rules(bad, "invalid_value")
    elif f.kind == "code":
        text = as_text(col)
        values, bad = map_codes(text, f, spec, trial=trial)
        rule = _rules(bad, "out_of_vocabulary")
    else:
        text = as_text(col)
        if f.nhs:  # NHS numbers are written 3-3-4 or with dashes
            text = map_unique(text, lambda v: _SEPARATORS.sub("", v) or None)
            if pd.api.types.is_numeric_dtype(col.dtype):
                # a number column (SPSS, Stata, SAS, Excel) cannot keep a leading zero:
                # restore the 10 digits; the check digit still decides validity
                text = map_unique(text, lambda v: v.zfill(10) if v.isdigit() else v)
        values, rule = text, None
    present = text.notna()
    if f.required:
        missing = ~present.to_numpy(dtype=bool)
        if missing.any():
            base = np.full(len(missing), None, dtype=object) if rule is None else rule
            rule = np.where(missing, "missing_value", base)
    return values, rule, text


def _rules(bad: np.ndarray, code: str) -> np.ndarray:
    """Rule code where ``bad``, None elsewhere (object array)."""
    arr = np.full(len(bad), None, dtype=object)
    arr[bad] = code
    return arr


def as_text(col: pd.Series) -> pd.Series:
    """Source values as stripped text (pandas string dtype, NA for missing/empty).

    Integer-valued floats (how SPSS/Stata/SAS store codes) print as ``"1"``,
    not ``"1.0"``; value labels applied by the reader are text already.

    Examples
    --------
    >>> as_text(pd.Series([1.0, 2.5, None, " x "], dtype=object)).tolist()
    ['1', '2.5', <NA>, 'x']
    """
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = as_text(pd.Series(col.cat.categories, dtype=object))
        codes = col.cat.codes.to_numpy()
        arr = np.array([None if v is pd.NA else v for v in cats], dtype=object)  # few: labels
        vals = np.full(len(codes), None, dtype=object)
        vals[codes >= 0] = arr[codes[codes >= 0]]
        out = pd.Series(vals, dtype="string")
    elif pd.api.types.is_bool_dtype(col.dtype):
        out = col.astype("string")
    elif pd.api.types.is_integer_dtype(col.dtype):
        out = col.astype("Int64").astype("string")
    elif pd.api.types.is_float_dtype(col.dtype):
        out = _float_text(col.to_numpy(dtype=np.float64, na_value=np.nan))
    elif pd.api.types.is_datetime64_any_dtype(col.dtype):
        out = col.dt.strftime("%Y-%m-%d").astype("string")
    elif pd.api.types.is_string_dtype(col.dtype) and not pd.api.types.is_object_dtype(col.dtype):
        out = col.astype("string").str.strip()
    else:
        uniq = pd.unique(col.to_numpy(dtype=object))
        table = {u: _one_text(u) for u in uniq if not _is_na(u)}
        out = pd.Series(col.to_numpy(dtype=object)).map(table).astype("string")
    out = out.reset_index(drop=True)
    return out.mask(out == "")


def _is_na(v: object) -> bool:
    try:
        return bool(pd.isna(cast(Any, v)))
    except (TypeError, ValueError):
        return False


def _is_number(v: object) -> bool:
    return isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_)


def _as_float(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except OverflowError:  # an int beyond float range
        return np.inf


def _one_text(v: object) -> str:
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, float | np.floating):
        fv = float(v)
        return str(int(fv)) if np.isfinite(fv) and fv.is_integer() and abs(fv) < 1e18 else str(fv)
    if isinstance(v, datetime | pd.Timestamp):
        return v.strftime("%Y-%m-%d") if v == v.replace(hour=0, minute=0, second=0) else str(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace").strip()
    return str(v).strip()


def _float_text(x: np.ndarray) -> pd.Series:
    out = np.full(x.shape, None, dtype=object)
    fin = np.isfinite(x)
    whole = fin & (np.abs(x) < 1e18)
    whole[whole] = x[whole] == np.floor(x[whole])
    out[whole] = x[whole].astype(np.int64).astype(str)
    other = ~whole & ~np.isnan(x)
    if other.any():
        out[other] = [str(v) for v in x[other]]
    return pd.Series(out, dtype="string")


def _parse_number(
    col: pd.Series, text: pd.Series, decimal: str, *, integer: bool
) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        num = pd.Series(col.to_numpy(dtype=np.float64, na_value=np.nan))
    else:
        t = text
        if decimal != ".":
            # With a decimal comma a "." is a thousands separator or a slip: "1.200" is
            # 1200 or 1.2, so it is no number rather than a guess.
            t = text.mask(text.str.contains(".", regex=False).fillna(False))
            t = t.str.replace(decimal, ".", regex=False)
        num = pd.to_numeric(t.astype(object), errors="coerce").astype("float64")
        num = pd.Series(num.to_numpy(), dtype="float64")
        if pd.api.types.is_object_dtype(col.dtype):  # Excel: number cells are numbers already
            obj = col.to_numpy(dtype=object)
            for i in np.flatnonzero([_is_number(v) for v in obj]):
                num.iat[int(i)] = _as_float(obj[i])
    x = num.to_numpy(dtype=np.float64)
    present = text.notna().to_numpy(dtype=bool)
    bad = present & ~np.isfinite(x)
    if integer:
        bad = bad | (present & np.isfinite(x) & (x != np.floor(np.nan_to_num(x))))
    x = np.where(bad | ~present, np.nan, x)
    if integer:
        return pd.Series(x).astype("Int64"), bad
    return pd.Series(x, dtype="float64"), bad


# -------------------------------------------------------------------- dates
def parse_dates(
    col: pd.Series, fmt: str, *, cutoff: pd.Timestamp
) -> tuple[pd.Series, np.ndarray, pd.Series]:
    """Parse a column of dates in an extract's date format.

    Returns the dates (``datetime64[ns]`` at midnight, NaT when missing or
    bad), the mask of present-but-impossible values (unparseable,
    non-existent such as 31/02/2024, before 1900-01-01 or after ``cutoff``),
    and the raw values as text.
    """
    col = col.reset_index(drop=True)
    text = as_text(col)
    present = text.notna().to_numpy(dtype=bool)
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        dt = _to_us(col)
    elif fmt in _NUMERIC_DATES:
        dt = _numeric_dates(col, text, fmt)
    elif pd.api.types.is_object_dtype(col.dtype):
        dt = _mixed_dates(col, text, fmt)
    else:
        dt = _text_dates(text, fmt)
    dt = pd.Series(dt.to_numpy(), dtype=_UNIT).dt.normalize()
    ok = (
        dt.notna().to_numpy(dtype=bool)
        & (dt >= EARLIEST_DATE).to_numpy(dtype=bool)
        & (dt <= cutoff).to_numpy(dtype=bool)
    )
    bad = present & ~ok
    return dt.mask(~ok).astype("datetime64[ns]"), bad, text


def _to_us(dt: pd.Series) -> pd.Series:
    """Datetimes (any unit, tz-naive) in microseconds, NaT where a value does not fit."""
    if isinstance(dt.dtype, pd.DatetimeTZDtype):  # a zone has no meaning for a calendar date
        dt = dt.dt.tz_localize(None)
    try:
        return dt.astype(_UNIT)  # pandas checks the bounds (numpy's cast would wrap)
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        lo, hi = pd.Timestamp.min.as_unit("us"), pd.Timestamp.max.as_unit("us")
        return dt.where((dt >= lo) & (dt <= hi)).astype(_UNIT)


def _text_dates(text: pd.Series, fmt: str) -> pd.Series:
    t = text.astype(object)
    if fmt == "native":
        # Text where the reader should have given dates: a whole ISO date, maybe with a
        # time of day. A bare "2024" or "2024-03" is no date (pandas would complete it
        # to the 1st), and an offset would make pandas refuse the whole column.
        full = text.str.fullmatch(_ISO_DATE).fillna(False).to_numpy(dtype=bool)
        t = text.str.slice(0, 10).where(full).astype(object)
        fmt = "%Y-%m-%d"
    if fmt in _NUMERIC_DATES:
        return _from_number(pd.to_numeric(t, errors="coerce"), fmt)
    try:
        parsed = pd.to_datetime(t, format=fmt, errors="coerce")
    except ValueError:  # mixed UTC offsets (a format with %z): cell by cell, local time
        parsed = pd.Series([_naive(pd.to_datetime(v, format=fmt, errors="coerce")) for v in t])
    return _to_us(pd.Series(parsed))


def _naive(v: Any) -> Any:
    """A datetime's wall-clock time without its zone (the calendar date is what counts)."""
    return v.replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo is not None else v


def _numeric_dates(col: pd.Series, text: pd.Series, fmt: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        return _from_number(pd.Series(col.to_numpy(dtype=np.float64, na_value=np.nan)), fmt)
    if pd.api.types.is_object_dtype(col.dtype):
        return _mixed_dates(col, text, fmt)
    return _text_dates(text, fmt)


def _from_number(num: pd.Series, fmt: str) -> pd.Series:
    """Days or seconds since the format's origin -> datetimes (us), NaT when out of range."""
    origin, unit = _NUMERIC_DATES[fmt]
    x = pd.to_numeric(num, errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(x) & (np.abs(x) <= _NUMERIC_LIMIT[unit])
    steps = np.where(ok, np.floor(np.where(ok, x, 0.0)), 0.0).astype(np.int64)
    out = origin.as_unit("us").to_datetime64() + (steps * _US_PER[unit]).astype("timedelta64[us]")
    out[~ok] = np.datetime64("NaT")
    return pd.Series(out, dtype=_UNIT)


def _mixed_dates(col: pd.Series, text: pd.Series, fmt: str) -> pd.Series:
    """Object columns (Excel): date cells as they are, numbers/text by ``fmt``."""
    obj = col.to_numpy(dtype=object)
    is_dt = np.fromiter(
        (isinstance(v, datetime | date) for v in obj), dtype=bool, count=len(obj)
    )  # Excel columns are small: a pass over cells is fine here
    out = pd.Series(np.full(len(obj), np.datetime64("NaT"), dtype=_UNIT))
    if is_dt.any():
        cells = pd.Series([_naive(v) for v in obj[is_dt]], dtype=object)
        out[is_dt] = _to_us(pd.Series(pd.to_datetime(cells, errors="coerce"))).to_numpy()
    rest = ~is_dt
    if rest.any():
        if fmt in _NUMERIC_DATES or fmt == "native":
            is_num = np.fromiter(
                (isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in obj),
                dtype=bool,
                count=len(obj),
            )
            if fmt in _NUMERIC_DATES:
                num_rows = rest & is_num
                if num_rows.any():
                    out[num_rows] = _from_number(
                        pd.Series(obj[num_rows].astype(np.float64)), fmt
                    ).to_numpy()
                rest = rest & ~is_num
        if rest.any():
            out[rest] = _text_dates(text[rest], fmt).to_numpy()
    return out


# -------------------------------------------------------------------- codes
def _canonical_lookup(f: Field, trial: Trial) -> Callable[[str], Any]:
    """text -> canonical value of ``f``'s vocabulary (the trial's; drugs: its
    medication dictionary's generic names), or None."""
    assert f.vocab is not None
    if f.vocab == "drug":
        # generic or brand name -> the medication dictionary's generic name
        from odtrial.data.drugs import DICTIONARY

        return (DICTIONARY if trial.medication is None else trial.medication).canonical_name
    by_text: dict[str, Any] = {}
    for v in trial.vocabulary(f.vocab):
        by_text[str(v).casefold()] = v
    return lambda t: by_text.get(t.casefold())


def _spec_codes(f: Field, spec: ExtractSpec, trial: Trial) -> Mapping[str, Any]:
    """The extract's code mapping for ``f``, each target resolved to a canonical value."""
    raw = spec.codes.get(f.name, {})
    if not raw:
        return {}
    canon = _canonical_lookup(f, trial)
    out: dict[str, Any] = {}
    for src, dst in raw.items():
        if f.vocab == "drug":
            # a target naming a brand becomes its generic; one the dictionary does
            # not know is kept lower-cased (validation warns unknown_drug)
            out[src] = canon(str(dst)) or str(dst).strip().lower()
            continue
        v = canon(str(dst).strip())
        if v is None:
            raise ConfigError(
                f"key 'extracts.{spec.trust}.{spec.table}.codes.{f.name}.{src}' maps to "
                f"{dst!r}, which is not in the {f.vocab} vocabulary"
            )
        out[src] = v
    return out


def map_codes(
    text: pd.Series, f: Field, spec: ExtractSpec, *, trial: Trial
) -> tuple[pd.Series, np.ndarray]:
    """Map source codes (as text) onto ``f``'s vocabulary in ``trial``: a declared
    one, ``yes_no`` (booleans), ``visit`` (the schedule's months) or ``drug`` (the
    generic names of the trial's medication dictionary).

    Returns the canonical values (dtype by vocabulary) and the mask of present
    values with no mapping (``out_of_vocabulary``). A drug not in the dictionary
    is kept, lower-cased (validation warns ``unknown_drug``).
    """
    codes = _spec_codes(f, spec, trial)
    canon = _canonical_lookup(f, trial)
    uniq = text.dropna().unique()
    table: dict[str, Any] = {}
    for u in uniq:
        if u in codes:
            table[u] = codes[u]
        else:
            v = canon(u)
            if v is None and f.vocab == "drug":
                v = u.strip().lower()
            if v is not None:
                table[u] = v
    mapped = text.map(table, na_action="ignore")
    bad = (text.notna() & mapped.isna()).to_numpy(dtype=bool)
    dtype = _dtype(f)
    if dtype == "boolean":
        values = pd.Series(pd.array(mapped.tolist(), dtype="boolean"))
    else:
        values = mapped.astype(dtype)
    return values, bad


def empty_mapped(spec: TableSpec) -> pd.DataFrame:
    """A mapped table with no records: provenance and the declared fields, typed."""
    out: dict[str, pd.Series] = {
        "trust": pd.Series([], dtype="string"),
        "source_file": pd.Series([], dtype="string"),
        "source_row": pd.Series([], dtype="int64"),
    }
    for f in spec.fields:
        out[f.name] = _missing_column(f, 0)
    return pd.DataFrame(out)
